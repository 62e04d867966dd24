/* lb_platform.h - the one seam between the portable core (src/) and the
 * operating system (platform/posix, platform/win32).
 *
 * Completion style, after libuv: every operation is started by a call and
 * ends in exactly one callback, never from inside the call that started it.
 * POSIX emulates it over poll() (epoll on Linux); Windows implements it
 * with IOCP.
 *
 * Rules the core relies on:
 *  - One outstanding read and one outstanding write per stream.
 *  - A read takes a buffer from the loop's allocator only when data is ready,
 *    so an idle stream holds no buffer.
 *  - A write completes only when every byte was sent (or on error).
 *  - After lb_stream_close() no callback of that stream runs except its
 *    close callback; when that runs, the platform holds no buffer it was
 *    given and the stream is freed.
 *  - Functions return 0 or a negative LB_E* code.
 */
#ifndef LB_PLATFORM_H
#define LB_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Exit statuses, documented in README and --help; the platforms return
 * them too (a worker that failed, a bad service command line). */
#define LB_EXIT_OK 0
#define LB_EXIT_FAILURE 1 /* runtime failure */
#define LB_EXIT_USAGE 2   /* bad command line */
#define LB_EXIT_CONFIG 3  /* config file unreadable or invalid */
#define LB_EXIT_BIND 4    /* a listener could not be bound */

/* Error codes: one table, translated from errno / WSA codes in one place
 * per platform. */
#define LB_ERRNO_MAP(X)                                         \
    X(EOF, -4095, "end of stream")                              \
    X(ECANCELED, -4094, "operation canceled")                   \
    X(ECONNREFUSED, -4093, "connection refused")                \
    X(ETIMEDOUT, -4092, "timed out")                            \
    X(ECONNRESET, -4091, "connection reset by peer")            \
    X(EADDRINUSE, -4090, "address already in use")              \
    X(EACCES, -4089, "permission denied")                       \
    X(ENOMEM, -4088, "out of memory")                           \
    X(EMFILE, -4087, "too many open files")                     \
    X(EHOSTUNREACH, -4086, "host unreachable")                  \
    X(ENETUNREACH, -4085, "network unreachable")                \
    X(EPIPE, -4084, "broken pipe")                              \
    X(EADDRNOTAVAIL, -4083, "address not available")            \
    X(ENOENT, -4082, "no such file or directory")               \
    X(EAI_NONAME, -4081, "name does not resolve")               \
    X(EAI_AGAIN, -4080, "temporary name resolution failure")    \
    X(EINVAL, -4079, "invalid argument")                        \
    X(EAGAIN, -4078, "resource temporarily unavailable")        \
    X(EIO, -4077, "input/output error")                         \
    X(ENOTSUP, -4076, "operation not supported")                \
    X(ENOBUFS, -4075, "no buffer space available")              \
    X(ENOTCONN, -4074, "socket is not connected")               \
    X(ENETDOWN, -4073, "network is down")

enum {
#define LB_ERR_ENUM(name, val, msg) LB_##name = (val),
    LB_ERRNO_MAP(LB_ERR_ENUM)
#undef LB_ERR_ENUM
    LB_EOTHER = -4000 /* platform code with no LB_ mapping */
};

/* Human-readable text for any code this interface returns. */
const char *lb_strerror(int err);

/* An IPv4, IPv6 or (POSIX) UNIX-socket address, stored by value. */
typedef struct lb_addr_s {
    union {
        unsigned char bytes[112]; /* sizeof(struct sockaddr_un) is 110 */
        uint64_t align;
    } u;
    uint32_t len;
} lb_addr_t;

#define LB_ADDRSTRLEN 64 /* "[ffff:...:ffff]:65535" fits */

/* Parses a numeric IPv4 ("1.2.3.4") or IPv6 ("::1", without brackets)
 * host. Returns 0 or LB_EINVAL. */
int lb_addr_from_numeric(const char *host, uint16_t port, lb_addr_t *out);
/* A UNIX-socket path (a backend "unix:PATH"). LB_EINVAL if it is empty
 * or too long for the system, LB_ENOTSUP where there are none to connect
 * to (Windows). */
