/* Pseudo-terminals standing in for a bus's serial ports: the simulator writes the master, the
 * agent opens the slave path like /dev/ttyUSB0. The simulator also keeps a raw-mode slave fd
 * open, so the port survives the agent closing or restarting, and the line discipline neither
 * echoes nor rewrites bytes. */
#ifndef BUYT_SIM_PTY_H
#define BUYT_SIM_PTY_H

#include <stddef.h>

struct buyt_pty {
    int master, slave;
    char path[64];
    unsigned long long dropped; /* bytes not written: the agent did not read fast enough */
};

/** Opens a pty pair (master non-blocking). Returns 0 or a negative errno. */
int buyt_pty_open(struct buyt_pty *p);

/** Writes all of buf to the master without blocking; what does not fit is dropped and
 *  counted (a serial line has no flow control either). Returns the bytes written. */
size_t buyt_pty_write(struct buyt_pty *p, const void *buf, size_t len);

/** Reads and discards what the slave side queued for the master (nothing, normally). */
void buyt_pty_drain(struct buyt_pty *p);

/** Closes both ends. */
void buyt_pty_close(struct buyt_pty *p);

#endif
