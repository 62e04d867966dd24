/* session_internal.h - what session.c (connecting, relaying, ending),
 * session_proxy.c (the PROXY protocol both ways, the bytes held for the
 * backend) and session_inspect.c (reading a client's first bytes to
 * choose its backends) share: the session and the steps each calls in
 * the others. */
#ifndef LB_SESSION_INTERNAL_H
#define LB_SESSION_INTERNAL_H

#include "lb_proxy_proto.h"
#include "lb_server.h"

/* How long a client may take to send its PROXY header when
 * connect_timeout is 0 (no limit is no option: it holds a slot). */
#define PROXY_TIMEOUT_MS 5000

/* The two directions a session relays, indexing its per-direction
 * state (and the statistics' byte counters). */
enum { TO_BACKEND = LB_STATS_IN, TO_CLIENT = LB_STATS_OUT };
enum { H_IDLE = 0, H_READING, H_WRITING, H_DONE };

/* Why a connection ended, for its log line; the first cause recorded
 * wins (a reset seen mid-transfer stays the reason even if the other way
 * then ends quietly). */
enum {
    END_NONE = 0,
    END_CLOSED,         /* both sides sent FIN */
    END_CLIENT_RESET,   /* the client reset, or could not be written to */
    END_BACKEND_RESET,  /* the same for the backend, once connected */
    END_IDLE,           /* idle_timeout */
    END_HALF_CLOSE,     /* silent too long after one side's FIN */
    END_CONNECT_FAILED, /* every backend tried failed */
    END_REFUSED,        /* every backend at max_conns */
    END_SHUTDOWN,       /* cut by the balancer: drain deadline, 2nd stop */
    END_PROXY,          /* accept_proxy: no valid header in time */
    END_ERROR,          /* a local failure (out of memory, a socket call) */
    END_NO_ROUTE,       /* no route, and the listener has no backends */
    END_MAINT,          /* cut: the backend's drain_timeout in maint */
    END_BACKEND_DOWN,   /* cut: checks took it out (check_on_down) */
    END_QUEUE_TIMEOUT,  /* waited queue_timeout for a slot in vain */
    END_QUEUE_LEFT      /* went away while waiting in the queue */
};


struct lb_session_s {
    lb_served_listener_t *sl;
    lb_group_t *group;       /* its backends, once chosen; else NULL */
    lb_list_t link;          /* in the server's sessions */
    lb_stream_t *client, *backend;
    lb_resolve_t *resolve;
    lb_timer_t timer;
    lb_tried_t tried;
    lb_addr_t client_addr;
    size_t backend_idx;
    char *buf[2];            /* in flight per direction, else NULL */
    unsigned char state[2];
    unsigned char bulk[2];   /* a read filled the buffer: try splicing */
    unsigned char closing, reset, connected;
    unsigned char counted;   /* backend_idx counts this connection */
    unsigned open_streams;   /* created and not yet closed-and-called-back */
    int attempts;
    uint64_t last_active;    /* loop time of the last byte either way */
    /* For the line logged when the connection ends. Bytes are counted as
     * they are read (or spliced) on their way, at no extra syscall. */
    uint64_t started;        /* loop time of the accept */
    uint64_t bytes[2];       /* per direction */
    uint32_t connect_ms;     /* accept to backend up, once connected */
    unsigned char end;       /* END_*: the first cause */
    /* PROXY protocol: the client's header while it comes in pieces, then
     * the header for the backend until it is written. */
    unsigned char pp_wait;   /* reading the client's header */
    /* Inspecting (routes, persist): the client's first bytes, read before
     * a backend is chosen, then relayed first, unchanged. Bits, in what
     * was padding: a plain listener's session is no larger for them. */
    unsigned char inspecting : 1;   /* reading them */
    unsigned char read_pending : 1; /* a client read the inspection
                                     * started is still out: the relay's */
    unsigned char client_eof : 1;   /* the client's FIN came meanwhile */
    unsigned char quiet : 1;        /* refused by a per-client limit: no
                                     * connection line (counts are logged) */
    unsigned char queued : 1;       /* waiting for a slot: opt->qlink */
    uint32_t held;           /* client bytes after its header (or read
                              * while inspecting), held in buf[TO_BACKEND]
                              * until the backend is up */
    lb_pp_buf_t pp;
    struct lb_session_opt_s *opt; /* on listeners that inspect or limit
                                   * clients only; else NULL */
};

/* What only a listener that reads first bytes, limits clients or queues
 * them needs of a session: allocated with it there, so others pay
 * nothing for it. */
