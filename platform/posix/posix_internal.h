/* posix_internal.h - what the POSIX platform files share: the loop, the
 * watched descriptor, the stream, the readiness backend (poll() on every
 * system, epoll on Linux). */
#ifndef LB_POSIX_INTERNAL_H
#define LB_POSIX_INTERNAL_H

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common_loop.h"
#include "common_stream.h"
#include "lb_list.h"
#include "lb_platform.h"
#include "common_timers.h"

typedef struct lb__io_s lb__io_t;
typedef void (*lb__io_cb)(lb_loop_t *loop, lb__io_t *io, short revents);

/* With POLLIN: the peer's FIN has arrived (epoll's EPOLLRDHUP; poll never
 * reports it). Outside the POLL* bits every system defines. */
#define LB__PEER_FIN 0x4000
/* In a stream's ready bits, with either backend: urgent data (TCP's
 * out-of-band byte) came (EPOLLPRI, POLLPRI); a read stops short at its
 * mark with bytes still behind it, and splice cannot pass it at all.
 * Linux's POLLRDHUP has the same value, but poll is never asked for it. */
#define LB__URGENT 0x2000

/* Links an io into the epoll backend's list of ios to dispatch without
 * waiting (circular, so an io unlinks itself from whichever list). */

/* A watched descriptor. events is what its owner waits for (POLLIN,
 * POLLOUT); the rest is the backend's: index is its slot in loop->pfds or
 * -1 (poll), armed the mask registered with epoll or 0.
 * edge: the owner tells when it has drained the descriptor (a read or
 * write that came back EAGAIN or short: lb__io_drained), so the epoll
 * backend registers it once, edge-triggered, for both directions, and
 * keeps what is ready in `ready`; poll keeps only LB__URGENT there. */
struct lb__io_s {
    int fd;
    short events;
    short armed;
    short ready;
    unsigned char edge;
    long index;
    lb__io_cb cb;
    lb_list_t due; /* epoll, edge: ready and wanted, dispatch next round */
};

/* How the loop learns which descriptors are ready: posix_poll.c (portable)
 * or posix_epoll.c (Linux). Callbacks get poll() revents either way. */
typedef struct lb__backend_s {
    int (*init)(lb_loop_t *loop);
    int (*update)(lb_loop_t *loop, lb__io_t *io); /* io->events changed */
    /* io->fd may close next; closes_alone: it is closed right after, and
     * no other process has it, so the kernel forgets it anyway. */
    void (*remove)(lb_loop_t *loop, lb__io_t *io, int closes_alone);
    /* Waits at most timeout_ms, stamps the loop's clock, runs callbacks;
     * 0 or an LB_E* code. */
    int (*run_once)(lb_loop_t *loop, int timeout_ms);
    void (*free)(lb_loop_t *loop);
} lb__backend_t;

extern const lb__backend_t lb__poll_backend;
#ifdef __linux__
extern const lb__backend_t lb__epoll_backend;
#endif

struct lb__splice_s;

/* A stream's SO_LINGER: OFF (a close sends FIN), RESET ({1, 0}: a close,
 * or the process's end, sends RST), NONE (a UNIX socket: no reset to
 * send). */
enum { LB__LINGER_OFF = 0, LB__LINGER_RESET = 1, LB__LINGER_NONE = 2 };
/* The FINs a stream has seen: ours (lb_stream_shutdown), the peer's. */
enum { LB__FIN_SENT = 1, LB__FIN_READ = 2 };

struct lb_stream_s {
    lb__stream_base_t base; /* first: data, callbacks, completion queue */
    lb__io_t io;
    lb_loop_t *loop;
    /* Bytes, not ints: an idle connection is mostly this struct. */
    unsigned char read_hint;  /* last read filled the buffer: read again */
    unsigned char peer_fin;   /* the peer's FIN is in (LB__PEER_FIN) */
    unsigned char write_last; /* lb_stream_write_last: send with MSG_MORE */
    unsigned char nodelay_due; /* TCP_NODELAY still to set: NODELAY_* */
    unsigned char linger;     /* LB__LINGER_*: does close() reset? */
    unsigned char fins;       /* LB__FIN_SENT (shutdown), LB__FIN_READ */
    unsigned char watching;   /* lb_stream_watch: POLLIN is for a peek */
    unsigned char deferred;   /* a write waits in loop->deferred */
    int known_next;           /* the next read's result, if a look ahead
                                 found it (LB_EOF or an error), else 0 */
    unsigned forks_at_open;   /* lb__posix_forks when the socket was made */
    struct lb__splice_s *splice;     /* as source: a splice under way */
    struct lb__splice_s *splice_out; /* as sink: a splice under way */
    lb_timer_t drain;       /* LB_CLOSE_DRAIN_RESET: waiting for acks */
    uint64_t drain_until;
};

