/* buyt_strerror(): text for the codes in error.h. */
#include "error.h"

#include <string.h>

const char *buyt_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case BUYT_EINVAL: return "invalid argument or input";
    case BUYT_ENOMEM: return "out of memory";
    case BUYT_EIO: return "I/O error";
    case BUYT_ERANGE: return "value out of range";
    case BUYT_EFULL: return "queue or store full";
    case BUYT_ECORRUPT: return "corrupt data";
    case BUYT_EDB: return "database error";
    case BUYT_EMQTT: return "broker error";
    case BUYT_ECHECKSUM: return "checksum mismatch";
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