typedef struct lb_session_opt_s {
    /* First bytes that took more than one read gather in ibuf (at most
     * LB_INSPECT_MAX bytes, freed once written: the one buffer beyond the
     * two of buffer_size a connection may hold). */
    char *ibuf;
    uint32_t ilen, icap;
    uint32_t need;              /* bytes before another look can tell */
    int has_dst;                /* accept_proxy's destination, kept for */
    lb_addr_t dst;              /* send_proxy until the group is known */
    uint64_t persist_key;       /* the mstshash cookie's; 0: none */
    long prefer;                /* a backend to try first (an RDP routing
                                 * token's, a cookie's), or -1 */
    lb_client_ref_t client_ref; /* its place in the client table */
    /* Waiting for a slot (session_queue.c, queue_timeout): its place in
     * its listener's queue and over every worker, since when. */
    lb_list_t qlink;
    struct lb_session_s *self;
    uint64_t ticket;
    uint64_t queued_at;
} lb_session_opt_t;

static inline lb_server_t *
server(const lb_session_t *sess)
{
    return sess->sl->srv;
}

static inline void
client_label(const lb_session_t *sess, char *buf, size_t size)
{
    lb_addr_format(&sess->client_addr, buf, size);
}

/* 1 if a line written at most once a second (the last at *last) may be
 * written now, which is then noted: a flood of clients must not flood
 * the log as well. */
static inline int
once_a_second(const lb_session_t *sess, uint64_t *last)
{
    uint64_t now = lb_loop_now(sess->sl->srv->loop);

    if (now - *last < 1000)
        return 0;
    *last = now;
    return 1;
}

/* session.c */
/* Ends the session now for reason (unless an earlier cause is on
 * record); reset = the peers see a reset. */
void lb__session_end(lb_session_t *sess, int reason, int reset);
/* Relays direction d from its source's next bytes on. */
void lb__session_read(lb_session_t *sess, int d);
void lb__session_sink_failed(lb_session_t *sess, int d);
void lb__session_on_write(lb_stream_t *s, int status);
/* The client is known (its PROXY header read, if one was expected):
 * per-client limits, then its first bytes if the listener inspects
 * them, then a backend. */
void lb__session_admit(lb_session_t *sess, const lb_pp_header_t *hdr);
/* Its backends are g's: our header for the backend, if any (to dst, the
 * destination a PROXY header named, or NULL), then one of them
 * (sess->prefer first). */
void lb__session_route(lb_session_t *sess, lb_group_t *g,
                       const lb_addr_t *dst);
/* The relay's reading of the client, and the end of it (its FIN). */
void lb__session_on_read(lb_stream_t *s, long nread, char *buf);
void lb__session_source_ended(lb_session_t *sess, int d);

/* A backend is chosen (sess->backend_idx): connect to it. */
void lb__session_try_backend(lb_session_t *sess);
/* Turns the client away at once (every backend full or taken out, or the
 * queue full: why). */
void lb__session_refuse(lb_session_t *sess, const char *why);

/* session_queue.c */
/* 1 if clients of g wait for a slot anywhere: a newcomer goes behind. */
int lb__queue_waiting(const lb_group_t *g);
/* The client waits for a slot (or is refused: max_queue). */
void lb__session_enqueue(lb_session_t *sess);
/* Out of the queue (served, gone, timed out, cut); nothing if not in. */
void lb__session_unqueue(lb_session_t *sess);
/* queue_timeout passed: reset, end=queue_timeout. */
void lb__session_queue_timed_out(lb_session_t *sess);
/* The client closed or reset while it waited: end=queue_left. */
void lb__session_queue_left(lb_session_t *sess);

/* session_proxy.c */
/* Our PROXY header for the backend (g's send_proxy), to dst (NULL: the
 * address the client connected to). */
int lb__session_prepare_header(lb_session_t *sess, const lb_group_t *g,
                               const lb_addr_t *dst);
void lb__session_expect_header(lb_session_t *sess);
void lb__session_header_timed_out(lb_session_t *sess);
/* The backend is connected: our header, the bytes held, then the relay. */
void lb__session_start_up(lb_session_t *sess);

/* session_inspect.c */
/* Reads the client's first bytes (those held already first), then routes
 * the session (lb__session_route). */
void lb__session_inspect(lb_session_t *sess);
void lb__session_inspect_timed_out(lb_session_t *sess);
/* The relay's first read of the client, after the bytes held: a read
 * the inspection left out delivers to it; a FIN that came is passed on. */
void lb__session_first_read(lb_session_t *sess);

#endif
