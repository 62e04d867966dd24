/* fake_platform.c - lb_platform.h with no sockets: a manual clock, and
 * completions the test script delivers (fake_deliver, fake_connected, ...),
 * so the core's session, retry and drain logic runs the same as on POSIX
 * and Windows, step by step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"

fake_state_t fake;

struct lb_loop_s {
    lb_timer_heap_t timers;
    lb_allocator_t alloc;
    lb_stop_cb stop_cb;
    void *stop_data;
    lb_reload_cb reload_cb;
    void *reload_data;
    int stop_count;
    int stopped;
};

/* As on Windows: loops attach to one listener, each with its own
 * callback and pause; the socket closes when the last detaches (or the
 * binder closes it), the memory once the binder has closed it and no
 * loop is attached. */
typedef struct fake_attach_s {
    lb_loop_t *loop; /* NULL: a free entry */
    lb_accept_cb cb;
    void *data;
    int paused;
} fake_attach_t;

struct lb_listener_s {
    fake_attach_t at[FAKE_MAX_LOOPS];
    int closed;  /* the socket: no client comes any more */
    int unbound; /* the binder closed it */
};

/* ---- clock, loop, timers ---- */

lb_timer_heap_t *
lb__loop_timers(lb_loop_t *loop)
{
    return &loop->timers;
}

uint64_t
lb_loop_now(lb_loop_t *loop)
{
    (void)loop;
    return fake.now;
}

int
lb_loop_new(lb_loop_t **out, const lb_allocator_t *alloc)
{
    lb_loop_t *loop = calloc(1, sizeof(*loop));

    if (loop == NULL || fake.nloops == FAKE_MAX_LOOPS) {
        free(loop);
        return LB_ENOMEM;
    }
    loop->alloc = *alloc;
    fake.loop = loop;
    fake.loops[fake.nloops++] = loop;
    *out = loop;
    return 0;
}

int
lb_loop_run(lb_loop_t *loop)
{
    (void)loop;
    return 0; /* the test drives the loop itself */
}

void
lb_loop_stop(lb_loop_t *loop)
{
    loop->stopped = 1;
    fake.loop_stopped = 1;
}

int
fake_loop_stopped(const lb_loop_t *loop)
{
    return loop->stopped;
}

void
lb_loop_free(lb_loop_t *loop)
{
    int j = 0;

    if (loop == NULL)
        return;
    lb_timer_heap_free(&loop->timers);
    for (int i = 0; i < fake.nloops; i++)
        if (fake.loops[i] != loop)
            fake.loops[j++] = fake.loops[i];
    fake.nloops = j;
    if (fake.loop == loop)
        fake.loop = j > 0 ? fake.loops[j - 1] : NULL;
    free(loop);
}

void
lb_loop_on_stop(lb_loop_t *loop, lb_stop_cb cb, void *data)
{
    loop->stop_cb = cb;
    loop->stop_data = data;
}

void
lb_loop_on_reload(lb_loop_t *loop, lb_reload_cb cb, void *data)
{
    loop->reload_cb = cb;
    loop->reload_data = data;
}

void
fake_reload_request(lb_loop_t *loop, void *next)
{
    loop->reload_cb(loop, next, loop->reload_data);
}

void
fake_advance(uint64_t ms)
{
    fake.now += ms;
    for (int i = 0; i < fake.nloops; i++)
        lb_timer_heap_run(&fake.loops[i]->timers, fake.now);
}

void
fake_stop_on(lb_loop_t *loop)
{
    loop->stop_count++;
    loop->stop_cb(loop, loop->stop_count == 1 ? LB_STOP_DRAIN : LB_STOP_NOW,
                  loop->stop_data);
}

/* A stop goes to every loop, as Windows fans one out. */
void
fake_stop_request(void)
{
    for (int i = 0; i < fake.nloops; i++)
        fake_stop_on(fake.loops[i]);
}

