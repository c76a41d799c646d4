/* A serial input on the libuv loop: a GNSS receiver or an RFID reader, read-only.
 *
 * Opens the device non-blocking; a terminal (a real serial port, a USB adapter, a
 * pseudo-terminal) is put in raw mode (termios: no echo, no line editing, 8N1, no flow control,
 * CLOCAL) at the configured speed; any other pollable byte stream (FIFO, socket) is read as is.
 * Bytes are read from a uv_poll callback and handed to on_data. When the device fails or
 * disappears (open error, read error, EOF, hang-up: a USB adapter unplugged gives EIO/ENXIO),
 * it is closed, counted, reported through on_state, and opened again after a backoff (0.5 s
 * doubling to retry_max_ms), so a receiver plugged back in is picked up without a restart. */
#ifndef BUYT_SERIAL_H
#define BUYT_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct buyt_serial;

struct buyt_serial_opts {
    const char *name;      /* for logs ("gps", "rfid1"), copied */
    const char *path;      /* device path, copied */
    uint32_t baud;         /* one of buyt_serial_baud_valid(); ignored for non-terminals */
    uint32_t retry_max_ms; /* backoff ceiling; 0: 10 s */
};

struct buyt_serial_callbacks {
    /** Bytes read (borrowed for the call). */
    void (*on_data)(struct buyt_serial *s, const uint8_t *buf, size_t len, void *ud);
    /** Opened (open = true) or lost (false, err = negative errno or UV error, 0 for EOF). Not
     *  called for repeated failures to open a device that is still absent. */
    void (*on_state)(struct buyt_serial *s, bool open, int err, void *ud);
};

struct buyt_serial_stats {
    uint64_t bytes;  /* bytes read */
    uint64_t opens;  /* successful opens */
    uint64_t errors; /* failed opens + read failures/EOFs/hang-ups */
};

/** True for the speeds a port may be configured with: 4800, 9600, 19200, 38400, 57600, 115200. */
bool buyt_serial_baud_valid(uint32_t baud);

/** Creates a port (not opened yet). Strings are copied. Returns 0, BUYT_EINVAL (no path, bad
 *  speed) or BUYT_ENOMEM. */
int buyt_serial_new(uv_loop_t *loop, const struct buyt_serial_opts *opts,
                    const struct buyt_serial_callbacks *cb, void *ud, struct buyt_serial **out);

/** Opens the device now, or schedules retries if it cannot. Returns 0. */
int buyt_serial_start(struct buyt_serial *s);

/** True while the device is open. */
bool buyt_serial_is_open(const struct buyt_serial *s);

/** Counters since creation. */
void buyt_serial_stats(const struct buyt_serial *s, struct buyt_serial_stats *out);

/** Closes the device and every handle and frees `s` once they are closed; `done` (may be NULL)
 *  runs then. No callback runs after this call. Safe from a callback of this port. */
void buyt_serial_close(struct buyt_serial *s, void (*done)(void *arg), void *arg);

#endif
