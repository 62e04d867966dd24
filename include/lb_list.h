/* lb_list.h - an intrusive, circular, doubly-linked list with a head
 * node, as libuv's queue.h: the node lives inside what it links, and
 * LB_LIST_ENTRY gets back from it. Shared by the core and the platforms
 * (sessions, statistics connections, epoll's due list). A node that is on
 * no list has next NULL, so removing it twice is harmless. */
#ifndef LB_LIST_H
#define LB_LIST_H

#include <stddef.h>

typedef struct lb_list_s {
    struct lb_list_s *prev, *next;
} lb_list_t;

#define LB_LIST_ENTRY(node, type, field) \
    ((type *)(void *)((char *)(node) - offsetof(type, field)))

static inline void
lb_list_init(lb_list_t *head)
{
    head->prev = head->next = head;
}

static inline int
lb_list_empty(const lb_list_t *head)
{
    return head->next == head;
}

/* 1 if node is on a list. */
static inline int
lb_list_linked(const lb_list_t *node)
{
    return node->next != NULL;
}

/* Adds node at the end; a node already on a list stays where it is. */
static inline void
lb_list_push(lb_list_t *head, lb_list_t *node)
{
    if (node->next != NULL)
        return;
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void
lb_list_remove(lb_list_t *node)
{
    if (node->next == NULL)
        return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
}

/* Every node of from goes to to (which must be empty or uninitialised);
 * from is left empty. */
static inline void
lb_list_move(lb_list_t *from, lb_list_t *to)
{
    lb_list_init(to);
    if (lb_list_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    lb_list_init(from);
}

#endif
