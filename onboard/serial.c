/* Serial input on libuv; see serial.h. */
#include "serial.h"

#include "error.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define RETRY_MIN_MS 500u
#define READS_PER_WAKEUP 8 /* bound the work of one callback; epoll wakes us again */

struct buyt_serial {
    uv_loop_t *loop;
    char name[32];
    char path[512];
    uint32_t baud, retry_max_ms, backoff_ms;
    struct buyt_serial_callbacks cb;
    void *ud;
    int fd;           /* -1 while closed */
    uv_poll_t *poll;  /* heap: closed asynchronously while the fd is replaced */
    uv_timer_t retry; /* reopen backoff */
    bool closing;
    bool quiet;  /* an open failure was logged: log the next ones at debug level */
    int pending; /* handles being closed */
    void (*done)(void *);
    void *done_arg;
    struct buyt_serial_stats stats;
    uint8_t buf[4096];
};

bool buyt_serial_baud_valid(uint32_t baud)
{
    switch (baud) {
    case 4800:
    case 9600:
    case 19200:
    case 38400:
    case 57600:
    case 115200: return true;
    default: return false;
    }
}

static speed_t baud_speed(uint32_t baud)
{
    switch (baud) {
    case 4800: return B4800;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    default: return B9600;
    }
}

static void maybe_free(struct buyt_serial *s)
{
    if (!s->closing || s->pending > 0)
        return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done)
        done(arg);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct buyt_serial *s = h->data;
    free(h);
    s->pending--;
    maybe_free(s);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct buyt_serial *s = h->data;
    s->pending--;
    maybe_free(s);
}