/* ---- listeners ---- */

int
lb_listener_bind(const lb_addr_t *addr, int backlog, lb_listener_t **out)
{
    (void)addr;
    (void)backlog;
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : LB_ENOMEM;
}

static fake_attach_t *
attachment(lb_listener_t *l, const lb_loop_t *loop)
{
    for (int i = 0; i < FAKE_MAX_LOOPS; i++)
        if (l->at[i].loop == loop)
            return &l->at[i];
    return NULL;
}

int
fake_attached(lb_listener_t *l)
{
    int n = 0;

    for (int i = 0; i < FAKE_MAX_LOOPS; i++)
        n += l->at[i].loop != NULL;
    return n;
}

int
fake_listener_closed(const lb_listener_t *l)
{
    return l->closed;
}

int
fake_paused_on(lb_listener_t *l, const lb_loop_t *loop)
{
    fake_attach_t *a = attachment(l, loop);

    return a != NULL && a->paused;
}

int
lb_listener_start(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                  void *data)
{
    fake_attach_t *a = attachment(l, NULL);

    if (a == NULL || l->closed)
        return LB_EINVAL;
    a->loop = loop;
    a->cb = cb;
    a->data = data;
    a->paused = 0;
    fake.listener = l;
    return 0;
}

void
lb_listener_pause(lb_loop_t *loop, lb_listener_t *l, int paused)
{
    fake_attach_t *a = attachment(l, loop);

    if (a != NULL)
        a->paused = paused;
    fake.listener_paused = paused;
}

void
lb_listener_handover(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                     void *data)
{
    fake_attach_t *a = attachment(l, loop);

    if (a == NULL)
        abort(); /* the seam: loop must be attached */
    a->cb = cb;
    a->data = data;
    a->paused = 0;
    fake.listener_paused = 0;
}

static void
closed(lb_listener_t *l)
{
    l->closed = 1;
    if (l == fake.listener) {
        fake.listener = NULL;
        fake.listener_closed = 1;
    }
}

void
lb_listener_detach(lb_loop_t *loop, lb_listener_t *l)
{
    fake_attach_t *a = attachment(l, loop);

    if (a != NULL)
        memset(a, 0, sizeof(*a));
    if (fake_attached(l) == 0) {
        closed(l);
        if (l->unbound)
            free(l);
    }
}

void
lb_listener_close(lb_listener_t *l)
{
    closed(l);
    l->unbound = 1;
    if (fake_attached(l) == 0)
        free(l);
}

/* ---- streams ---- */

static lb_stream_t *
new_stream(void)
{
    lb_stream_t *s = calloc(1, sizeof(*s));

    if (s && fake.nstreams < FAKE_MAX_STREAMS)
        fake.streams[fake.nstreams++] = s;
    return s;
}

/* A client of fake.listener, for the attached loop the test names (NULL:
 * the first attached one). */
lb_stream_t *
fake_accept_on(lb_loop_t *loop, const char *host)
{
    lb_listener_t *l = fake.listener;
    fake_attach_t *a = NULL;
    lb_stream_t *s = new_stream();

    for (int i = 0; i < FAKE_MAX_LOOPS && a == NULL; i++)
        if (l->at[i].loop != NULL && (loop == NULL || l->at[i].loop == loop))
            a = &l->at[i];
    if (a == NULL)
        abort(); /* a test that accepts where nothing is attached */
    s->loop = a->loop;
    if (host != NULL)
        lb_addr_from_numeric(host, 40000, &s->peer);
    lb_addr_from_numeric("127.0.0.1", 8080, &s->local);
    a->cb(l, s, NULL, 0, a->data);
    return s;
}

int
fake_backend_no(const lb_stream_t *s)
{
    char label[LB_ADDRSTRLEN];

    lb_addr_format(&s->addr, label, sizeof(label));
    return label[7] - '0'; /* "10.0.0.N:80" */
}

