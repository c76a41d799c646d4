/* Serial input: raw mode on a pseudo-terminal, device absent at start, unplugged and plugged
 * back in (a symlink standing for a udev name like /dev/gps0). */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#include "serial.h"

#include "error.h"
#include "log.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

struct ctx {
    uv_loop_t loop;
    struct buyt_serial *s;
    char got[256];
    size_t n;
    int opened, lost, last_err;
    bool freed;
};

static struct ctx c;
static char dir[64], link_path[128];

static void on_data(struct buyt_serial *s, const uint8_t *buf, size_t len, void *ud)
{
    (void)s;
    struct ctx *x = ud;
    cr_assert_leq(x->n + len, sizeof x->got);
    memcpy(x->got + x->n, buf, len);
    x->n += len;
}

static void on_state(struct buyt_serial *s, bool open, int err, void *ud)
{
    (void)s;
    struct ctx *x = ud;
    if (open)
        x->opened++;
    else
        x->lost++, x->last_err = err;
}

static void on_freed(void *arg)
{
    ((struct ctx *)arg)->freed = true;
}

/* A pseudo-terminal master; its slave's path goes into *slave. */
static int make_pty(char *slave, size_t len)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert_geq(m, 0);
    cr_assert_eq(grantpt(m), 0);
    cr_assert_eq(unlockpt(m), 0);
    snprintf(slave, len, "%s", ptsname(m));
    return m;
}

static void setup(void)
{
    buyt_log_set_level(BUYT_LOG_ERROR);
    memset(&c, 0, sizeof c);
    uv_loop_init(&c.loop);
    strcpy(dir, "/tmp/buyt-serial-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(link_path, sizeof link_path, "%s/gps0", dir);
}

static void teardown(void)
{
    if (c.s && !c.freed) {
        buyt_serial_close(c.s, on_freed, &c);
        uv_run(&c.loop, UV_RUN_DEFAULT);
    }
    cr_assert(c.freed);
    cr_assert_eq(uv_loop_close(&c.loop), 0, "handles left open");
    unlink(link_path);
    rmdir(dir);
}

static void start(const char *path)
{
    struct buyt_serial_opts o = {.name = "gps", .path = path, .baud = 9600, .retry_max_ms = 500};
    struct buyt_serial_callbacks cb = {.on_data = on_data, .on_state = on_state};
    cr_assert_eq(buyt_serial_new(&c.loop, &o, &cb, &c, &c.s), 0);
    buyt_serial_start(c.s);
}

static bool got_n(void *arg)
{
    return ((struct ctx *)arg)->n >= 8;
}
static bool is_open(void *arg)
{
    return buyt_serial_is_open(((struct ctx *)arg)->s);
}
static bool is_lost(void *arg)
{
    return ((struct ctx *)arg)->lost > 0;
}

Test(serial, reads_bytes_unchanged_in_raw_mode, .init = setup, .fini = teardown)
{
    char slave[64];
    int m = make_pty(slave, sizeof slave);
    start(slave);
    cr_assert(buyt_serial_is_open(c.s));
    /* CR, a ^C and a ^S that a cooked terminal would translate, signal or swallow. */
    const char bytes[8] = {'$', 'G', '\r', '\n', 0x03, 0x13, 0x7f, 'x'};
    cr_assert_eq(write(m, bytes, sizeof bytes), 8);
    cr_assert(buyt_test_run_until(&c.loop, got_n, &c, 3000));
    cr_assert_eq(c.n, 8);
    cr_assert_arr_eq(c.got, bytes, 8);
    struct termios t;
    int fd = open(slave, O_RDONLY | O_NOCTTY);
    cr_assert_eq(tcgetattr(fd, &t), 0);
    cr_assert_eq(t.c_lflag & (ECHO | ICANON | ISIG), 0);
    cr_assert_eq(cfgetispeed(&t), B9600);
    close(fd);
    struct buyt_serial_stats st;
    buyt_serial_stats(c.s, &st);
    cr_assert_eq(st.bytes, 8);
    cr_assert_eq(st.opens, 1);
    cr_assert_eq(st.errors, 0);
    cr_assert_eq(c.opened, 1);
    close(m);
}

Test(serial, absent_device_is_retried_until_plugged_in, .init = setup, .fini = teardown)
{
    start(link_path);
    cr_assert_not(buyt_serial_is_open(c.s));
    struct buyt_serial_stats st;
    buyt_serial_stats(c.s, &st);
    cr_assert_eq(st.errors, 1);
    char slave[64];
    int m = make_pty(slave, sizeof slave);
    cr_assert_eq(symlink(slave, link_path), 0);
    cr_assert(buyt_test_run_until(&c.loop, is_open, &c, 3000), "not reopened");
    cr_assert_eq(write(m, "$GPGGA,1", 8), 8);
    cr_assert(buyt_test_run_until(&c.loop, got_n, &c, 3000));
    close(m);
}

Test(serial, unplugged_device_is_reported_and_reopened, .init = setup, .fini = teardown)
{
    char slave[64];
    int m = make_pty(slave, sizeof slave);
    cr_assert_eq(symlink(slave, link_path), 0);
    start(link_path);
    cr_assert(buyt_serial_is_open(c.s));
    close(m); /* the adapter is pulled out: the slave hangs up */
    cr_assert(buyt_test_run_until(&c.loop, is_lost, &c, 3000), "loss not seen");
    cr_assert_not(buyt_serial_is_open(c.s));
    struct buyt_serial_stats st;
    buyt_serial_stats(c.s, &st);
    cr_assert_geq(st.errors, 1);
    /* Plugged in again, maybe under another pts number: the symlink follows it. */
    m = make_pty(slave, sizeof slave);
    unlink(link_path);
    cr_assert_eq(symlink(slave, link_path), 0);
    cr_assert(buyt_test_run_until(&c.loop, is_open, &c, 3000), "not reopened");
    cr_assert_eq(write(m, "12345678", 8), 8);
    cr_assert(buyt_test_run_until(&c.loop, got_n, &c, 3000));
    cr_assert_eq(c.opened, 2);
    cr_assert_eq(c.lost, 1);
    close(m);
}

Test(serial, regular_file_is_refused_as_not_pollable, .init = setup, .fini = teardown)
{
    int fd = open(link_path, O_CREAT | O_WRONLY, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    start(link_path);
    cr_assert_not(buyt_serial_is_open(c.s));
    struct buyt_serial_stats st;
    buyt_serial_stats(c.s, &st);
    cr_assert_eq(st.errors, 1);
}

Test(serial, bad_arguments_are_refused)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct buyt_serial *s;
    struct buyt_serial_callbacks cb = {0};
    struct buyt_serial_opts o = {.path = "/dev/null", .baud = 9601};
    cr_assert_eq(buyt_serial_new(&loop, &o, &cb, NULL, &s), BUYT_EINVAL);
    o.baud = 9600;
    o.path = "";
    cr_assert_eq(buyt_serial_new(&loop, &o, &cb, NULL, &s), BUYT_EINVAL);
    cr_assert(buyt_serial_baud_valid(115200));
    cr_assert_not(buyt_serial_baud_valid(2400));
    cr_assert_eq(uv_loop_close(&loop), 0);
}