int lb_addr_from_unix(const char *path, lb_addr_t *out);
/* Wildcard address: IPv4 0.0.0.0 or IPv6 ::. */
void lb_addr_any(int ipv6, uint16_t port, lb_addr_t *out);
/* Resolves a name, blocking (start-up only). IPv4 first, as the original's
 * gethostbyname(), then IPv6. */
int lb_addr_resolve(const char *host, uint16_t port, lb_addr_t *out);
/* "1.2.3.4:80", "[::1]:80" or "unix:PATH" (cut to size); always
 * NUL-terminated. */
void lb_addr_format(const lb_addr_t *addr, char *buf, size_t size);
uint16_t lb_addr_port(const lb_addr_t *addr);
int lb_addr_equal(const lb_addr_t *a, const lb_addr_t *b);
/* The IP address of addr in network byte order, as the core compares
 * addresses without socket headers: returns 4 (IPv4) or 16 (IPv6, an
 * IPv4-mapped one as it is) bytes written to out, or 0 if addr holds no
 * IP address. */
int lb_addr_ip(const lb_addr_t *addr, unsigned char out[16]);
/* An address from a raw IP (len 4 or 16) and a port; 0 or LB_EINVAL. */
int lb_addr_from_ip(const unsigned char *ip, size_t len, uint16_t port,
                    lb_addr_t *out);

typedef struct lb_loop_s lb_loop_t;
typedef struct lb_stream_s lb_stream_t;
typedef struct lb_listener_s lb_listener_t;
typedef struct lb_resolve_s lb_resolve_t;
typedef struct lb_timer_s lb_timer_t;

typedef void (*lb_timer_cb)(lb_timer_t *timer);
/* status < 0: accepting failed (LB_EMFILE: out of descriptors); the
 * platform pauses the listener briefly by itself, s is NULL. peer is the
 * client's address where the accept call gave it (valid during the call),
 * else NULL: then lb_stream_peer asks. */
typedef void (*lb_accept_cb)(lb_listener_t *l, lb_stream_t *s,
                             const lb_addr_t *peer, int status, void *data);
typedef void (*lb_connect_cb)(lb_stream_t *s, int status);
/* nread > 0: buf holds nread bytes and now belongs to the core.
 * nread < 0: LB_EOF or an error; no buffer. */
typedef void (*lb_read_cb)(lb_stream_t *s, long nread, char *buf);
typedef void (*lb_write_cb)(lb_stream_t *s, int status);
typedef void (*lb_close_cb)(lb_stream_t *s);
/* nmoved > 0: that many bytes went from src to dst. Else LB_EOF at the
 * source's end, LB_ENOTSUP when src has bytes that cannot be spliced
 * (read them instead), or an error: at_sink says whether dst (1) or src
 * (0) failed. */
typedef void (*lb_splice_cb)(lb_stream_t *src, long nmoved, int at_sink);
/* status 0: the peer sent bytes, which wait unread; LB_EOF: it closed
 * (FIN) with nothing unread; else an error (a reset). */
typedef void (*lb_watch_cb)(lb_stream_t *s, int status);
/* Why a loop is asked to stop. */
typedef enum {
    LB_STOP_RETIRE = 0, /* replaced by a reload (POSIX): drain with no
                         * deadline, since a reload must cut nothing */
    LB_STOP_DRAIN,      /* the first stop request: drain, then cut */
    LB_STOP_NOW         /* asked again: cut what is left at once */
} lb_stop_reason_t;
typedef void (*lb_stop_cb)(lb_loop_t *loop, lb_stop_reason_t why,
                           void *data);
/* next: the ctx of the lb_run_spec_t that lb_run_spec_t.reload made. */
typedef void (*lb_reload_cb)(lb_loop_t *loop, void *next, void *data);
typedef void (*lb_resolve_cb)(lb_resolve_t *req, int status,
                              const lb_addr_t *addr, void *data);

/* Buffers come from the core; the platform takes one when a read has data
 * and hands it back through the read callback (or put() if the data turned
 * out not to be there after all). */