lb_stream_t *
fake_accept_from(const char *host)
{
    return fake_accept_on(NULL, host);
}

lb_stream_t *
fake_accept(void)
{
    return fake_accept_from("192.0.2.7");
}

int
lb_stream_connect(lb_loop_t *loop, const lb_addr_t *addr, lb_connect_cb cb,
                  void *data, lb_stream_t **out)
{
    lb_stream_t *s;

    if (fake.connect_fails_at_once)
        return fake.connect_fails_at_once;
    s = new_stream();
    s->loop = loop;
    s->addr = *addr;
    s->connect_cb = cb;
    s->data = data;
    s->connecting = 1;
    fake.last_connect = s;
    fake.nconnects++;
    *out = s;
    return 0;
}

void
fake_connected(lb_stream_t *s, int status)
{
    s->connecting = 0;
    s->connect_cb(s, status);
}

int
lb_stream_connect_data(lb_loop_t *loop, const lb_addr_t *addr,
                       lb_connect_cb cb, void *data, lb_stream_t **out)
{
    int rc = lb_stream_connect(loop, addr, cb, data, out);

    if (rc == 0)
        (*out)->data_first = 1;
    return rc;
}

int
lb_stream_read(lb_stream_t *s, lb_read_cb cb)
{
    s->read_cb = cb;
    s->reading = 1;
    s->watching = 0; /* a read takes a watch over */
    return 0;
}

int
lb_stream_watch(lb_stream_t *s, lb_watch_cb cb)
{
    s->watch_cb = cb;
    s->watching = 1;
    return 0;
}

void
fake_watch_fire(lb_stream_t *s, int status)
{
    s->watching = 0;
    s->watch_cb(s, status);
}

int
lb_stream_splice(lb_stream_t *src, lb_stream_t *dst, size_t max,
                 lb_splice_cb cb)
{
    (void)src;
    (void)dst;
    (void)max;
    (void)cb;
    return LB_ENOTSUP; /* the byte path is what these tests follow */
}

/* The peer sent len bytes (len 0: FIN; err: a reset or other error). */
void
fake_deliver(lb_stream_t *s, const char *bytes, size_t len, int err)
{
    lb_allocator_t *a = &(s->loop ? s->loop : fake.loop)->alloc;
    char *buf = NULL;
    long n = err ? err : len ? (long)len : LB_EOF;

    if (n > 0) {
        buf = a->get(a->ctx);
        memcpy(buf, bytes, len);
    }
    s->reading = 0;
    s->read_cb(s, n, buf);
}

int
lb_stream_eof_next(const lb_stream_t *s)
{
    return s->eof_next;
}

int
lb_stream_write_last(lb_stream_t *s, char *buf, size_t len, lb_write_cb cb)
{
    lb_stream_write(s, buf, len, cb);
    s->write_last = 1;
    return 0;
}

int
lb_stream_write(lb_stream_t *s, char *buf, size_t len, lb_write_cb cb)
{
    s->write_last = 0;
    s->wbuf = buf;
    s->wlen = len;
    s->write_cb = cb;
    s->writing = 1;
    return 0;
}

/* The pending write finished; what it sent joins s->sent. */
void
fake_written(lb_stream_t *s, int status)
{
    if (status == 0 && s->nsent + s->wlen <= sizeof(s->sent)) {
        memcpy(s->sent + s->nsent, s->wbuf, s->wlen);
        s->nsent += s->wlen;
    }
    s->writing = 0;
    s->write_cb(s, status);
}

int
lb_stream_shutdown(lb_stream_t *s)
{
    s->shut = 1;
    return 0;
}

void
lb_stream_close(lb_stream_t *s, int how, lb_close_cb cb)
{
    s->closed = 1;
    s->close_how = how;
    s->close_cb = cb;
    s->reading = s->writing = s->connecting = s->watching = 0;
}

