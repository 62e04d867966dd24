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
#ifndef ALL_PROCESSOR_GROUPS
#define ALL_PROCESSOR_GROUPS 0xffff /* GetActiveProcessorCount, Windows 7 */
#endif
#ifndef ERROR_HANDLES_CLOSED
#define ERROR_HANDLES_CLOSED 676 /* what Wine reports for a read pending
                                  * on a socket closed under it */
#endif

/* Completion keys that are not sockets. */
#define LB__KEY_IO 0
#define LB__KEY_STOP 1
#define LB__KEY_RESOLVE 2
#define LB__KEY_RELOAD 3   /* to a loop: the overlapped is the next run; to
                            * the supervisor: PARAMCHANGE */
#define LB__KEY_HANDOFF 4  /* to a loop: an accepted client (lb__handoff_t) */
#define LB__KEY_LISTENER 5 /* to a listener's owner: look at it again */
#define LB__KEY_EXITED 6   /* to the supervisor: a loop thread ended */
#define LB__KEY_RELOADED 7 /* to the supervisor: a loop took the reload */
#define LB__KEY_READY 8    /* to the supervisor: a loop runs its server */

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
    unsigned char accepted; /* counted in its loop's load */
    unsigned char flowing;  /* the last read filled its buffer */
    char *rbuf;             /* a buffered read's buffer while it is posted */
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
    unsigned char ready;    /* SO_UPDATE_ACCEPT_CONTEXT done */
    struct lb__accept_s *next_free, *next_all;
    char addrs[2 * LB__ACCEPT_ADDR_LEN];
} lb__accept_t;

/* A loop serving a listener (lb_listener_start until _detach). */
typedef struct lb__attach_s {
    struct lb__attach_s *next;
    lb_loop_t *loop;
    lb_accept_cb cb; /* cb and data: changed on loop's thread only */
    void *data;
    int paused;      /* under the listener's lock */
} lb__attach_t;

/* An accepted client on its way to another loop's port: the socket (not
 * yet tied to any port) and both addresses, as the slot gave them. */
typedef struct lb__handoff_s {
    lb_listener_t *listener;
    SOCKET sock;
    int local_len;
    struct sockaddr_in6 local;
    lb_addr_t peer;
} lb__handoff_t;

/* A listener, served by the loops attached to it. Its socket is tied to
 * one completion port, its owner's: that loop posts the AcceptEx calls,
 * and hands each client to the attached loop with the fewest open
 * connections that is not paused (win32_accept.c). Fields marked (L)
 * are under the lock, as loops on other threads attach, pause, detach
 * and post to it; the rest are the owner's thread's. */
struct lb_listener_s {
    SRWLOCK lock;
    SOCKET sock;
    int family;
    lb_loop_t *owner;       /* (L) posts the accepts; NULL before the first
                             * attachment and once the socket is done */
    lb__attach_t *attached; /* (L) */
    unsigned unpaused;      /* (L) attached loops that are not paused */
    unsigned refs;          /* (L) the binder's, one per attachment, per
                             * AcceptEx posted or held one requeued (the
                             * completion being handled keeps its own
                             * across the core's callback), per message
                             * on its way: the memory goes with the last */
    unsigned char bound;    /* (L) the binder has not closed it */
    unsigned char shut;     /* (L) to be closed: the last detach, or the
                             * binder's close */
    unsigned char waking;   /* (L) a KEY_LISTENER message is on its way */
    unsigned char closed;   /* the socket is closed */
    unsigned rr;            /* (L) where the next choice starts looking */
    unsigned requeued;      /* held slots on their way through the port */
    unsigned target;    /* AcceptEx calls to keep posted (win32_accept.c) */
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
    DWORD thread;         /* the thread that made and runs it */
    volatile LONG load;   /* clients it holds or is being handed */
    unsigned owning;      /* listeners whose accepts it posts, not done */
    unsigned long completions; /* dequeued, for the tests */
    unsigned long recvs;       /* recv() after a zero-byte read, too */
    struct lb_loop_s *next_loop; /* the registry (win32_loops.c) */
    volatile LONG64 tick; /* GetTickCount64 of its last turn */
    int running;          /* in lb_loop_run (the registry's lock) */
    int ran;              /* it has been (the registry's lock) */
};

