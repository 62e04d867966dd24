/* win32_error.c - Winsock and Win32 error codes to LB_E* codes, in one
 * place; nothing above the platform layer sees a Windows code. */
#include "win32_internal.h"

int
lb__win_error(int err)
{
    switch (err) {
    case ERROR_OPERATION_ABORTED:
    case ERROR_NETNAME_DELETED:
        return LB_ECANCELED;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
        return LB_ECONNREFUSED;
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:
        return LB_ETIMEDOUT;
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED:
        return LB_ECONNRESET;
    case WSAEADDRINUSE:
        return LB_EADDRINUSE;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED:
        return LB_EACCES;
    case WSAENOBUFS:
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
