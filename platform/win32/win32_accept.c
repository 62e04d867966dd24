/* win32_accept.c - a listener's AcceptEx calls, kept posted by its owner
 * (the loop whose completion port has the socket), as many as the load
 * asks for, so a burst of clients is accepted without a round trip per
 * connection; and each accepted client handed to the attached loop with
 * the fewest open connections that is not paused: its own loop at once,
 * another through that loop's port. */
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

/* The most AcceptEx calls a listener with this backlog keeps posted. */
unsigned
lb__accept_max(int backlog)
{
    if (backlog > ACCEPTS_MAX)
        return ACCEPTS_MAX;
    return backlog > ACCEPTS_MIN ? (unsigned)backlog : ACCEPTS_MIN;
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
    a->ready = 0;
    a->next_free = l->free_slots;
    l->free_slots = a;
}

void
lb__accept_free_slots(lb_listener_t *l)
{
    lb__accept_t *a = l->all_slots;

    while (a != NULL) {
        lb__accept_t *next = a->next_all;
        if (a->sock != INVALID_SOCKET)
            closesocket(a->sock);
        free(a);
        a = next;
    }
    l->all_slots = l->free_slots = NULL;
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
    lb__listener_ref(l); /* before the call: it may complete at once */
    l->posted++;
    if (lb__AcceptEx(l->sock, a->sock, a->addrs, 0, LB__ACCEPT_ADDR_LEN,
                     LB__ACCEPT_ADDR_LEN, &bytes, &a->op.ov) ||
        WSAGetLastError() == ERROR_IO_PENDING)
        return 0;
    err = lb__win_error(WSAGetLastError());
    l->posted--;
    lb__listener_unref(l); /* never the last: the binder's is there */
    release_slot(l, a);
    return err;
}

/* Some attached loop takes clients now. */
static int
wanted(lb_listener_t *l)
{
    int any;

    lb__listener_lock(l);
    any = l->unpaused > 0 && !l->shut;
    lb__listener_unlock(l);
    return any;
}

