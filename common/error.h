/* Error codes shared by every buyt module: functions that can fail return 0 or a negative
 * BUYT_E* (libuv style). Negative errno values (-ENOENT...) are also allowed and described. */
#ifndef BUYT_ERROR_H
#define BUYT_ERROR_H

enum {
    BUYT_EINVAL = -10001,   /* bad argument or malformed input */
    BUYT_ENOMEM = -10002,   /* allocation failed */
    BUYT_EIO = -10003,      /* I/O failed (see the log line for the cause) */
    BUYT_ERANGE = -10004,   /* value out of its documented range */
    BUYT_EFULL = -10005,    /* a bounded queue or store is full */
    BUYT_ECORRUPT = -10006, /* stored data failed its checksum */
    BUYT_EDB = -10007,      /* database error */
    BUYT_EMQTT = -10008,    /* broker/libmosquitto error */
    BUYT_ECHECKSUM = -10009,/* migration checksum differs from the applied one */
};

/** Returns a static human-readable string for a buyt or negative errno code. */
const char *buyt_strerror(int err);

#endif
