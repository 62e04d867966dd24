/* win32_listener.c - listening sockets with AcceptEx calls kept posted, as
 * many as the load asks for, so a burst of clients is accepted without a
 * round trip per connection. */
#include "win32_internal.h"

#include <stdlib.h>
#include <string.h>

#define RETRY_MS 100 /* out of sockets or memory: try posting again */

/* How many AcceptEx calls stay posted: ACCEPTS_MIN at first; doubled
 * whenever half of those posted completed in one loop turn (a burst that
 * could find none posted in the next turn); halved, at the next accept,
 * once a WINDOW_MS went by in which no turn took a quarter of them. Calls
 * above the target are not posted again as clients take them. Each
 * posted call holds an unconnected socket (kernel memory, a few KiB). */
#define ACCEPTS_MIN 8
#define ACCEPTS_MAX 512
#define WINDOW_MS 10000

/* Winsock quietly caps a plain backlog near 200; SOMAXCONN_HINT(n) asks
 * for n itself, which Windows keeps within 200..65535. */
int
lb__win_backlog(int backlog)
{
    if (backlog > 65535)
        backlog = 65535;
    return backlog > 200 ? SOMAXCONN_HINT(backlog) : backlog;
}

static unsigned
max_posted(int backlog)
{
    if (backlog > ACCEPTS_MAX)
        return ACCEPTS_MAX;
    return backlog > ACCEPTS_MIN ? (unsigned)backlog : ACCEPTS_MIN;
}