static void close_fd(struct buyt_serial *s)
{
    if (s->poll) {
        uv_poll_stop(s->poll); /* removes the fd from epoll before it is closed */
        s->pending++;
        uv_close((uv_handle_t *)s->poll, on_poll_closed);
        s->poll = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

static void on_retry(uv_timer_t *t);

static void schedule_retry(struct buyt_serial *s)
{
    if (s->closing)
        return;
    uint32_t delay = s->backoff_ms;
    s->backoff_ms = delay * 2 > s->retry_max_ms ? s->retry_max_ms : delay * 2;
    uv_timer_start(&s->retry, on_retry, delay, 0);
}

/* Raw 8N1 at the configured speed: no echo, no canonical mode, no signals, no CR/LF mapping,
 * no software or hardware flow control, modem lines ignored (CLOCAL). */
static int configure_tty(int fd, uint32_t baud)
{
    struct termios t;
    if (tcgetattr(fd, &t))
        return -errno;
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    speed_t sp = baud_speed(baud);
    if (cfsetispeed(&t, sp) || cfsetospeed(&t, sp) || tcsetattr(fd, TCSANOW, &t))
        return -errno;
    return 0;
}

static void lost(struct buyt_serial *s, int err)
{
    s->stats.errors++;
    BUYT_WARN("serial", "msg=\"device lost\" port=%s path=%s err=\"%s\"", s->name, s->path,
              err ? buyt_strerror(err) : "end of file");
    close_fd(s);
    s->quiet = false;
    if (s->cb.on_state)
        s->cb.on_state(s, false, err, s->ud);
    schedule_retry(s);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct buyt_serial *s = h->data;
    if (s->poll != h)
        return;
    if (status < 0) {
        /* libuv reports EPOLLERR (a terminal hung up, a USB adapter gone) as UV_EBADF. */
        lost(s, status == UV_EBADF ? -EIO : status);
        return;
    }
    for (int i = 0; i < READS_PER_WAKEUP; i++) {
        ssize_t n = read(s->fd, s->buf, sizeof s->buf);
        if (n > 0) {
            s->stats.bytes += (uint64_t)n;
            if (s->cb.on_data)
                s->cb.on_data(s, s->buf, (size_t)n, s->ud);
            if (s->closing || s->poll != h)
                return; /* closed by the callback */
            if ((size_t)n < sizeof s->buf)
                return;
            continue;
        }
        if (n == 0) {
            lost(s, 0); /* hang-up: a terminal whose other side went away */
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            lost(s, -errno); /* EIO, ENXIO: the device is gone */
        return;
    }
}

static void open_port(struct buyt_serial *s)
{
    int fd = open(s->path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    int err = fd < 0 ? -errno : 0;
    if (!err && isatty(fd))
        err = configure_tty(fd, s->baud);
    uv_poll_t *p = NULL;
    if (!err) {
        p = malloc(sizeof *p);
        err = p ? uv_poll_init(s->loop, p, fd) : BUYT_ENOMEM; /* EPERM: a regular file */
        if (err) {
            free(p);
            p = NULL;
        }
    }
    if (err) {
        if (fd >= 0)
            close(fd);
        s->stats.errors++;
        if (s->quiet) {
            BUYT_DEBUG("serial", "msg=\"cannot open device\" port=%s path=%s err=\"%s\"", s->name,
                       s->path, buyt_strerror(err));
        } else {
            BUYT_WARN("serial", "msg=\"cannot open device, retrying\" port=%s path=%s err=\"%s\"",
                      s->name, s->path, buyt_strerror(err));
            s->quiet = true;
        }
        schedule_retry(s);
        return;
    }
    p->data = s;
    s->poll = p;
    s->fd = fd;
    uv_poll_start(p, UV_READABLE, on_poll);
    s->stats.opens++;
    s->backoff_ms = RETRY_MIN_MS;
    s->quiet = false;
    BUYT_INFO("serial", "msg=opened port=%s path=%s baud=%u", s->name, s->path, s->baud);
    if (s->cb.on_state)
        s->cb.on_state(s, true, 0, s->ud);
}

static void on_retry(uv_timer_t *t)
{
    struct buyt_serial *s = t->data;
    if (s->fd < 0 && !s->closing)
        open_port(s);
}

int buyt_serial_new(uv_loop_t *loop, const struct buyt_serial_opts *opts,
                    const struct buyt_serial_callbacks *cb, void *ud, struct buyt_serial **out)
{
    *out = NULL;
    if (!opts->path || !opts->path[0] ||
        strlen(opts->path) >= sizeof((struct buyt_serial *)0)->path ||
        !buyt_serial_baud_valid(opts->baud))
        return BUYT_EINVAL;
    struct buyt_serial *s = calloc(1, sizeof *s);
    if (!s)
        return BUYT_ENOMEM;
    s->loop = loop;
    snprintf(s->name, sizeof s->name, "%s", opts->name ? opts->name : "serial");
    snprintf(s->path, sizeof s->path, "%s", opts->path);
    s->baud = opts->baud;
    s->retry_max_ms = opts->retry_max_ms ? opts->retry_max_ms : 10000;
    if (s->retry_max_ms < RETRY_MIN_MS)
        s->retry_max_ms = RETRY_MIN_MS;
    s->backoff_ms = RETRY_MIN_MS;
    s->cb = *cb;
    s->ud = ud;
    s->fd = -1;
    uv_timer_init(loop, &s->retry);
    s->retry.data = s;
    *out = s;
    return 0;
}

int buyt_serial_start(struct buyt_serial *s)
{
    if (s->fd < 0 && !s->closing)
        open_port(s);
    return 0;
}

bool buyt_serial_is_open(const struct buyt_serial *s)
{
    return s->fd >= 0;
}

void buyt_serial_stats(const struct buyt_serial *s, struct buyt_serial_stats *out)
{
    *out = s->stats;
}

void buyt_serial_close(struct buyt_serial *s, void (*done)(void *arg), void *arg)
{
    if (s->closing)
        return;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    close_fd(s);
    uv_timer_stop(&s->retry);
    s->pending++;
    uv_close((uv_handle_t *)&s->retry, on_timer_closed);
}