typedef struct lb_allocator_s {
    char *(*get)(void *ctx);
    void (*put)(void *ctx, char *buf);
    void *ctx;
    size_t size;
} lb_allocator_t;

/* Timers are embedded in core structures; fields are the platform's. */
struct lb_timer_s {
    lb_loop_t *loop;
    lb_timer_cb cb;
    void *data;
    uint64_t due;     /* loop time in ms */
    size_t heap_index; /* (size_t)-1 when not armed */
};

/* ---- loop ---- */
int lb_loop_new(lb_loop_t **out, const lb_allocator_t *alloc);
/* Runs until lb_loop_stop(); returns 0 or an error. */
int lb_loop_run(lb_loop_t *loop);
void lb_loop_stop(lb_loop_t *loop);
void lb_loop_free(lb_loop_t *loop);
/* Monotonic milliseconds, cached per loop iteration. */
uint64_t lb_loop_now(lb_loop_t *loop);
/* cb runs (in the loop) each time a stop is requested: SIGTERM/SIGINT, the
 * parent going away, Ctrl+C, SERVICE_CONTROL_STOP (LB_STOP_DRAIN the
 * first time, LB_STOP_NOW after), or when a reload replaced this worker
 * (LB_STOP_RETIRE, POSIX). */
void lb_loop_on_stop(lb_loop_t *loop, lb_stop_cb cb, void *data);
/* cb runs (in the loop) when the platform hands the loop a reload that
 * lb_run_spec_t.reload made (Windows: once for every loop of the process,
 * after SERVICE_CONTROL_PARAMCHANGE). POSIX replaces its worker processes
 * instead, and never calls it. */
void lb_loop_on_reload(lb_loop_t *loop, lb_reload_cb cb, void *data);

void lb_timer_init(lb_loop_t *loop, lb_timer_t *t, lb_timer_cb cb,
                   void *data);
void lb_timer_start(lb_timer_t *t, uint64_t ms);
void lb_timer_stop(lb_timer_t *t);
int lb_timer_active(const lb_timer_t *t);

/* ---- listeners: bound before the loop (and before fork) ----
 * A listener is bound once and served by loops that attach to it: each
 * loop that starts it is attached, with its own callback and its own
 * pause, until it detaches. Where one process runs several loops
 * (Windows: lb_run_workers), one of them keeps the accept calls posted
 * and hands each client to the attached loop with the fewest open
 * connections that is not paused; the client's callbacks then all run
 * on that loop. The socket closes when the last loop detaches. Where
 * each worker is a process (POSIX), every process has its own copy and a
 * loop's attachment is that copy. */
int lb_listener_bind(const lb_addr_t *addr, int backlog, lb_listener_t **out);
/* Attaches loop: accepted clients may go to cb/data, on loop. */
int lb_listener_start(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                      void *data);
/* loop's accepts go to cb/data from now on, and it accepts again if it
 * was paused: an in-process reload hands a socket over to the new
 * configuration without closing it. loop must be attached. */
void lb_listener_handover(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                          void *data);
/* Stops (paused = 1) or resumes giving loop clients; while every
 * attached loop is paused, new clients wait in the listen backlog. */
void lb_listener_pause(lb_loop_t *loop, lb_listener_t *l, int paused);
/* loop serves l no more; the socket closes once no loop is attached. */
void lb_listener_detach(lb_loop_t *loop, lb_listener_t *l);
/* The binder's close (the run that bound it is freed, a failed bind is
 * undone): closes the socket at once if it is still open. The memory goes
 * once no loop is attached either (POSIX: this process's copy, at once).
 * A loop may detach before it, never after. */
void lb_listener_close(lb_listener_t *l);

/* ---- streams ---- */
int lb_stream_connect(lb_loop_t *loop, const lb_addr_t *addr,
                      lb_connect_cb cb, void *data, lb_stream_t **out);
/* As lb_stream_connect, for a caller that writes first, as soon as the
 * connect completes: the handshake's last ACK may then wait to go with
 * those bytes (Linux: TCP_QUICKACK off), one packet instead of two. */
