/* posix_resolve.c - name resolution that never blocks the loop: a helper
 * process (forked on first use, one per worker) runs getaddrinfo() and
 * answers over a socketpair. Sockets and fork only, so Cygwin has it too. */
#include "posix_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_HOST 255 /* DNS names are at most 253 characters */

struct lb_resolve_s {
    uint32_t id;
    lb_resolve_cb cb; /* NULL once canceled */
    void *data;
    lb_resolve_t *next;
};

typedef struct lb__resolver_s {
    lb__io_t io;
    pid_t pid;
    uint32_t next_id;
    lb_resolve_t *pending;
} resolver_t;

typedef struct request_s {
    uint32_t id;
    uint16_t port;
    uint16_t hostlen;
    char host[MAX_HOST + 1];
} request_t;

typedef struct reply_s {
    uint32_t id;
    int32_t status;
    lb_addr_t addr;
} reply_t;

/* The helper: one request at a time, until the worker closes its end. */
static void
helper_main(int fd)
{
    request_t rq;
    reply_t rp;

    while (read(fd, &rq, sizeof(rq)) == (ssize_t)sizeof(rq)) {
        rq.host[rq.hostlen <= MAX_HOST ? rq.hostlen : MAX_HOST] = '\0';
        memset(&rp, 0, sizeof(rp));
        rp.id = rq.id;
        rp.status = lb_addr_resolve(rq.host, rq.port, &rp.addr);
        if (write(fd, &rp, sizeof(rp)) != (ssize_t)sizeof(rp))
            break;
    }
    _exit(0);
}

static void
start_helper(lb_loop_t *loop, resolver_t *r, int pair[2])
{
    /* Nothing of the worker's may stay open in the helper: a listening
     * socket held here would outlive a shutdown. */
    for (int fd = 3; fd <= loop->max_fd; fd++)
        if (fd != pair[1])
            close(fd);
    signal(SIGTERM, SIG_DFL);
    (void)r;
    helper_main(pair[1]);
}

static void fail_all(lb_loop_t *loop, int status);

static void
on_reply(lb_loop_t *loop, lb__io_t *io, short revents)
{
    resolver_t *r = (resolver_t *)io;
    reply_t rp;
    ssize_t n;
    (void)revents;

    while ((n = read(io->fd, &rp, sizeof(rp))) == (ssize_t)sizeof(rp)) {
        lb_resolve_t **pp = &r->pending;
        while (*pp && (*pp)->id != rp.id)
            pp = &(*pp)->next;
        if (*pp) {
            lb_resolve_t *req = *pp;
            *pp = req->next;
            if (req->cb)
                req->cb(req, rp.status, rp.status == 0 ? &rp.addr : NULL,
                        req->data);
            free(req);
        }
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        fail_all(loop, LB_EIO); /* helper died; a new one on next use */
}

static int
spawn_resolver(lb_loop_t *loop)
{
    resolver_t *r = calloc(1, sizeof(*r));
    int pair[2];

    if (r == NULL)
        return LB_ENOMEM;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
        free(r);
        return lb__posix_error(errno);
    }
    lb__loop_note_fd(loop, pair[0] > pair[1] ? pair[0] : pair[1]);
    lb__posix_forks++;
    r->pid = fork();
    if (r->pid == 0) {
        lb__posix_forget_pid();
        start_helper(loop, r, pair);
    }
    close(pair[1]);
    if (r->pid < 0 || lb__posix_nonblock(pair[0]) != 0 ||
        fcntl(pair[0], F_SETFD, FD_CLOEXEC) != 0) {
        int err = lb__posix_error(errno);
        close(pair[0]);
        free(r);
        return err;
    }
    r->io.fd = pair[0];
    r->io.index = -1;
    r->io.cb = on_reply;
    loop->resolver = r;
    return lb__io_start(loop, &r->io, POLLIN);
}

int
lb_resolve_start(lb_loop_t *loop, const char *host, uint16_t port,
                 lb_resolve_cb cb, void *data, lb_resolve_t **out)
{
    size_t len = strlen(host);
    request_t rq;
    lb_resolve_t *req;
    int rc;

    if (len > MAX_HOST)
        return LB_EINVAL;
    if (loop->resolver == NULL && (rc = spawn_resolver(loop)) != 0)
        return rc;
    req = calloc(1, sizeof(*req));
    if (req == NULL)
        return LB_ENOMEM;
    memset(&rq, 0, sizeof(rq));
    rq.id = req->id = ++loop->resolver->next_id;
    rq.port = port;
    rq.hostlen = (uint16_t)len;
    memcpy(rq.host, host, len);
    /* Requests are small and a socketpair holds many; a full one means the
     * helper is stuck, and this lookup fails rather than blocking. */
    if (write(loop->resolver->io.fd, &rq, sizeof(rq)) != (ssize_t)sizeof(rq)) {
        free(req);
        return LB_EAGAIN;
    }
    req->cb = cb;
    req->data = data;
    req->next = loop->resolver->pending;
    loop->resolver->pending = req;
    *out = req;
    return 0;
}

void
lb_resolve_cancel(lb_resolve_t *req)
{
    req->cb = NULL;
}

static void
drop_resolver(lb_loop_t *loop)
{
    resolver_t *r = loop->resolver;
    int wstatus;

    loop->resolver = NULL;
    lb__io_remove(loop, &r->io);
    close(r->io.fd); /* the helper reads EOF and exits */
    if (r->pid > 0) {
        /* It may sit in a slow DNS query; do not wait for that. */
        (void)kill(r->pid, SIGKILL);
        (void)waitpid(r->pid, &wstatus, 0);
    }
    free(r);
}

static void
fail_all(lb_loop_t *loop, int status)
{
    lb_resolve_t *req = loop->resolver->pending;

    drop_resolver(loop);
    while (req) {
        lb_resolve_t *next = req->next;
        if (req->cb)
            req->cb(req, status, NULL, req->data);
        free(req);
        req = next;
    }
}

void
lb__resolver_free(lb_loop_t *loop)
{
    if (loop->resolver == NULL)
        return;
    while (loop->resolver->pending) {
        lb_resolve_t *req = loop->resolver->pending;
        loop->resolver->pending = req->next;
        free(req);
    }
    drop_resolver(loop);
}
