/* Pseudo-terminal pairs (POSIX posix_openpt/grantpt/unlockpt/ptsname); see pty.h. */
#define _XOPEN_SOURCE 700
#include "pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int buyt_pty_open(struct buyt_pty *p)
{
    memset(p, 0, sizeof *p);
    p->master = p->slave = -1;
    p->master = posix_openpt(O_RDWR | O_NOCTTY);
    if (p->master < 0)
        return -errno;
    const char *name;
    if (grantpt(p->master) != 0 || unlockpt(p->master) != 0 || !(name = ptsname(p->master)))
        goto fail;
    snprintf(p->path, sizeof p->path, "%s", name);
    p->slave = open(p->path, O_RDWR | O_NOCTTY);
    if (p->slave < 0)
        goto fail;
    struct termios t;
    if (tcgetattr(p->slave, &t) != 0)
        goto fail;
    cfmakeraw(&t);
    if (tcsetattr(p->slave, TCSANOW, &t) != 0)
        goto fail;
    int fl = fcntl(p->master, F_GETFL);
    if (fl < 0 || fcntl(p->master, F_SETFL, fl | O_NONBLOCK) != 0)
        goto fail;
    fcntl(p->master, F_SETFD, FD_CLOEXEC);
    fcntl(p->slave, F_SETFD, FD_CLOEXEC);
    return 0;
fail:;
    int e = errno ? -errno : -EIO;
    buyt_pty_close(p);
    return e;
}

size_t buyt_pty_write(struct buyt_pty *p, const void *buf, size_t len)
{
    const char *b = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(p->master, b + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    p->dropped += len - done;
    return done;
}

void buyt_pty_drain(struct buyt_pty *p)
{
    char junk[256];
    while (read(p->master, junk, sizeof junk) > 0) {
    }
}

void buyt_pty_close(struct buyt_pty *p)
{
    if (p->master >= 0)
        close(p->master);
    if (p->slave >= 0)
        close(p->slave);
    p->master = p->slave = -1;
}