/* win32_loop.c */
void lb__stream_queue(lb_stream_t *s, unsigned what);
void lb__stream_op_done(lb_stream_t *s, lb__op_t *op, int status,
                        DWORD bytes);
void lb__resolve_done(void *req);
uint64_t lb__win_clock_ms(void);
/* ticks of a counter running at freq per second, in ms, without
 * overflowing for any tick count. */
uint64_t lb__win_ticks_to_ms(uint64_t ticks, uint64_t freq);

/* win32_loops.c: the registry of the process's loops. */
void lb__win_loops_add(lb_loop_t *loop);
void lb__win_loops_remove(lb_loop_t *loop);
/* A loop enters (1) or leaves (0) lb_loop_run. */
void lb__win_loops_running(lb_loop_t *loop, int running);
/* Posts key (with ov) to every loop; returns how many got it. */
unsigned lb__win_loops_post(ULONG_PTR key, void *ov);
unsigned lb__win_loops_count(void);
/* A stop for every loop (Ctrl+C, the service's STOP): each drains. */
void lb__win_request_stop(void);
/* PARAMCHANGE: the supervisor reloads (lb_run_workers). */
void lb__win_request_reload(void);
/* The port of lb_run_workers's supervisor (NULL: none); the loops tell
 * it they were made and took a reload. */
void lb__win_loops_supervise(HANDLE port);
void lb__win_loops_tell(ULONG_PTR key);
/* 1 if every loop in lb_loop_run has turned at or after `since`
 * (GetTickCount64): a hung loop holds the service's checkpoint. */
int lb__win_loops_turned_since(ULONGLONG since);
/* Back to no stop asked (the unit tests' service lives). */
void lb__win_loops_reset(void);
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
extern volatile LONG lb__win_unclean_closes;

/* win32_listener.c: attachments, and the listener's lifetime. */
void lb__listener_lock(lb_listener_t *l);
void lb__listener_unlock(lb_listener_t *l);
/* loop's attachment (under the lock), or NULL. */
lb__attach_t *lb__listener_attachment(lb_listener_t *l,
                                      const lb_loop_t *loop);
void lb__listener_ref(lb_listener_t *l);
void lb__listener_unref(lb_listener_t *l);
/* A KEY_LISTENER message reached the owner. */
void lb__listener_wake(lb_listener_t *l);
/* The owner has nothing of l's pending any more once it is closed. */
void lb__listener_done_check(lb_listener_t *l);

/* What listen() gets for backlog: SOMAXCONN_HINT above Winsock's quiet
 * cap of about 200. */
int lb__win_backlog(int backlog);

/* win32_accept.c: AcceptEx calls, and clients handed to loops. */
unsigned lb__accept_max(int backlog);
/* The owner starts posting accepts (its first attachment). */
void lb__accept_begin(lb_listener_t *l, lb_loop_t *owner);
/* Posts up to the target, while some attached loop is not paused. */
void lb__accept_post_more(lb_listener_t *l);
/* Held clients go on their way again (a loop resumed). */
void lb__accept_resume_held(lb_listener_t *l);
/* Closes the socket (the owner's thread, or any before there is one). */
void lb__accept_close(lb_listener_t *l);
void lb__listener_op_done(lb__accept_t *a, int status);
/* A client another loop's accept handed to loop (KEY_HANDOFF); with
 * serve 0 (the loop is going away) it is closed. */
void lb__accept_handed(lb_loop_t *loop, lb__handoff_t *h, int serve);
void lb__accept_free_slots(lb_listener_t *l);

/* win32_error.c */
int lb__win_error(int err);

/* win32_winsock.c */
int lb__winsock_init(void);
extern LPFN_ACCEPTEX lb__AcceptEx;
extern LPFN_CONNECTEX lb__ConnectEx;
extern LPFN_GETACCEPTEXSOCKADDRS lb__GetAcceptExSockaddrs;

#endif
