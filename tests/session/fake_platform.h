/* fake_platform.h - the scripted platform the session tests drive. */
#ifndef LB_FAKE_PLATFORM_H
#define LB_FAKE_PLATFORM_H

#include <stddef.h>

#include "lb_platform.h"
#include "common_timers.h"

#define FAKE_MAX_STREAMS 256
#define FAKE_MAX_LOOPS 4

struct lb_stream_s {
    void *data;
    lb_loop_t *loop;
    lb_addr_t addr, peer, local;
    lb_connect_cb connect_cb;
    lb_read_cb read_cb;
    lb_watch_cb watch_cb;
    lb_write_cb write_cb;
    lb_close_cb close_cb;
    char *wbuf;
    size_t wlen;
    int connecting, reading, writing, shut, closed, close_how;
    int watching;   /* lb_stream_watch, until fake_watch_fire or a read */
    int eof_next;   /* set by a test: what is delivered next is the last */
    int write_last; /* the pending write came from lb_stream_write_last */
    int data_first; /* made by lb_stream_connect_data */
    unsigned keepalive; /* lb_stream_keepalive's idle time */
    int keepalive_calls;
    int reset_on_exit; /* lb_stream_reset_on_exit was called */
    int close_delivered;
    char sent[1 << 16]; /* everything written to this stream */
    size_t nsent;
};

typedef struct fake_state_s {
    uint64_t now;
    lb_loop_t *loop;                   /* the last made */
    lb_loop_t *loops[FAKE_MAX_LOOPS];  /* every live one */
    int nloops;
    int share_process;         /* lb_workers_share_process: 0 unless set */
    lb_listener_t *listener;   /* the last started */
    int listener_closed, loop_stopped, listener_paused;
    lb_stream_t *streams[FAKE_MAX_STREAMS];
    size_t nstreams;
    lb_stream_t *last_connect;
    int nconnects;
    int connect_fails_at_once; /* lb_stream_connect returns this if set */
    long fd_limit;             /* lb_raise_fd_limit: 1024 unless set */
    uint64_t memory_bound;     /* lb_memory_bound: 0 unless set */

} fake_state_t;

extern fake_state_t fake;

/* Log outputs: lb_logout_std gives the process's own stdout and stderr;
 * lb_logout_open("fake:...") one writing into `written`, behaving as set
 * here when it is opened (not reset by fake_reset). */
typedef struct fake_log_s {
    char written[1 << 19];
    size_t nwritten;
    int full;        /* writes return LB_EAGAIN */
    int disk;        /* lb_logout_info's */
    size_t atomic;
    size_t max_write;     /* the largest write */
    int cut_writes;       /* writes that did not end a line */
    /* lb_log_lock (not recursive on Windows): taken while held, and
     * outputs closed while held (a close waits for the output's writer
     * on Windows, and every loop's lines wait for the lock). */
    int relocked;
    int closed_locked;
} fake_log_t;

extern fake_log_t fake_log;

void fake_reset(void);
void fake_advance(uint64_t ms);
void fake_stop_request(void); /* to every loop */
void fake_stop_on(lb_loop_t *loop);
/* The platform hands loop a reload's next run (lb_loop_on_reload). */
void fake_reload_request(lb_loop_t *loop, void *next);
int fake_loop_stopped(const lb_loop_t *loop);
/* Loops attached to l now; whether loop's attachment is paused. */
int fake_attached(lb_listener_t *l);
int fake_paused_on(lb_listener_t *l, const lb_loop_t *loop);
int fake_listener_closed(const lb_listener_t *l);
lb_stream_t *fake_accept(void); /* a client from 192.0.2.7 */
/* A client from host, or with no known address when host is NULL. */
lb_stream_t *fake_accept_from(const char *host);
/* The same, for the attached loop given (NULL: the first attached). */
lb_stream_t *fake_accept_on(lb_loop_t *loop, const char *host);
void fake_connected(lb_stream_t *s, int status);
/* N of the backend "10.0.0.N:80" a connect went to. */
int fake_backend_no(const lb_stream_t *s);
void fake_deliver(lb_stream_t *s, const char *bytes, size_t len, int err);
void fake_written(lb_stream_t *s, int status);
/* The watch on s completes with status (0: bytes wait; LB_EOF: the peer
 * closed; else an error). */
void fake_watch_fire(lb_stream_t *s, int status);
void fake_run_closes(void);

#endif