int
lb_listener_bind(const lb_addr_t *addr, int backlog, lb_listener_t **out)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr->u.bytes;
    lb_listener_t *l;
    BOOL on = TRUE;
    int rc = lb__winsock_init();

    if (rc != 0)
        return rc;
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return LB_ENOMEM;
    l->family = sa->sa_family;
    l->max_posted = max_posted(backlog);
    l->sock = lb__win_socket(sa->sa_family);
    if (l->sock == INVALID_SOCKET) {
        rc = lb__win_error(WSAGetLastError());
        free(l);
        return rc;
    }
    /* No other process may bind over us (SO_REUSEADDR would allow it). */
    if (setsockopt(l->sock, SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
                   (const char *)&on, sizeof(on)) != 0 ||
        (sa->sa_family == AF_INET6 &&
         setsockopt(l->sock, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&on,
                    sizeof(on)) != 0) ||
        bind(l->sock, sa, (int)addr->len) != 0 ||
        listen(l->sock, lb__win_backlog(backlog)) != 0) {
        rc = lb__win_error(WSAGetLastError());
        closesocket(l->sock);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

/* A slot that is neither posted nor held, allocated if none is free. */
static lb__accept_t *
take_slot(lb_listener_t *l)
{
    lb__accept_t *a = l->free_slots;

    if (a != NULL) {
        l->free_slots = a->next_free;
        return a;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->op.kind = LB__OP_ACCEPT;
    a->op.owner = a;
    a->listener = l;
    a->sock = INVALID_SOCKET;
    a->next_all = l->all_slots;
    l->all_slots = a;
    return a;
}

static void
release_slot(lb_listener_t *l, lb__accept_t *a)
{
    if (a->sock != INVALID_SOCKET)
        closesocket(a->sock);
    a->sock = INVALID_SOCKET;
    a->held = 0;
    a->next_free = l->free_slots;
    l->free_slots = a;
}

static int
post_accept(lb_listener_t *l)
{
    DWORD bytes = 0;
    lb__accept_t *a = take_slot(l);
    int err;

    if (a == NULL)
        return LB_ENOMEM;
    a->sock = lb__win_socket(l->family);
    if (a->sock == INVALID_SOCKET) {
        err = lb__win_error(WSAGetLastError());
        release_slot(l, a);
        return err;
    }
    memset(&a->op.ov, 0, sizeof(a->op.ov));
    if (lb__AcceptEx(l->sock, a->sock, a->addrs, 0, LB__ACCEPT_ADDR_LEN,
                     LB__ACCEPT_ADDR_LEN, &bytes, &a->op.ov) ||
        WSAGetLastError() == ERROR_IO_PENDING) {
        l->posted++;
        l->refs++;
        return 0;
    }
    err = lb__win_error(WSAGetLastError());
    release_slot(l, a);
    return err;
}

/* Posts up to the target; out of sockets or memory, tries again soon. */
static void
post_more(lb_listener_t *l)
{
    while (l->posted < l->target && !l->closing && !l->paused) {
        if (post_accept(l) != 0) {
            if (!lb_timer_active(&l->retry))
                lb_timer_start(&l->retry, RETRY_MS);
            return;
        }
    }
}

static void
on_retry(lb_timer_t *t)
{
    post_more(t->data);
}

/* One more accept in this loop turn: the target follows the load (see
 * ACCEPTS_MIN). */
static void
adapt(lb_listener_t *l)
{
    uint64_t now = lb_loop_now(l->loop);

    if (l->turn != l->loop->turn) {
        l->turn = l->loop->turn;
        l->burst = 0;
    }
    if (++l->burst > l->peak)
        l->peak = l->burst;
    if (2 * l->burst >= l->target && l->target < l->max_posted)
        l->target = 2 * l->target < l->max_posted ? 2 * l->target
                                                  : l->max_posted;
    if (now - l->window_start < WINDOW_MS)
        return;
    if (4 * l->peak < l->target && l->target > ACCEPTS_MIN)
        l->target = l->target / 2 > ACCEPTS_MIN ? l->target / 2
                                                : ACCEPTS_MIN;
    l->peak = 0;
    l->window_start = now;
}

/* AcceptEx calls already posted cannot be taken back: what they accept
 * while paused is held, and resuming hands it over through the port (so
 * no callback runs inside this call), then posts again. */
void
lb_listener_pause(lb_listener_t *l, int paused)
{
    l->paused = paused;
    if (paused || l->closing)
        return;
    for (lb__accept_t *a = l->all_slots; a != NULL; a = a->next_all) {
        if (!a->held)
            continue;
        a->held = 0;
        a->requeued = 1;
        memset(&a->op.ov, 0, sizeof(a->op.ov)); /* reads as success */
        l->refs++;
        PostQueuedCompletionStatus(l->loop->iocp, 0, LB__KEY_IO, &a->op.ov);
    }
    post_more(l);
}

int
lb_listener_start(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                  void *data)
{
    l->loop = loop;
    l->cb = cb;
    l->data = data;
    l->target = ACCEPTS_MIN;
    l->window_start = lb_loop_now(loop);
    lb_timer_init(loop, &l->retry, on_retry, l);
    if (CreateIoCompletionPort((HANDLE)l->sock, loop->iocp, LB__KEY_IO, 0) ==
        NULL)
        return lb__win_error((int)GetLastError());
    post_more(l);
    return 0;
}

void
lb_listener_handover(lb_listener_t *l, lb_accept_cb cb, void *data)
{
    l->cb = cb;
    l->data = data;
    lb_listener_pause(l, 0);
}

static void
free_listener(lb_listener_t *l)
{
    lb__accept_t *a = l->all_slots;

    while (a != NULL) {
        lb__accept_t *next = a->next_all;
        if (a->sock != INVALID_SOCKET)
            closesocket(a->sock);
        free(a);
        a = next;
    }
    free(l);
}

/* Once closed, l goes with the last completion that needs it. The
 * completion being handled holds its reference until after the core's
 * callback, which may close its own listener. */
static void
unref(lb_listener_t *l)
{
    if (--l->refs == 0 && l->closing)
        free_listener(l);
}

static void
copy_addr(const struct sockaddr *sa, int len, lb_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    if (sa != NULL && len > 0 && (size_t)len <= sizeof(out->u.bytes)) {
        memcpy(out->u.bytes, sa, (size_t)len);
        out->len = (uint32_t)len;
    }
}

/* The accepted socket and both its addresses leave the slot, which is
 * posted again before the core's callback runs. */
static void
hand_over(lb_listener_t *l, lb__accept_t *a)
{
    struct sockaddr *local = NULL, *remote = NULL;
    int local_len = 0, remote_len = 0;
    lb_addr_t peer;
    SOCKET sock = a->sock;
    lb_stream_t *s;

    lb__GetAcceptExSockaddrs(a->addrs, 0, LB__ACCEPT_ADDR_LEN,
                             LB__ACCEPT_ADDR_LEN, &local, &local_len,
                             &remote, &remote_len);
    copy_addr(remote, remote_len, &peer);
    a->sock = INVALID_SOCKET;
    if (setsockopt(sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                   (const char *)&l->sock, sizeof(l->sock)) != 0 ||
        (s = lb__stream_new(l->loop, sock)) == NULL) {
        closesocket(sock); /* this client is lost; the others are not */
        release_slot(l, a);
        post_more(l);
        return;
    }
    if (local != NULL && local_len > 0 &&
        (size_t)local_len <= sizeof(s->local)) {
        memcpy(&s->local, local, (size_t)local_len);
        s->local_len = local_len;
    }
    release_slot(l, a);
    post_more(l);
    l->cb(l, s, peer.len > 0 ? &peer : NULL, 0, l->data);
}

static void
accept_failed(lb_listener_t *l, lb__accept_t *a, int status)
{
    release_slot(l, a);
    if (status == LB_EMFILE || status == LB_ENOMEM || status == LB_ENOBUFS) {
        /* Out of sockets: wait a little rather than spin (RETRY_MS). */
        if (!lb_timer_active(&l->retry))
            lb_timer_start(&l->retry, RETRY_MS);
        l->cb(l, NULL, NULL, status, l->data);
        return;
    }
    post_more(l); /* a client gone before it was accepted, say */
}

void
lb__listener_op_done(lb__accept_t *a, int status)
{
    lb_listener_t *l = a->listener;
    int fresh = !a->requeued; /* an AcceptEx, not a held one coming back */

    a->requeued = 0;
    if (fresh)
        l->posted--;
    if (l->closing) {
        release_slot(l, a);
    } else if (status == 0 && l->paused) {
        a->held = 1; /* over the limit: the client waits */
    } else if (status != 0) {
        accept_failed(l, a, status);
    } else {
        if (fresh)
            adapt(l);
        hand_over(l, a);
    }
    unref(l);
}

void
lb_listener_close(lb_listener_t *l)
{
    l->closing = 1;
    for (lb__accept_t *a = l->all_slots; a != NULL; a = a->next_all)
        if (a->held)
            release_slot(l, a);
    if (l->loop)
        lb_timer_stop(&l->retry);
    /* Posted AcceptEx calls complete as aborted; l is freed after the
     * last of them (or at once if none is left). */
    closesocket(l->sock);
    l->sock = INVALID_SOCKET;
    if (l->refs == 0)
        free_listener(l);
}