int
lb_stream_reset_on_exit(lb_stream_t *s)
{
    s->reset_on_exit = 1;
    return 0;
}

/* Runs the close callbacks, as a real loop would on its next round. */
void
fake_run_closes(void)
{
    for (size_t i = 0; i < fake.nstreams; i++) {
        lb_stream_t *s = fake.streams[i];
        if (s->closed && !s->close_delivered) {
            s->close_delivered = 1;
            if (s->close_cb)
                s->close_cb(s);
        }
    }
}

void *
lb_stream_data(const lb_stream_t *s)
{
    return s->data;
}

void
lb_stream_set_data(lb_stream_t *s, void *data)
{
    s->data = data;
}

int
lb_stream_peer(const lb_stream_t *s, lb_addr_t *out)
{
    *out = s->peer;
    return 0;
}

int
lb_stream_keepalive(lb_stream_t *s, unsigned idle_s)
{
    s->keepalive = idle_s;
    s->keepalive_calls++;
    return 0;
}

int
lb_stream_local(const lb_stream_t *s, lb_addr_t *out)
{
    *out = s->local;
    return 0;
}

void
fake_reset(void)
{
    for (size_t i = 0; i < fake.nstreams; i++)
        free(fake.streams[i]);
    memset(&fake, 0, sizeof(fake));
    fake.now = 1000000;
    fake.fd_limit = 1024;
}

/* ---- the rest of the seam ---- */

int
lb_resolve_start(lb_loop_t *loop, const char *host, uint16_t port,
                 lb_resolve_cb cb, void *data, lb_resolve_t **out)
{
    (void)loop;
    (void)host;
    (void)port;
    (void)cb;
    (void)data;
    (void)out;
    return LB_EAI_NONAME;
}

void
lb_resolve_cancel(lb_resolve_t *req)
{
    (void)req;
}

void *
lb_shared_alloc(size_t size)
{
    return calloc(1, size);
}

void
lb_shared_free(void *p, size_t size)
{
    (void)size;
    free(p);
}

unsigned long
lb_counter_next(lb_counter_t *c)
{
    return c->value++;
}

int64_t
lb_atomic_load(lb_atomic_t *a)
{
    return a->value;
}

void
lb_atomic_store(lb_atomic_t *a, int64_t v)
{
    a->value = v;
}

int64_t
lb_atomic_add(lb_atomic_t *a, int64_t delta)
{
    return a->value += delta;
}

int
lb_atomic_cas(lb_atomic_t *a, int64_t expected, int64_t desired)
{
    if (a->value != expected)
        return 0;
    a->value = desired;
    return 1;
}

int
lb_run_workers(lb_run_spec_t *spec)
{
    (void)spec;
    return 0;
}

int
lb_workers_share_process(void)
{
    return fake.share_process;
}

unsigned
lb_cpu_count(void)
{
    return 4;
}

static int log_locked;

void
lb_log_lock(void)
{
    fake_log.relocked += log_locked;
    log_locked = 1;
}

void
lb_log_unlock(void)
{
    log_locked = 0;
}

int
lb_localtime(time_t t, struct tm *out)
{
    (void)t;
    memset(out, 0, sizeof(*out));
    return 0;
}

long
lb_raise_fd_limit(void)
{
    return fake.fd_limit;
}

uint64_t
lb_memory_bound(void)
{
    return fake.memory_bound;
}

long
lb_getpid(void)
{
    return 4242;
}

int
lb_platform_main(int argc, char **argv, const lb_core_entry_t *core)
{
    (void)argc;
    (void)argv;
    (void)core;
    return -1;
}

const char *
lb_platform_usage(void)
{
    return "";
}

const char *
lb_platform_stop_usage(void)
{
    return "";
}

void
lb_platform_event(lb_event_t kind, const char *msg)
{
    (void)kind;
    (void)msg;
}

int
lb__gai_error(int rc)
{
    (void)rc;
    return LB_EAI_NONAME; /* common_addr.c's blocking resolver is unused */
}