int lb_stream_connect_data(lb_loop_t *loop, const lb_addr_t *addr,
                           lb_connect_cb cb, void *data, lb_stream_t **out);
int lb_stream_read(lb_stream_t *s, lb_read_cb cb);
/* Waits for the peer of s to send or to go, reading nothing and holding
 * no buffer (a client waiting in a queue): one callback, as lb_watch_cb
 * says. It occupies the read slot; an lb_stream_read started before the
 * callback takes the watch over (the read completes as usual, the watch's
 * callback never runs). POSIX: readiness, then a one-byte MSG_PEEK;
 * Windows: the zero-byte WSARecv reads use, then the same peek. */
int lb_stream_watch(lb_stream_t *s, lb_watch_cb cb);
int lb_stream_write(lb_stream_t *s, char *buf, size_t len, lb_write_cb cb);
/* 1 when the bytes s's last read delivered were its last: its next read
 * reports LB_EOF at once. 0 when the platform cannot tell yet; the next
 * read then finds out as usual. */
int lb_stream_eof_next(const lb_stream_t *s);
/* lb_stream_write for bytes that a shutdown or close of s follows at once
 * (and nothing else may come between): the platform may send them with
 * the FIN, one packet instead of two. Elsewhere as lb_stream_write. */
int lb_stream_write_last(lb_stream_t *s, char *buf, size_t len,
                         lb_write_cb cb);
/* Moves up to max bytes from src to dst inside the kernel, with no user
 * buffer between (Linux: splice through a pipe): takes what src has, and
 * completes once all of it was written to dst. Occupies src's read slot
 * and dst's write slot. Returns LB_ENOTSUP at once where the platform has
 * no such path (or no pipe is to be had); the core then reads and
 * writes. */
int lb_stream_splice(lb_stream_t *src, lb_stream_t *dst, size_t max,
                     lb_splice_cb cb);
/* Half-close: sends FIN after what was written; reading goes on. */
int lb_stream_shutdown(lb_stream_t *s);
#define LB_CLOSE_NORMAL 0
#define LB_CLOSE_RESET 1 /* abortive: the peer sees a reset */
/* A reset too, but only once what was written has reached the peer (or
 * a bound passed): how a backend's reset is passed to a slow client
 * without losing the bytes before it. Platforms that cannot tell reset at
 * once. */
#define LB_CLOSE_DRAIN_RESET 2
void lb_stream_close(lb_stream_t *s, int how, lb_close_cb cb);
/* From now on, should this process end without closing s (killed,
 * crashed), the peer sees a reset, not a clean end: a cut transfer must
 * not look complete. lb_stream_close(LB_CLOSE_NORMAL) still sends a FIN.
 * For relayed streams; best effort (0, or an error the stream works on
 * despite). */
int lb_stream_reset_on_exit(lb_stream_t *s);
void *lb_stream_data(const lb_stream_t *s);
void lb_stream_set_data(lb_stream_t *s, void *data);
int lb_stream_peer(const lb_stream_t *s, lb_addr_t *out);
/* The local end of a stream (for an accepted one, the address the client
 * connected to). */
int lb_stream_local(const lb_stream_t *s, lb_addr_t *out);
/* TCP keepalive on a TCP stream (tcp_keepalive): after idle_s seconds
 * without a byte either way the system probes the peer, every
 * LB_KEEPALIVE_INTERVAL(idle_s) seconds (a tenth, at least 1), and drops
 * the connection after LB_KEEPALIVE_PROBES unanswered probes (the count
 * Windows uses and cannot change): a dead peer is given up about 2 x
 * idle_s after its last byte. 0 turns keepalive off. */
#define LB_KEEPALIVE_PROBES 10
#define LB_KEEPALIVE_INTERVAL(idle_s) ((idle_s) >= 10 ? (idle_s) / 10 : 1u)
int lb_stream_keepalive(lb_stream_t *s, unsigned idle_s);

