/* posix_internal.h - what the POSIX platform files share: the loop, the
 * watched descriptor, the stream. poll() based; nothing Linux-only. */
#ifndef LB_POSIX_INTERNAL_H
#define LB_POSIX_INTERNAL_H

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lb_platform.h"
#include "lb_timers.h"

typedef struct lb__io_s lb__io_t;
typedef void (*lb__io_cb)(lb_loop_t *loop, lb__io_t *io, short revents);

/* A descriptor in the poll set. index is its slot in loop->pfds, or -1. */
struct lb__io_s {
    int fd;
    short events;
    long index;
    lb__io_cb cb;
};

/* Deferred completions, so that no callback runs inside the call that
 * started its operation. */
enum {
    LB__DONE_CONNECT = 1,
    LB__DONE_READ = 2,
    LB__DONE_WRITE = 4,
    LB__DONE_CLOSE = 8
};

struct lb_stream_s {
    lb__io_t io;
    lb_loop_t *loop;
    void *data;
    int closing;
    int read_hint;       /* last read filled the buffer: try again at once */
    unsigned done;       /* LB__DONE_* waiting in the pending queue */
    int queued;
    lb_stream_t *next_pending;
    lb_connect_cb connect_cb;
    int connect_status;
    lb_read_cb read_cb;
    long read_result;
    char *read_buf;
    lb_write_cb write_cb;
    char *wbuf;
    size_t wlen, woff;
    int write_status;
    lb_close_cb close_cb;
};

struct lb_listener_s {
    lb__io_t io;
    lb_loop_t *loop;
    lb_accept_cb cb;
    void *data;
    lb_timer_t pause; /* accepting paused after EMFILE */
    uint64_t last_emfile_log;
};

struct lb_loop_s {
    struct pollfd *pfds;
    lb__io_t **ios;
    size_t n, cap;
    lb_timer_heap_t timers;
    uint64_t now;
    int stopped;
    int max_fd;
    lb_allocator_t alloc;
    lb_stream_t *pending_head, *pending_tail;
    lb__io_t sig_io;     /* self-pipe read end */
    lb__io_t life_io;    /* parent's lifeline (workers only) */
    lb_stop_cb stop_cb;
    void *stop_data;
    int stop_count;
    struct lb__resolver_s *resolver;
};

/* posix_loop.c */
int lb__io_start(lb_loop_t *loop, lb__io_t *io, short events);
void lb__io_stop(lb_loop_t *loop, lb__io_t *io, short events);
void lb__io_remove(lb_loop_t *loop, lb__io_t *io);
void lb__stream_queue(lb_stream_t *s, unsigned what);
void lb__loop_note_fd(lb_loop_t *loop, int fd);
void lb__loop_request_stop(lb_loop_t *loop);
uint64_t lb__posix_clock_ms(void);

/* posix_socket.c */
int lb__posix_nonblock(int fd);
int lb__posix_socket(int family);
lb_stream_t *lb__stream_new(lb_loop_t *loop, int fd);

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

/* posix_resolve.c */
void lb__resolver_free(lb_loop_t *loop);

#endif