int
lb_drop_privileges(const char *user, const char *group, char *err,
                   size_t errlen)
{
    (void)user;
    (void)group;
    (void)err;
    (void)errlen;
    return 0;
}

int
lb_file_writable_by_others(const char *path, char *why, size_t whylen)
{
    (void)path;
    if (whylen > 0)
        why[0] = '\0';
    return 0;
}

int
lb_file_owner_foreign(const char *path)
{
    (void)path;
    return 0;
}

int
lb_running_as_root(void)
{
    return 0;
}

/* ---- log outputs: the process's own stdout and stderr, written at once
 * (the tests capture lines with lb_log_redirect) ---- */

struct lb_logout_s {
    FILE *f;          /* NULL: into fake_log */
    int disk;
    size_t atomic;
};

fake_log_t fake_log;
static lb_logout_t fake_std[2];
static lb_logout_t fake_file;

int
lb_logout_std(int which, lb_logout_t **out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    fake_std[which == 2].f = which == 2 ? stderr : stdout;
    *out = &fake_std[which == 2];
    return 0;
}

int
lb_logout_open(const char *path, lb_logout_t **out, char *err,
               size_t errlen)
{
    *out = NULL;
    if (strncmp(path, "fake:", 5) != 0) {
        snprintf(err, errlen, "no files here");
        return LB_ENOTSUP;
    }
    fake_file.f = NULL;
    fake_file.disk = fake_log.disk;
    fake_file.atomic = fake_log.atomic;
    *out = &fake_file;
    return 0;
}

void
lb_logout_info(const lb_logout_t *o, lb_logout_info_t *info)
{
    info->disk = o->disk;
    info->atomic = o->atomic;
    info->crlf = 0;
    info->stamped = 0;
}

static long
capture(const char *buf, size_t len)
{
    if (fake_log.full ||
        fake_log.nwritten + len > sizeof(fake_log.written))
        return LB_EAGAIN;
    memcpy(fake_log.written + fake_log.nwritten, buf, len);
    fake_log.nwritten += len;
    if (len > fake_log.max_write)
        fake_log.max_write = len;
    fake_log.cut_writes += buf[len - 1] != '\n';
    return (long)len;
}

long
lb_logout_write(lb_logout_t *o, const char *buf, size_t len)
{
    size_t n;

    if (o->f == NULL)
        return capture(buf, len);
    n = fwrite(buf, 1, len, o->f);
    fflush(o->f);
    return n > 0 ? (long)n : LB_EIO;
}

int
lb_logout_wait(lb_logout_t *o, int ms)
{
    (void)o;
    (void)ms;
    return 1;
}

unsigned long
lb_logout_lost(lb_logout_t *o)
{
    (void)o;
    return 0;
}

int
lb_logout_reopen(lb_logout_t *o, char *err, size_t errlen)
{
    (void)o;
    (void)err;
    (void)errlen;
    return 0;
}

int
lb_logout_rotate_at(lb_logout_t *o, uint64_t max, unsigned keep)
{
    (void)o;
    (void)keep;
    return max == 0 ? 0 : LB_ENOTSUP;
}

int
lb_logout_give(lb_logout_t *o, const char *user, char *err, size_t errlen)
{
    (void)o;
    (void)user;
    (void)err;
    (void)errlen;
    return 0;
}

void
lb_logout_close(lb_logout_t *o)
{
    fake_log.closed_locked += log_locked && o == &fake_file;
}

char *
lb_path_beside(const char *base, const char *path)
{
    (void)base;
    return strdup(path);
}

int
lb_file_readable_by_others(const char *path)
{
    (void)path;
    return 0;
}

int
lb_file_acl_readable_by_others(const char *path, char *why, size_t whylen)
{
    (void)path;
    if (whylen > 0)
        why[0] = '\0';
    return 0;
}