struct lb_listener_s {
    lb__io_t io;
    lb_loop_t *loop;
    lb_accept_cb cb;
    void *data;
    lb_timer_t pause; /* accepting paused after EMFILE */
    uint64_t last_emfile_log;
    int paused;       /* by the core: a connection limit was reached */
    int accepting;    /* in on_accept: a callback may close l ... */
    int closed;       /* its socket (detached) ... */
    int unbound;      /* ... or l itself (the binder's close), which
                       * on_accept then frees */
    unsigned char linger; /* what accepted streams inherit: LB__LINGER_* */
};

struct lb_loop_s {
    lb__loop_base_t base; /* first: timers, clock, completions, stops */
    const lb__backend_t *backend;
    int error;           /* a backend failure no caller could be told of */
    struct pollfd *pfds; /* poll: the set, and whose entry each is */
    lb__io_t **ios;
    size_t n, cap;
    struct lb__epoll_s *epoll; /* epoll: its descriptor and batch */
    lb_stream_t **deferred;    /* writes to start as the batch ends */
    size_t ndeferred, cap_deferred;
    int max_fd;
    lb__io_t sig_io;     /* self-pipe read end */
    lb__io_t life_io;    /* parent's control pipe (workers only) */
    struct lb__resolver_s *resolver;
    struct lb__splice_s *free_pipes; /* empty pipes kept for splicing */
    unsigned nfree_pipes;
};

/* posix_loop.c */
int lb__io_start(lb_loop_t *loop, lb__io_t *io, short events);
void lb__io_stop(lb_loop_t *loop, lb__io_t *io, short events);
void lb__io_remove(lb_loop_t *loop, lb__io_t *io);
void lb__io_remove_closing(lb_loop_t *loop, lb__io_t *io);
/* The owner of an edge io found no more to read (POLLIN) or no room to
 * write (POLLOUT) for now: the next edge will say when there is. */
void lb__io_drained(lb__io_t *io, short events);
/* Forks made by this process so far: a descriptor opened after the last
 * one is in no other process. */
extern unsigned lb__posix_forks;
void lb__stream_queue(lb_stream_t *s, unsigned what);
void lb__loop_note_fd(lb_loop_t *loop, int fd);
void lb__loop_fail(lb_loop_t *loop, int err);
uint64_t lb__posix_clock_ms(void);

/* Starts the writes the batch so far asked for (lb_stream_write defers
 * them to the end of the batch of events that led to them). */
void lb__flush_writes(lb_loop_t *loop);

/* posix_socket.c */
int lb__posix_nonblock(int fd);
int lb__posix_socket(int family);
/* nodelay: the stream needs TCP_NODELAY (an accepted socket on Linux has
 * it already, from its listener); it is set before the second send. */
lb_stream_t *lb__stream_new(lb_loop_t *loop, int fd, int nodelay);
/* SO_LINGER {1, 0} on fd: a close, or the process's end, resets. */
int lb__posix_linger_reset(int fd);
/* Sets TCP_NODELAY now if the stream still lacks it: before any send but
 * the first, and before a splice into it. */
void lb__stream_nodelay(lb_stream_t *s);

/* posix_misc.c: after fork(), in the child (lb_getpid caches the pid). */
void lb__posix_forget_pid(void);

/* posix_error.c */
int lb__posix_error(int err);
int lb__gai_error(int rc);

/* posix_signal.c */
int lb__posix_signals_init(int *read_fd);
void lb__posix_signals_reset(void);
int lb__posix_signals_watch(int signo);
/* Set in a worker before its loop exists: the parent's lifeline pipe. */
extern int lb__posix_lifeline_fd;
/* Workers leave SIGINT to the parent (a terminal sends it to the group). */
extern int lb__posix_is_worker;

/* What a read reports at the end of s's stream: LB_EOF, or the error a
 * write into s took (lb__stream_end). */
long lb__stream_at_end(lb_stream_t *s);

/* posix_splice.c */
void lb__splice_step(struct lb__splice_s *sp);
void lb__splice_abort(lb_stream_t *s);
void lb__splice_free_pool(lb_loop_t *loop);

/* posix_resolve.c */
void lb__resolver_free(lb_loop_t *loop);

#endif
