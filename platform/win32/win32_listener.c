/* win32_listener.c - listening sockets and the loops attached to them.
 * The first loop that starts a listener becomes its owner: the socket is
 * tied to that loop's completion port for good (a handle can be tied to
 * one port only), so that loop posts the accepts for every attached loop
 * (win32_accept.c). Other loops attach, pause, resume and detach under
 * the listener's lock and wake the owner through its port; the socket
 * closes when the last loop detaches, and the memory goes with the last
 * reference (see struct lb_listener_s). */
#include "win32_internal.h"

#include <stdlib.h>
#include <string.h>

/* Winsock quietly caps a plain backlog near 200; SOMAXCONN_HINT(n) asks
 * for n itself, which Windows keeps within 200..65535. */
int
lb__win_backlog(int backlog)
{
    if (backlog > 65535)
        backlog = 65535;
    return backlog > 200 ? SOMAXCONN_HINT(backlog) : backlog;
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
    InitializeSRWLock(&l->lock);
    l->refs = 1; /* the binder's */
    l->bound = 1;
    l->family = sa->sa_family;
    l->max_posted = lb__accept_max(backlog);
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

void
lb__listener_lock(lb_listener_t *l)
{
    AcquireSRWLockExclusive(&l->lock);
}

void
lb__listener_unlock(lb_listener_t *l)
{
    ReleaseSRWLockExclusive(&l->lock);
}

lb__attach_t *
lb__listener_attachment(lb_listener_t *l, const lb_loop_t *loop)
{
    for (lb__attach_t *t = l->attached; t != NULL; t = t->next)
        if (t->loop == loop)
            return t;
    return NULL;
}

void
lb__listener_ref(lb_listener_t *l)
{
    lb__listener_lock(l);
    l->refs++;
    lb__listener_unlock(l);
}

void
lb__listener_unref(lb_listener_t *l)
{
    unsigned left;

    lb__listener_lock(l);
    left = --l->refs;
    lb__listener_unlock(l);
    if (left > 0)
        return;
    if (!l->closed && l->sock != INVALID_SOCKET)
        closesocket(l->sock); /* bound, never started */
    lb__accept_free_slots(l);
    free(l);
}

/* 1 if the caller's thread is the owner's, or there is no owner (the
 * socket is then nobody else's either). */
static int
on_owner(const lb_loop_t *owner)
{
    return owner == NULL || owner->thread == GetCurrentThreadId();
}

/* Asks the owner to look at l again (a resume, a close), under the
 * lock: one message at a time, holding a reference. */
static void
wake_owner(lb_listener_t *l)
{
    if (l->waking || l->owner == NULL)
        return;
    l->refs++;
    l->waking = 1;
    if (!PostQueuedCompletionStatus(l->owner->iocp, 0, LB__KEY_LISTENER,
                                    (OVERLAPPED *)l)) {
        l->refs--; /* never the last: the caller holds one */
        l->waking = 0;
    }
}

void
lb__listener_done_check(lb_listener_t *l)
{
    lb_loop_t *owner = l->owner;

    if (!l->closed || l->posted > 0 || l->requeued > 0 || owner == NULL)
        return;
    lb__listener_lock(l);
    l->owner = NULL; /* nothing of l's is left in its port */
    lb__listener_unlock(l);
    owner->owning--;
}

/* On the owner's thread: a KEY_LISTENER message. */
void
lb__listener_wake(lb_listener_t *l)
{
    int shut;

    lb__listener_lock(l);
    l->waking = 0;
    shut = l->shut;
    lb__listener_unlock(l);
    if (shut)
        lb__accept_close(l);
    else
        lb__accept_resume_held(l);
    lb__listener_done_check(l);
    lb__listener_unref(l);
}

/* The caller holds a reference. Closes l's socket now if this thread may
 * (the owner's, or no owner yet), else wakes the owner to do it. */
static void
shut_down(lb_listener_t *l)
{
    lb_loop_t *owner;
    int here;

    lb__listener_lock(l);
    if (l->shut) {
        lb__listener_unlock(l);
        return;
    }
    l->shut = 1;
    owner = l->owner;
    here = on_owner(owner);
    if (!here)
        wake_owner(l);
    lb__listener_unlock(l);
    if (!here)
        return;
    lb__accept_close(l);
    lb__listener_done_check(l);
}

int
lb_listener_start(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                  void *data)
{
    lb__attach_t *t = calloc(1, sizeof(*t));
    int owns = 0, rc = 0;

    if (t == NULL)
        return LB_ENOMEM;
    t->loop = loop;
    t->cb = cb;
    t->data = data;
    lb__listener_lock(l);
    if (l->shut || lb__listener_attachment(l, loop) != NULL) {
        rc = LB_EINVAL;
    } else if (l->owner == NULL) {
        /* Tied to this loop's port for as long as the socket lives. */
        if (CreateIoCompletionPort((HANDLE)l->sock, loop->iocp, LB__KEY_IO,
                                   0) == NULL)
            rc = lb__win_error((int)GetLastError());
        else
            l->owner = loop;
        owns = rc == 0;
    }
    if (rc == 0) {
        t->next = l->attached;
        l->attached = t;
        l->refs++;
        if (++l->unpaused == 1 && !owns)
            wake_owner(l); /* it may have stopped posting */
    }
    lb__listener_unlock(l);
    if (rc != 0) {
        free(t);
        return rc;
    }
    if (owns) {
        loop->owning++;
        lb__accept_begin(l, loop);
    }
    return 0;
}

void
lb_listener_pause(lb_loop_t *loop, lb_listener_t *l, int paused)
{
    lb__attach_t *t;
    int resume_here = 0;

    lb__listener_lock(l);
    t = lb__listener_attachment(l, loop);
    if (t != NULL && !t->paused != !paused) {
        t->paused = paused != 0;
        if (paused) {
            l->unpaused--;
        } else if (++l->unpaused == 1) {
            /* The first to take clients again: what was held goes. */
            resume_here = l->owner == loop;
            if (!resume_here)
                wake_owner(l);
        }
    }
    lb__listener_unlock(l);
    if (resume_here)
        lb__accept_resume_held(l);
}

void
lb_listener_handover(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                     void *data)
{
    lb__attach_t *t;

    lb__listener_lock(l);
    t = lb__listener_attachment(l, loop);
    lb__listener_unlock(l);
    if (t == NULL)
        return;
    t->cb = cb; /* only this loop's thread changes or reads them */
    t->data = data;
    lb_listener_pause(loop, l, 0);
}

void
lb_listener_detach(lb_loop_t *loop, lb_listener_t *l)
{
    lb__attach_t **p, *t = NULL;
    int last = 0;

    lb__listener_lock(l);
    for (p = &l->attached; *p != NULL; p = &(*p)->next) {
        if ((*p)->loop == loop) {
            t = *p;
            *p = t->next;
            break;
        }
    }
    if (t != NULL && !t->paused)
        l->unpaused--;
    last = l->attached == NULL;
    lb__listener_unlock(l);
    if (last)
        shut_down(l); /* the attachment's reference still holds l */
    if (t != NULL) {
        free(t);
        lb__listener_unref(l);
    }
}

void
lb_listener_close(lb_listener_t *l)
{
    int bound;

    lb__listener_lock(l);
    bound = l->bound;
    l->bound = 0;
    lb__listener_unlock(l);
    if (!bound)
        return;
    shut_down(l);
    lb__listener_unref(l); /* the binder's */
}