/* ---- name resolution without blocking the loop ---- */
int lb_resolve_start(lb_loop_t *loop, const char *host, uint16_t port,
                     lb_resolve_cb cb, void *data, lb_resolve_t **out);
/* The callback will not run; safe until the callback has run. */
void lb_resolve_cancel(lb_resolve_t *req);

/* ---- processes ---- */
/* A counter every worker process can bump; lives in lb_shared_alloc()
 * memory. Returns the value before the increment. */
typedef struct lb_counter_s {
    volatile unsigned long value;
} lb_counter_t;
unsigned long lb_counter_next(lb_counter_t *c);

/* A 64-bit value several worker processes read and update at once (backend
 * health, connections per backend); lives in lb_shared_alloc() memory. */
typedef struct lb_atomic_s {
    volatile int64_t value;
} lb_atomic_t;
int64_t lb_atomic_load(lb_atomic_t *a);
void lb_atomic_store(lb_atomic_t *a, int64_t v);
/* Adds delta; returns the new value. */
int64_t lb_atomic_add(lb_atomic_t *a, int64_t delta);
/* Sets desired if the value is expected; 1 if it did. */
int lb_atomic_cas(lb_atomic_t *a, int64_t expected, int64_t desired);

/* Memory visible to every worker process (MAP_SHARED before fork on POSIX;
 * plain memory where there is one process). Zero-filled. */
void *lb_shared_alloc(size_t size);
/* This process's view of it goes; workers keep theirs. */
void lb_shared_free(void *p, size_t size);
/* 1 where the workers are loop threads of one process (Windows): they
 * live through a reload (so `processes` and `buffer_size` wait for the
 * next start), share the process's limits, and one of them serves what
 * needs one server only (the statistics); 0 where each worker is a
 * process of its own (POSIX). */
int lb_workers_share_process(void);
/* Processors this process may run on, for `processes = auto`: the online
 * CPUs (POSIX), the active processors of every processor group
 * (Windows); at least 1. */
unsigned lb_cpu_count(void);

/* A worker creates a loop, serves the listed listeners until a stop has
 * drained, and returns its exit status. slot tells the workers of one
 * listener apart (0 .. processes-1); a restarted worker keeps its slot. */
typedef int (*lb_worker_fn)(const size_t *listener_index, size_t n,
                            unsigned slot, void *ctx);
typedef struct lb_run_spec_s {
    lb_listener_t **listeners;
    size_t nlisteners;
    unsigned processes;  /* workers per listener (POSIX); loops (Windows) */
    uint64_t stop_timeout_ms; /* how long a worker may drain after a stop */
    lb_worker_fn worker;
    void *ctx;
    /* Supervisor messages (worker died, restarting, stopping). */
    void (*log)(int is_error, const char *msg);
    /* A reload was asked for (SIGHUP, PARAMCHANGE): 0 with *next filled
     * in, the new workers' spec (listeners with an unchanged address are
     * the same objects); else the current spec stays. Called once per
     * reload, by the supervisor, never on a loop. */
    int (*reload)(void *ctx, struct lb_run_spec_s *next);
} lb_run_spec_t;
/* Runs workers until they all stop; returns the exit status. POSIX: forks
 * one process per listener and slot, restarts one that dies, forwards a
 * stop, and replaces every worker at a reload. Windows: one process with
 * `processes` loop threads (slots 0 .. processes-1), each serving every
 * listener; stops go to every loop, and a reload's next spec is handed to
 * each loop (lb_loop_on_reload), one reload at a time; a loop that fails
 * stops the others. Every listener of the final spec is closed by then
 * and its entry set to NULL. */
int lb_run_workers(lb_run_spec_t *spec);

/* ---- platform command lines and system logs ---- */
/* What the core offers the platform's own command lines. */
typedef struct lb_core_entry_s {
    /* The whole run for one config file: load, bind, serve until
     * stopped; returns the exit status. */
    int (*run)(const char *config_path);
    /* How long a stop may drain under that config file
     * (graceful_shutdown_timeout), in ms: 0, or an exit status with the
     * reason logged. A Windows service's preshutdown timeout. */
    int (*stop_timeout)(const char *config_path, uint64_t *ms);
} lb_core_entry_t;
/* Command lines only one platform has (Windows: --service CFG,
 * --install-service [CFG], --configure-service [CFG],
 * --uninstall-service, --reload-service). Returns an exit status, or -1
 * when argv is none of them. */
