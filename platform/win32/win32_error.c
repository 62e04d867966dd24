/* win32_error.c - Winsock and Win32 error codes to LB_E* codes, in one
 * place; nothing above the platform layer sees a Windows code. */
#include "win32_internal.h"

int
lb__win_error(int err)
{
    switch (err) {
    case ERROR_OPERATION_ABORTED:
    case ERROR_HANDLES_CLOSED: /* Wine: a read pending on a closed socket */
        return LB_ECANCELED;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
        return LB_ECONNREFUSED;
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:
        return LB_ETIMEDOUT;
    /* ERROR_NETNAME_DELETED: a peer's reset as GetQueuedCompletionStatus
     * reports it; a close of our own can look the same, which is why a
     * closing stream ignores what its operations report. */
    case ERROR_NETNAME_DELETED:
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED:
    case WSAENETRESET: /* keep-alive found the connection dead */
        return LB_ECONNRESET;
    case WSAEDISCON: /* the peer's graceful end (message sockets) */
        return LB_EOF;
    case WSAENOTCONN:
        return LB_ENOTCONN;
    case WSAENETDOWN:
        return LB_ENETDOWN;
    case WSAEADDRINUSE:
        return LB_EADDRINUSE;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED:
        return LB_EACCES;
    case WSAENOBUFS: /* also how Windows says its ports ran out */
        return LB_ENOBUFS;
    case ERROR_NOT_ENOUGH_MEMORY:
        return LB_ENOMEM;
    case WSAEMFILE:
        return LB_EMFILE;
    case WSAEHOSTUNREACH:
    case ERROR_HOST_UNREACHABLE:
        return LB_EHOSTUNREACH;
    case WSAENETUNREACH:
    case ERROR_NETWORK_UNREACHABLE:
        return LB_ENETUNREACH;
    case WSAESHUTDOWN:
        return LB_EPIPE;
    case WSAEADDRNOTAVAIL:
        return LB_EADDRNOTAVAIL;
    case WSAEINVAL:
        return LB_EINVAL;
    case WSAEWOULDBLOCK:
        return LB_EAGAIN;
    default:
        return LB_EOTHER;
    }
}

int
lb__gai_error(int rc)
{
    switch (rc) {
    case WSATRY_AGAIN:
        return LB_EAI_AGAIN;
    case WSA_NOT_ENOUGH_MEMORY:
        return LB_ENOMEM;
    default:
        return LB_EAI_NONAME;
    }
}
