/* win32_listener.c - listening sockets with AcceptEx kept posted, so a
 * burst of clients is accepted without a round trip per connection. */
#include "win32_internal.h"

#include <stdlib.h>
#include <string.h>

#define RETRY_MS 100 /* out of sockets or memory: try posting again */

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
        listen(l->sock, backlog) != 0) {
        rc = lb__win_error(WSAGetLastError());
        closesocket(l->sock);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

static int
post_accept(lb__accept_t *a)
{
    lb_listener_t *l = a->listener;
    DWORD bytes = 0, alen = sizeof(struct sockaddr_in6) + 16;

    a->sock = lb__win_socket(l->family);
    if (a->sock == INVALID_SOCKET)
        return lb__win_error(WSAGetLastError());
    memset(&a->op.ov, 0, sizeof(a->op.ov));
    if (lb__AcceptEx(l->sock, a->sock, a->addrs, 0, alen, alen, &bytes,
                     &a->op.ov) ||
        WSAGetLastError() == ERROR_IO_PENDING) {
        l->pending++;
        return 0;
    }
    closesocket(a->sock);
    a->sock = INVALID_SOCKET;
    return lb__win_error(WSAGetLastError());
}

static void
post_all(lb_listener_t *l)
{
    int failed = 0;

    for (int i = 0; i < LB__ACCEPTS_POSTED; i++) {
        lb__accept_t *a = &l->accepts[i];
        if (a->sock != INVALID_SOCKET)
            continue; /* still posted */
        if (post_accept(a) != 0)
            failed = 1;
    }
    if (failed && !lb_timer_active(&l->retry))
        lb_timer_start(&l->retry, RETRY_MS);
}

static void
on_retry(lb_timer_t *t)
{
    lb_listener_t *l = t->data;

    if (!l->paused)
        post_all(l);
}

/* AcceptEx calls already posted cannot be taken back: what they accept
 * while paused is held, and resuming hands it over through the port (so
 * no callback runs inside this call), then posts the free slots again. */
void
lb_listener_pause(lb_listener_t *l, int paused)
{
    l->paused = paused;
    if (paused || l->closing)
        return;
    for (int i = 0; i < LB__ACCEPTS_POSTED; i++) {
        lb__accept_t *a = &l->accepts[i];
        if (!a->held)
            continue;
        a->held = 0;
        memset(&a->op.ov, 0, sizeof(a->op.ov)); /* reads as success */
        l->pending++;
        PostQueuedCompletionStatus(l->loop->iocp, 0, LB__KEY_IO, &a->op.ov);
    }
    post_all(l);
}

static void
close_held(lb_listener_t *l)
{
    for (int i = 0; i < LB__ACCEPTS_POSTED; i++) {
        if (l->accepts[i].held) {
            closesocket(l->accepts[i].sock);
            l->accepts[i].sock = INVALID_SOCKET;
            l->accepts[i].held = 0;
        }
    }
}

int
lb_listener_start(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                  void *data)
{
    l->loop = loop;
    l->cb = cb;
    l->data = data;
    lb_timer_init(loop, &l->retry, on_retry, l);
    if (CreateIoCompletionPort((HANDLE)l->sock, loop->iocp, LB__KEY_IO, 0) ==
        NULL)
        return lb__win_error((int)GetLastError());
    for (int i = 0; i < LB__ACCEPTS_POSTED; i++) {
        l->accepts[i].op.kind = LB__OP_ACCEPT;
        l->accepts[i].op.owner = &l->accepts[i];
        l->accepts[i].listener = l;
        l->accepts[i].sock = INVALID_SOCKET;
    }
    post_all(l);
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
hand_over(lb__accept_t *a)
{
    lb_listener_t *l = a->listener;
    SOCKET sock = a->sock;
    lb_stream_t *s;

    a->sock = INVALID_SOCKET;
    if (setsockopt(sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                   (const char *)&l->sock, sizeof(l->sock)) != 0 ||
        (s = lb__stream_new(l->loop, sock)) == NULL) {
        closesocket(sock); /* this client is lost; the others are not */
        return;
    }
    l->cb(l, s, NULL, 0, l->data);
}

void
lb__listener_op_done(lb__accept_t *a, int status)
{
    lb_listener_t *l = a->listener;

    l->pending--;
    if (l->closing) {
        if (a->sock != INVALID_SOCKET)
            closesocket(a->sock);
        a->sock = INVALID_SOCKET;
        if (l->pending == 0)
            free(l); /* the last AcceptEx came back: nothing refers to l */
        return;
    }
    if (status == 0 && l->paused) {
        a->held = 1; /* over the limit: the client waits */
        return;
    }
    if (status == 0) {
        hand_over(a);
    } else {
        closesocket(a->sock);
        a->sock = INVALID_SOCKET;
        if (status == LB_EMFILE || status == LB_ENOMEM)
            l->cb(l, NULL, NULL, status, l->data);
    }
    if (!l->closing && !l->paused && post_accept(a) != 0 &&
        !lb_timer_active(&l->retry))
        lb_timer_start(&l->retry, RETRY_MS);
}

void
lb_listener_close(lb_listener_t *l)
{
    l->closing = 1;
    close_held(l);
    if (l->loop)
        lb_timer_stop(&l->retry);
    /* Posted AcceptEx calls complete as aborted; l is freed after the
     * last of them. */
    closesocket(l->sock);
    l->sock = INVALID_SOCKET;
    if (l->pending == 0)
        free(l);
}