int lb_platform_main(int argc, char **argv, const lb_core_entry_t *core);
/* Usage lines for those commands ("" where there are none). */
const char *lb_platform_usage(void);
/* Usage lines on how a graceful stop is asked for on this platform. */
const char *lb_platform_stop_usage(void);
/* Kinds of notable events for the system's log, ordered by severity: the
 * platform gives each its own entry (Windows: an Event Log ID of
 * platform/win32/messages.mc) and the core needs no system's numbers. */
typedef enum {
    LB_EVENT_STARTING = 0, /* informational */
    LB_EVENT_STOPPED,      /* stopped, exit status 0 */
    LB_EVENT_RELOADING,
    LB_EVENT_RELOADED,
    LB_EVENT_RELOAD_FAILED, /* warnings from here on: the old config stays */
    LB_EVENT_UNSAFE_CONFIG, /* the config file can be written by others */
    LB_EVENT_CONFIG_ERROR,  /* errors from here on: start refused */
    LB_EVENT_FATAL,         /* start failed otherwise (cannot listen) */
    LB_EVENT_FAILED,        /* stopped with a non-zero exit status */
    LB_EVENT_KINDS
} lb_event_t;
#define LB_EVENT_FIRST_WARNING LB_EVENT_RELOAD_FAILED
#define LB_EVENT_FIRST_ERROR LB_EVENT_CONFIG_ERROR
/* A notable event for the system's log: the Windows Event Log when
 * running as a service; nothing on POSIX (the service manager keeps
 * stdout and stderr). */
void lb_platform_event(lb_event_t kind, const char *msg);
/* Held by the core's log writer while it writes one line or switches the
 * log file, so lines written by several loops of one process never
 * interleave and no loop writes to a file a reload has closed. A no-op
 * where each worker is a single-threaded process. */
void lb_log_lock(void);
void lb_log_unlock(void);

/* ---- privileges ---- */
/* Switches the process to user (and group, else the user's group) after
 * the listeners are bound, and checks root cannot be had back. Writes a
 * reason to err on failure. Windows: the service account decides, so a
 * user is refused with a reason. */
int lb_drop_privileges(const char *user, const char *group, char *err,
                       size_t errlen);
/* 1 if someone other than the file's trusted owners can change it: on
 * POSIX its group or others (mode bits); on Windows an account other than
 * SYSTEM, Administrators, the service's own SID or the user running it
 * (not a shared service account) has write access in its DACL, owns it,
 * or can replace it through its folder. Then who holds that access and
 * how to remove it is written to why (always NUL-terminated). */
int lb_file_writable_by_others(const char *path, char *why, size_t whylen);
/* 1 if the file's owner is neither root nor the user who started the
 * program (then that owner decides where traffic goes); 0 where it
 * cannot tell (Windows: lb_file_writable_by_others checks the ACL). */
int lb_file_owner_foreign(const char *path);
/* 1 when running as root (POSIX), where `user` should be set. */
int lb_running_as_root(void);

/* ---- log outputs: written without waiting for a reader ---- */
typedef struct lb_logout_s lb_logout_t;

/* How the core must write an output. */
typedef struct lb_logout_info_s {
    /* Writing may wait for a disk (a regular file), which no descriptor
     * flag prevents: the core writes it from a timer, never on the
     * relay's path. */
    int disk;
    /* A write of at most this many bytes is never cut nor mixed with
     * another process's (PIPE_BUF for a pipe); 0: every write is (a file
     * opened for appending). */
    size_t atomic;
    int crlf; /* lines end in "\r\n" (Windows) */
    /* A log file standing for stdout and stderr (a Windows service's):
     * every line gets its stamp, start-up errors too. */
    int stamped;
} lb_logout_info_t;

