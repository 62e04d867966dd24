/* win32_internal.h - what the Windows platform files share: the IOCP loop,
 * overlapped operations, streams and listeners. */
#ifndef LB_WIN32_INTERNAL_H
#define LB_WIN32_INTERNAL_H

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include "common_loop.h"
#include "common_stream.h"
#include "lb_platform.h"
#include "common_timers.h"

/* Completion keys that are not sockets. */
#define LB__KEY_IO 0
#define LB__KEY_STOP 1
#define LB__KEY_RESOLVE 2
#define LB__KEY_RELOAD 3

enum { LB__OP_READ, LB__OP_WRITE, LB__OP_CONNECT, LB__OP_ACCEPT };

/* One overlapped operation; the OVERLAPPED is first so a completion maps
 * back to its operation (libuv's container_of, without the macro). */
typedef struct lb__op_s {
    OVERLAPPED ov;
    int kind;
    void *owner; /* lb_stream_t or lb__accept_t */
} lb__op_t;

struct lb_stream_s {
    lb__stream_base_t base; /* first: data, callbacks, completion queue */
    SOCKET sock;
    lb_loop_t *loop;
    unsigned pending;       /* overlapped operations in flight */
    int linger_reset;       /* SO_LINGER {1, 0}: closesocket() resets */
    lb__op_t read_op, write_op, connect_op;
};

typedef struct lb__accept_s {
    lb__op_t op;
    lb_listener_t *listener;
    SOCKET sock;
    int held;          /* accepted while paused: handed over on resume */
    char addrs[2 * (sizeof(struct sockaddr_in6) + 16)];
} lb__accept_t;

#define LB__ACCEPTS_POSTED 32

struct lb_listener_s {
    SOCKET sock;
    int family;
    lb_loop_t *loop;
    lb_accept_cb cb;
    void *data;
    int closing;
    int paused;       /* by the core: a connection limit was reached */
    unsigned pending;
    lb__accept_t accepts[LB__ACCEPTS_POSTED];
    lb_timer_t retry; /* re-posting accepts after running out of sockets */
};

struct lb_loop_s {
    lb__loop_base_t base; /* first: timers, clock, completions, stops */
    HANDLE iocp;
};

/* win32_loop.c */
void lb__stream_queue(lb_stream_t *s, unsigned what);
void lb__stream_op_done(lb_stream_t *s, lb__op_t *op, int status,
                        DWORD bytes);
void lb__listener_op_done(lb__accept_t *a, int status);
void lb__resolve_done(void *req);
uint64_t lb__win_clock_ms(void);
extern HANDLE lb__win_stop_port;

/* win32_stream.c */
lb_stream_t *lb__stream_new(lb_loop_t *loop, SOCKET sock);
SOCKET lb__win_socket(int family);

/* win32_error.c */
int lb__win_error(int err);

/* win32_winsock.c */
int lb__winsock_init(void);
extern LPFN_ACCEPTEX lb__AcceptEx;
extern LPFN_CONNECTEX lb__ConnectEx;

#endif
