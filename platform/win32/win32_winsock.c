/* win32_winsock.c - Winsock start-up and the extension functions (AcceptEx,
 * GetAcceptExSockaddrs, ConnectEx) only reachable through WSAIoctl. */
#include "win32_internal.h"

LPFN_ACCEPTEX lb__AcceptEx;
LPFN_CONNECTEX lb__ConnectEx;
LPFN_GETACCEPTEXSOCKADDRS lb__GetAcceptExSockaddrs;

static int
extension(SOCKET s, GUID guid, void *fn, size_t size)
{
    DWORD bytes = 0;

    if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid),
                 fn, (DWORD)size, &bytes, NULL, NULL) != 0)
        return lb__win_error(WSAGetLastError());
    return 0;
}

/* Once per process, whichever thread comes first (every loop and every
 * listener asks). */
static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static int init_rc;

static BOOL CALLBACK
init_once(PINIT_ONCE o, PVOID param, PVOID *ctx)
{
    WSADATA wsa;
    SOCKET s;
    GUID accept_guid = WSAID_ACCEPTEX, connect_guid = WSAID_CONNECTEX;
    GUID addrs_guid = WSAID_GETACCEPTEXSOCKADDRS;
    int rc;

    (void)o;
    (void)param;
    (void)ctx;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        init_rc = LB_EOTHER;
        return TRUE;
    }
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET) {
        init_rc = lb__win_error(WSAGetLastError());
        return TRUE;
    }
    rc = extension(s, accept_guid, &lb__AcceptEx, sizeof(lb__AcceptEx));
    if (rc == 0)
        rc = extension(s, connect_guid, &lb__ConnectEx,
                       sizeof(lb__ConnectEx));
    if (rc == 0)
        rc = extension(s, addrs_guid, &lb__GetAcceptExSockaddrs,
                       sizeof(lb__GetAcceptExSockaddrs));
    closesocket(s);
    init_rc = rc;
    return TRUE;
}

int
lb__winsock_init(void)
{
    InitOnceExecuteOnce(&once, init_once, NULL, NULL);
    return init_rc;
}