/* The standard output (which = 1) or error (which = 2) as a log output;
 * *out is NULL when it is closed. Both are the same object when they are
 * the same file or pipe (close it once), so their lines keep their order.
 * A Windows service has none: its log file stands for both
 * (%ProgramData%\PumpkinLB\pumpkinlb.log). */
int lb_logout_std(int which, lb_logout_t **out, char *err, size_t errlen);
/* Opens path to append to: created with mode 0640; never through a
 * symbolic link nor to a file with other names (a hard link), since root
 * may open it where the service's user can plant one; not inherited by
 * other programs. Windows: shared for deleting, so that it can be renamed
 * while open. 0, or an LB_E* code with the reason in err. */
int lb_logout_open(const char *path, lb_logout_t **out, char *err,
                   size_t errlen);
void lb_logout_info(const lb_logout_t *o, lb_logout_info_t *info);
/* Writes up to len bytes, never waiting for a reader (a disk may still
 * take its time): the count written, LB_EAGAIN when there is no room, or
 * another LB_E* code. */
long lb_logout_write(lb_logout_t *o, const char *buf, size_t len);
/* Waits at most ms for o to have room and, where the platform holds lines
 * itself (Windows: a thread writes them), for them to be written: the
 * last flush before exit. 1 once the platform holds nothing unwritten. */
int lb_logout_wait(lb_logout_t *o, int ms);
/* Lines o took but then failed to write since the last call (Windows'
 * writer thread), to be counted as dropped; 0 where writes fail at once. */
unsigned long lb_logout_lost(lb_logout_t *o);
/* Opens again the file o was opened on by name (lb_logout_open, a Windows
 * service's log), for a reload after it was renamed; nothing for another
 * output. 0, or an LB_E* code with the reason in err (o is unchanged). */
int lb_logout_reopen(lb_logout_t *o, char *err, size_t errlen);
/* Rotation by size, where this process is the file's only writer
 * (Windows): before a write takes it past max bytes, NAME.(keep-1) becomes
 * NAME.keep, ..., NAME becomes NAME.1 and a new NAME begins; max 0 =
 * never. LB_ENOTSUP where it cannot (POSIX: the worker processes share
 * it; logrotate does it), or for an output with no name. */
int lb_logout_rotate_at(lb_logout_t *o, uint64_t max, unsigned keep);
/* When running as root: makes the file o was opened on owned by user (as
 * lb_drop_privileges takes it) and writable by it, so that a reload run as
 * that user can reopen it. 0 where there is nothing to do. */
int lb_logout_give(lb_logout_t *o, const char *user, char *err,
                   size_t errlen);
void lb_logout_close(lb_logout_t *o);

/* path as seen from the directory of the file base (a config file):
 * path itself if it is absolute, else joined to that directory and made
 * absolute. malloc'd; NULL if out of memory. */
char *lb_path_beside(const char *base, const char *path);
/* 1 if the file can be read by its group or by others (a secret's file);
 * 0 where mode bits do not say (Windows: ACLs). */
int lb_file_readable_by_others(const char *path);
/* 1 if the file's access list lets an account other than its trusted
 * owners (as lb_file_writable_by_others counts them) read it, with who in
 * why (Windows); 0 where mode bits say it (lb_file_readable_by_others) or
 * it cannot tell. */
int lb_file_acl_readable_by_others(const char *path, char *why,
                                   size_t whylen);

/* ---- odds and ends ---- */
/* Local time for log stamps; 0 on success. */
int lb_localtime(time_t t, struct tm *out);
/* Raises the descriptor limit as far as allowed; returns the limit, or 0
 * where there is none (Windows). */
long lb_raise_fd_limit(void);
/* Physical memory in bytes where it, not a descriptor limit, bounds the
 * connections one process can hold: on Windows, which has no descriptor
 * limit, every socket's buffers come from the kernel's non-paged pool, and
 * a flood of connections exhausts it for every service on the host. 0
 * where descriptors are the bound (POSIX) or memory cannot be read. */
uint64_t lb_memory_bound(void);
/* Process id for log lines. */
long lb_getpid(void);

#endif
