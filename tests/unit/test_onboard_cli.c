/* bin/buyt-onboard's command line: --help, --check-config (exit 0 with one summary line, or 1
 * with one line saying what is wrong), argument errors, and a clean SIGTERM exit even with no
 * broker to talk to and no GNSS receiver plugged in. */
#include "testkit.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static pid_t child; /* an agent started by a test: killed by teardown if the test failed */

static void setup(void)
{
    strcpy(dir, "/tmp/buyt-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Runs buyt-onboard with `args`; returns the exit status, stdout and stderr in out/err. */
static int run(const char *args, char *out, size_t olen, char *err, size_t elen)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/buyt-onboard %s >%s/out 2>%s/err", BUYT_BIN_DIR, args, dir, dir);
    int st = system(cmd);
    char p[128];
    snprintf(p, sizeof p, "%s/out", dir);
    FILE *f = fopen(p, "r");
    size_t n = fread(out, 1, olen - 1, f);
    out[n] = '\0';
    fclose(f);
    snprintf(p, sizeof p, "%s/err", dir);
    f = fopen(p, "r");
    n = fread(err, 1, elen - 1, f);
    err[n] = '\0';
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_conf(const char *name, const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(onboard_cli, help_exits_0_and_names_the_options, .init = setup, .fini = teardown)
{
    char out[4096], err[1024];
    cr_assert_eq(run("--help", out, sizeof out, err, sizeof err), 0);
    cr_assert_not_null(strstr(out, "--config FILE"));
    cr_assert_not_null(strstr(out, "--check-config"));
    cr_assert_eq(run("--version", out, sizeof out, err, sizeof err), 0);
    cr_assert_str_eq(out, "buyt-onboard 0.1.0\n");
}

Test(onboard_cli, bad_arguments_exit_2_with_one_line, .init = setup, .fini = teardown)
{
    char out[1024], err[1024];
    cr_assert_eq(run("", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "buyt-onboard: --config FILE is required (see --help)\n");
    cr_assert_eq(run("--conf x", out, sizeof out, err, sizeof err), 2);
    cr_assert_str_eq(err, "buyt-onboard: unknown argument '--conf' (see --help)\n");
}

Test(onboard_cli, check_config_accepts_the_example, .init = setup, .fini = teardown)
{
    char out[1024], err[1024];
    cr_assert_eq(run("--config " BUYT_SOURCE_DIR "/deploy/onboard/buyt-onboard.conf.example "
                     "--check-config",
                     out, sizeof out, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(lines(out), 1, "%s", out);
    cr_assert_not_null(strstr(out, ": OK: vehicle hn/29B-100, broker broker.example.net:1883 as "
                                   "29B-100, gps /dev/ttyUSB0, 1 RFID reader(s)"),
                       "%s", out);
    cr_assert_null(strstr(out, "change-me"), "the password is never printed");
    cr_assert_str_empty(err);
}

Test(onboard_cli, check_config_names_the_problem_in_one_line, .init = setup, .fini = teardown)
{
    char out[1024], err[1024], args[256], want[256];
    write_conf("bad.conf", "agency = hn\nvehicle_id = 29B-1\nmqtt_url = mqtt://h\n"
                           "journal_dir = /tmp/j\ngps_device = /dev/ttyUSB0\ngps_baud = 9601\n");
    snprintf(args, sizeof args, "--config %s/bad.conf --check-config", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 1);
    snprintf(want, sizeof want,
             "buyt-onboard: %s/bad.conf:6: gps_baud: not a supported speed (4800, 9600, 19200, "
             "38400, 57600, 115200)\n",
             dir);
    cr_assert_str_eq(err, want);
    cr_assert_str_empty(out);
}

Test(onboard_cli, check_config_loads_the_driver_list, .init = setup, .fini = teardown)
{
    char out[1024], err[1024], conf[1024], args[256];
    write_conf("drivers.txt", "3808980205 D001 An\nnot-a-card D002\n");
    snprintf(conf, sizeof conf,
             "agency = hn\nvehicle_id = 29B-1\nmqtt_url = mqtt://29B-1:p@h\n"
             "journal_dir = /tmp/j\ngps_device = /dev/ttyUSB0\n"
             "fleet_key = 000102030405060708090a0b0c0d0e0f\ndrivers_file = %s/drivers.txt\n"
             "rfid1_device = /dev/ttyS1\nrfid1_role = driver\nrfid1_framing = rdm6300\n",
             dir);
    write_conf("d.conf", conf);
    snprintf(args, sizeof args, "--config %s/d.conf --check-config", dir);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 1);
    cr_assert_not_null(strstr(err, "drivers_file"), "%s", err);
    cr_assert_not_null(strstr(err, "1 bad line(s)"), "%s", err);
    cr_assert_eq(lines(err), 1);
    write_conf("drivers.txt", "3808980205 D001 An\n");
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(strstr(out, "1 driver card(s)"), "%s", out);
}

Test(onboard_cli, sigterm_exits_0_without_broker_or_receiver, .init = setup, .fini = teardown)
{
    char conf[1024], p[128];
    /* Port 1 on loopback: connection refused; the receiver does not exist. */
    snprintf(conf, sizeof conf,
             "agency = hn\nvehicle_id = 29B-1\nmqtt_url = mqtt://29B-1:p@127.0.0.1:1\n"
             "journal_dir = %s/journal\ngps_device = %s/no-such-gps\nmqtt_backoff_max = 1s\n",
             dir, dir);
    write_conf("run.conf", conf);
    snprintf(p, sizeof p, "%s/run.conf", dir);
    pid_t pid = fork();
    if (pid == 0) {
        char log[128];
        snprintf(log, sizeof log, "%s/log", dir);
        freopen(log, "w", stderr);
        execl(BUYT_BIN_DIR "/buyt-onboard", "buyt-onboard", "--config", p, (char *)NULL);
        _exit(127);
    }
    child = pid;
    usleep(700 * 1000);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    child = 0;
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 0);
    /* The start Health and the journal survive for the next start. */
    snprintf(p, sizeof p, "%s/journal/seg-0000000000000001.log", dir);
    cr_assert_eq(access(p, F_OK), 0);
}

Test(onboard_cli, a_second_agent_on_the_same_journal_is_refused, .init = setup, .fini = teardown)
{
    char conf[1024], p[128], out[1024], err[1024], args[256];
    snprintf(conf, sizeof conf,
             "agency = hn\nvehicle_id = 29B-1\nmqtt_url = mqtt://29B-1:p@127.0.0.1:1\n"
             "journal_dir = %s/journal\ngps_device = %s/no-such-gps\n",
             dir, dir);
    write_conf("run.conf", conf);
    snprintf(p, sizeof p, "%s/run.conf", dir);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(BUYT_BIN_DIR "/buyt-onboard", "buyt-onboard", "--config", p, (char *)NULL);
        _exit(127);
    }
    child = pid;
    usleep(500 * 1000);
    snprintf(args, sizeof args, "--config %s", p);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 1);
    char want[256];
    snprintf(want, sizeof want,
             "buyt-onboard: journal %s/journal: in use by another "
             "buyt-onboard\n",
             dir);
    const char *last = strstr(err, "\nbuyt-onboard: "); /* after the journal's log line */
    cr_assert_not_null(last, "%s", err);
    cr_assert_str_eq(last + 1, want);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    child = 0;
    cr_assert_eq(WEXITSTATUS(st), 0);
}
