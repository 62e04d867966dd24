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

/* What mingw-w64's headers lack, or the Windows SDK declares only for a
 * newer _WIN32_WINNT (values from Microsoft's documentation). */
#ifndef SO_PORT_SCALABILITY
#define SO_PORT_SCALABILITY 0x3006 /* Server 2008 and later */
#endif
#ifndef SO_REUSE_UNICASTPORT
#define SO_REUSE_UNICASTPORT 0x3007 /* Windows 10, Server 2016 */
#endif
#ifndef WSA_FLAG_NO_HANDLE_INHERIT
#define WSA_FLAG_NO_HANDLE_INHERIT 0x80 /* Windows 7 SP1; the SDK wants
                                         * _WIN32_WINNT >= 0x0601 */
#endif
#ifndef SOMAXCONN_HINT
#define SOMAXCONN_HINT(b) (-(b))
#endif
#ifndef SIO_TCP_INFO
#define SIO_TCP_INFO 0xD8000027 /* _WSAIORW(IOC_VENDOR, 39) */
#endif
#ifndef ERROR_HANDLES_CLOSED
#define ERROR_HANDLES_CLOSED 676 /* what Wine reports for a read pending
                                  * on a socket closed under it */
#endif

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

/* How a closing stream gets to closesocket() (win32_close.c). */
enum {
    LB__OPEN = 0,
    LB__CANCELING, /* normal close: pending I/O canceled, then a FIN */
    LB__DRAINING,  /* drain-then-reset: until the peer acknowledged all */
    LB__CLOSED     /* socket closed; freed once nothing is pending */
};

struct lb_stream_s {
    lb__stream_base_t base; /* first: data, callbacks, completion queue */
    SOCKET sock;
    lb_loop_t *loop;
    unsigned pending;       /* overlapped operations in flight */
    unsigned char writing;  /* write_op is one of them */
    unsigned char watching; /* read_op's zero-byte read is a watch's */
    unsigned char close_state;
    int local_len;          /* > 0: local holds the accepted socket's */
    uint64_t written;       /* bytes sent, for the drain-then-reset */
    uint64_t close_until;   /* loop ms: a drain ends by then */
    lb_timer_t close_timer;
    int linger_reset;       /* SO_LINGER {1, 0}: closesocket() resets */
    lb__op_t read_op, write_op, connect_op;
    struct sockaddr_in6 local; /* from GetAcceptExSockaddrs */
};

/* AcceptEx wants room for each address plus 16 bytes. */
#define LB__ACCEPT_ADDR_LEN (sizeof(struct sockaddr_in6) + 16)

/* One AcceptEx slot. Allocated once and never moved: while posted, its
 * OVERLAPPED and address buffer are the kernel's. */
typedef struct lb__accept_s {
    lb__op_t op;
    lb_listener_t *listener;
    SOCKET sock;
    unsigned char held;     /* accepted while paused: handed over on resume */
    unsigned char requeued; /* a held one on its way back through the port */
    struct lb__accept_s *next_free, *next_all;
    char addrs[2 * LB__ACCEPT_ADDR_LEN];
} lb__accept_t;

struct lb_listener_s {
    SOCKET sock;
    int family;
    lb_loop_t *loop;
    lb_accept_cb cb;
    void *data;
    int closing;
    int paused;         /* by the core: a connection limit was reached */
    unsigned refs;      /* completions to come (the one being handled
                         * keeps its own across the core's callback): a
                         * closed listener is freed when none is left */
    unsigned target;    /* AcceptEx calls to keep posted (win32_listener.c) */
    unsigned max_posted;
    unsigned posted;    /* AcceptEx calls posted now */
    unsigned burst;     /* accepts completed in loop turn `turn` */
    unsigned peak;      /* the largest burst since window_start */
    uint64_t turn, window_start;
    lb__accept_t *free_slots, *all_slots;
    lb_timer_t retry;   /* re-posting accepts after running out of sockets */
};

struct lb_loop_s {
    lb__loop_base_t base; /* first: timers, clock, completions, stops */
    HANDLE iocp;
    uint64_t turn;        /* times the loop woke with completions */
    int console_handler; /* installed lb__win_on_console (console mode) */
};

/* win32_loop.c */
void lb__stream_queue(lb_stream_t *s, unsigned what);
void lb__stream_op_done(lb_stream_t *s, lb__op_t *op, int status,
                        DWORD bytes);
void lb__listener_op_done(lb__accept_t *a, int status);
void lb__resolve_done(void *req);
uint64_t lb__win_clock_ms(void);
/* ticks of a counter running at freq per second, in ms, without
 * overflowing for any tick count. */
uint64_t lb__win_ticks_to_ms(uint64_t ticks, uint64_t freq);
extern HANDLE lb__win_stop_port;
BOOL WINAPI lb__win_on_console(DWORD type);

/* win32_stream.c */
lb_stream_t *lb__stream_new(lb_loop_t *loop, SOCKET sock);
int lb__win_set_linger(SOCKET sock, int on);
SOCKET lb__win_socket(int family);

/* win32_close.c */
/* A completion for a closing stream arrived (or none is pending). */
void lb__stream_close_progress(lb_stream_t *s);
/* s->close_timer's callback: a cancel's bound, a drain's next look. */
void lb__stream_close_timer(lb_timer_t *t);
/* Normal closes that had to call closesocket() with I/O still pending,
 * which makes Windows reset the connection: 0 unless a cancel never
 * completed. For the tests. */
extern unsigned long lb__win_unclean_closes;

/* win32_listener.c */
/* What listen() gets for backlog: SOMAXCONN_HINT above Winsock's quiet
 * cap of about 200. */
int lb__win_backlog(int backlog);

/* win32_error.c */
int lb__win_error(int err);

/* win32_winsock.c */
int lb__winsock_init(void);
extern LPFN_ACCEPTEX lb__AcceptEx;
extern LPFN_CONNECTEX lb__ConnectEx;
extern LPFN_GETACCEPTEXSOCKADDRS lb__GetAcceptExSockaddrs;

#endif
