/* posix_error.c - errno and getaddrinfo codes to LB_E* codes, in one
 * place. */
#include "posix_internal.h"

#include <errno.h>

int
lb__posix_error(int err)
{
    switch (err) {
    case ECANCELED: return LB_ECANCELED;
    case ECONNREFUSED: return LB_ECONNREFUSED;
    case ETIMEDOUT: return LB_ETIMEDOUT;
    case ECONNRESET: return LB_ECONNRESET;
    case ECONNABORTED: return LB_ECONNRESET;
    case EADDRINUSE: return LB_EADDRINUSE;
    case EACCES: return LB_EACCES;
    case EPERM: return LB_EACCES;
    case ENOMEM: return LB_ENOMEM;
    case ENOBUFS: return LB_ENOBUFS;
    case EMFILE: return LB_EMFILE;
    case ENFILE: return LB_EMFILE;
    case EHOSTUNREACH: return LB_EHOSTUNREACH;
    case ENETUNREACH: return LB_ENETUNREACH;
    case ENETDOWN: return LB_ENETDOWN;
    case ENOTCONN: return LB_ENOTCONN;
    case EPIPE: return LB_EPIPE;
    case EADDRNOTAVAIL: return LB_EADDRNOTAVAIL;
    case ENOENT: return LB_ENOENT;
    case EINVAL: return LB_EINVAL;
    case EAGAIN: return LB_EAGAIN;
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK: return LB_EAGAIN;
#endif
    case EIO: return LB_EIO;
    default: return LB_EOTHER;
    }
}

int
lb__gai_error(int rc)
{
    switch (rc) {
    case EAI_AGAIN: return LB_EAI_AGAIN;
    case EAI_MEMORY: return LB_ENOMEM;
#ifdef EAI_SYSTEM
    case EAI_SYSTEM: return lb__posix_error(errno);
#endif
    default: return LB_EAI_NONAME;
    }
}