/* Posts up to the target; out of sockets or memory, tries again soon. */
void
lb__accept_post_more(lb_listener_t *l)
{
    if (l->closed || l->posted >= l->target || !wanted(l))
        return;
    while (l->posted < l->target) {
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
    lb__accept_post_more(t->data);
}

void
lb__accept_begin(lb_listener_t *l, lb_loop_t *owner)
{
    l->target = ACCEPTS_MIN;
    l->window_start = lb_loop_now(owner);
    lb_timer_init(owner, &l->retry, on_retry, l);
    lb__accept_post_more(l);
}

/* One more accept in this loop turn: the target follows the load (see
 * ACCEPTS_MIN). */
static void
adapt(lb_listener_t *l)
{
    uint64_t now = lb_loop_now(l->owner);

    if (l->turn != l->owner->turn) {
        l->turn = l->owner->turn;
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
 * while every loop is paused is held, and a resume sends it through the
 * port again (so no callback runs inside the call that resumed). */
void
lb__accept_resume_held(lb_listener_t *l)
{
    if (l->closed)
        return;
    for (lb__accept_t *a = l->all_slots; a != NULL; a = a->next_all) {
        if (!a->held)
            continue;
        a->held = 0;
        a->requeued = 1;
        l->requeued++;
        memset(&a->op.ov, 0, sizeof(a->op.ov)); /* reads as success */
        lb__listener_ref(l);
        PostQueuedCompletionStatus(l->owner->iocp, 0, LB__KEY_IO, &a->op.ov);
    }
    lb__accept_post_more(l);
}

/* Posted AcceptEx calls complete as aborted; the owner lets go of l once
 * the last of them is back (lb__listener_done_check). */
void
lb__accept_close(lb_listener_t *l)
{
    if (l->closed)
        return;
    l->closed = 1;
    for (lb__accept_t *a = l->all_slots; a != NULL; a = a->next_all)
        if (a->held)
            release_slot(l, a);
    if (l->owner)
        lb_timer_stop(&l->retry);
    closesocket(l->sock);
    l->sock = INVALID_SOCKET;
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

/* The accepted socket and both its addresses, out of the slot's buffer
 * (posted again right after, so they are copied). The accept context
 * needs the listening socket, which only this thread may use. */
static int
take_client(lb_listener_t *l, lb__accept_t *a, lb__handoff_t *h)
{
    struct sockaddr *local = NULL, *remote = NULL;
    int local_len = 0, remote_len = 0;

    if (!a->ready &&
        setsockopt(a->sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                   (const char *)&l->sock, sizeof(l->sock)) != 0)
        return -1;
    a->ready = 1;
    lb__GetAcceptExSockaddrs(a->addrs, 0, LB__ACCEPT_ADDR_LEN,
                             LB__ACCEPT_ADDR_LEN, &local, &local_len,
                             &remote, &remote_len);
    copy_addr(remote, remote_len, &h->peer);
    h->local_len = 0;
    if (local != NULL && local_len > 0 &&
        (size_t)local_len <= sizeof(h->local)) {
        memcpy(&h->local, local, (size_t)local_len);
        h->local_len = local_len;
    }
    h->listener = l;
    h->sock = a->sock;
    return 0;
}

/* The attached loop with the fewest clients that is not paused (under
 * the lock). Ties take turns, so that light traffic spreads too: the
 * look starts one attachment further each time. */
static lb__attach_t *
choose(lb_listener_t *l)
{
    lb__attach_t *best = NULL;
    LONG best_load = 0;
    unsigned n = 0, start;

    for (lb__attach_t *t = l->attached; t != NULL; t = t->next)
        n++;
    if (n == 0)
        return NULL;
    start = l->rr++ % n;
    /* From the start on, then from the head up to it. */
    for (int pass = 0; pass < 2; pass++) {
        unsigned i = 0;

        for (lb__attach_t *t = l->attached; t != NULL; t = t->next, i++) {
            LONG load;

            if ((pass == 0) != (i >= start) || t->paused)
                continue;
            load = InterlockedCompareExchange(&t->loop->load, 0, 0);
            if (best == NULL || load < best_load) {
                best = t;
                best_load = load;
            }
        }
    }
    return best;
}

/* A client on the loop that will serve it; it counts in the loop's load
 * until its stream is freed (win32_close.c). */
static void
serve(lb_loop_t *loop, lb_listener_t *l, lb__handoff_t *h, lb_accept_cb cb,
      void *data)
{
    lb_stream_t *s = lb__stream_new(loop, h->sock);

    if (s == NULL) {
        closesocket(h->sock); /* this client is lost; the others are not */
        InterlockedDecrement(&loop->load);
        return;
    }
    s->accepted = 1;
    if (h->local_len > 0) {
        memcpy(&s->local, &h->local, (size_t)h->local_len);
        s->local_len = h->local_len;
    }
    cb(l, s, h->peer.len > 0 ? &h->peer : NULL, 0, data);
}

/* Sends h to t's loop; under the lock, so that loop cannot detach and
 * go before the message is in its port. 0, or -1 with h untouched. */
static int
send_to(lb_listener_t *l, lb__attach_t *t, const lb__handoff_t *h)
{
    lb__handoff_t *m = malloc(sizeof(*m));

    if (m == NULL)
        return -1;
    *m = *h;
    l->refs++; /* the message's (the lock is held) */
    if (!PostQueuedCompletionStatus(t->loop->iocp, 0, LB__KEY_HANDOFF,
                                    (OVERLAPPED *)m)) {
        l->refs--;
        free(m);
        return -1;
    }
    return 0;
}

/* A completed accept: its client goes to the chosen loop (this one at
 * once, another through its port) or, while every loop is paused, waits
 * in its slot. The slot is posted again before the core's callback. */
static void
deliver(lb_listener_t *l, lb__accept_t *a)
{
    lb__attach_t *t;
    lb__handoff_t h;
    lb_accept_cb cb = NULL;
    void *data = NULL;
    int sent = -1;

    if (take_client(l, a, &h) != 0) {
        release_slot(l, a);
        lb__accept_post_more(l);
        return;
    }
    lb__listener_lock(l);
    t = choose(l);
    if (t != NULL) {
        InterlockedIncrement(&t->loop->load);
        if (t->loop == l->owner) {
            cb = t->cb;
            data = t->data;
        } else {
            sent = send_to(l, t, &h);
            if (sent != 0)
                InterlockedDecrement(&t->loop->load);
        }
    }
    lb__listener_unlock(l);
    if (t == NULL) {
        a->held = 1; /* over every loop's limit: the client waits */
        return;
    }
    a->sock = INVALID_SOCKET; /* the client's now, or closed below */
    release_slot(l, a);
    lb__accept_post_more(l);
    if (cb != NULL)
        serve(l->owner, l, &h, cb, data);
    else if (sent != 0)
        closesocket(h.sock); /* out of memory: this client is lost */
}

void
lb__accept_handed(lb_loop_t *loop, lb__handoff_t *h, int serve_it)
{
    lb_listener_t *l = h->listener;
    lb_accept_cb cb = NULL;
    void *data = NULL;
    lb__attach_t *t;

    lb__listener_lock(l);
    t = serve_it ? lb__listener_attachment(l, loop) : NULL;
    if (t != NULL) {
        cb = t->cb;
        data = t->data;
    }
    lb__listener_unlock(l);
    if (cb != NULL) {
        serve(loop, l, h, cb, data);
    } else {
        closesocket(h->sock); /* detached meanwhile: a stop */
        InterlockedDecrement(&loop->load);
    }
    free(h);
    lb__listener_unref(l); /* after the callback, which may close l */
}

static void
accept_failed(lb_listener_t *l, lb__accept_t *a, int status)
{
    lb_accept_cb cb = NULL;
    void *data = NULL;
    lb__attach_t *t;

    release_slot(l, a);
    if (status != LB_EMFILE && status != LB_ENOMEM && status != LB_ENOBUFS) {
        lb__accept_post_more(l); /* a client gone before it was accepted */
        return;
    }
    /* Out of sockets: wait a little rather than spin (RETRY_MS); the
     * owner's own server logs it, if it is attached. */
    if (!lb_timer_active(&l->retry))
        lb_timer_start(&l->retry, RETRY_MS);
    lb__listener_lock(l);
    t = lb__listener_attachment(l, l->owner);
    if (t != NULL) {
        cb = t->cb;
        data = t->data;
    }
    lb__listener_unlock(l);
    if (cb != NULL)
        cb(l, NULL, NULL, status, data);
}

void
lb__listener_op_done(lb__accept_t *a, int status)
{
    lb_listener_t *l = a->listener;
    int fresh = !a->requeued; /* an AcceptEx, not a held one coming back */

    if (fresh) {
        l->posted--;
    } else {
        a->requeued = 0;
        l->requeued--;
    }
    if (l->closed) {
        release_slot(l, a);
    } else if (status != 0) {
        accept_failed(l, a, status);
    } else {
        if (fresh)
            adapt(l);
        deliver(l, a);
    }
    lb__listener_done_check(l);
    lb__listener_unref(l);
}
