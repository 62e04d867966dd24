/* common_addr.c - socket addresses: numeric parsing, blocking resolution,
 * formatting, raw IP bytes. Plain BSD socket calls, shared by POSIX and
 * Windows. */
#include "common_sockets.h"

#include <stdio.h>
#include <string.h>

#ifndef _WIN32
#include <sys/un.h>
#endif

static int
store(lb_addr_t *out, const void *sa, size_t len)
{
    if (len > sizeof(out->u.bytes))
        return LB_EINVAL;
    memset(out, 0, sizeof(*out));
    memcpy(out->u.bytes, sa, len);
    out->len = (uint32_t)len;
    return 0;
}

int
lb_addr_from_numeric(const char *host, uint16_t port, lb_addr_t *out)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    memset(&sin, 0, sizeof(sin));
    if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        return store(out, &sin, sizeof(sin));
    }
    memset(&sin6, 0, sizeof(sin6));
    if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        return store(out, &sin6, sizeof(sin6));
    }
    return LB_EINVAL;
}

int
lb_addr_from_unix(const char *path, lb_addr_t *out)
{
#ifdef _WIN32
    /* Winsock has AF_UNIX, but ConnectEx and the rest of IOCP do not. */
    (void)path;
    (void)out;
    return LB_ENOTSUP;
#else
    struct sockaddr_un sa_un;
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(sa_un.sun_path))
        return LB_EINVAL;
    memset(&sa_un, 0, sizeof(sa_un));
    sa_un.sun_family = AF_UNIX;
    memcpy(sa_un.sun_path, path, n + 1);
    return store(out, &sa_un, sizeof(sa_un));
#endif
}

void
lb_addr_any(int ipv6, uint16_t port, lb_addr_t *out)
{
    (void)lb_addr_from_numeric(ipv6 ? "::" : "0.0.0.0", port, out);
}

static int
resolve_family(const char *host, uint16_t port, int family, lb_addr_t *out)
{
    struct addrinfo hints, *res = NULL;
    char portstr[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0)
        return lb__gai_error(rc);
    rc = res ? store(out, res->ai_addr, (size_t)res->ai_addrlen)
             : LB_EAI_NONAME;
    freeaddrinfo(res);
    return rc;
}

int
lb_addr_resolve(const char *host, uint16_t port, lb_addr_t *out)
{
    int rc;

    if (lb_addr_from_numeric(host, port, out) == 0)
        return 0;
    /* IPv4 first, as the original's gethostbyname(): "localhost" must not
     * turn into ::1 when the backend listens on 127.0.0.1. */
    rc = resolve_family(host, port, AF_INET, out);
    if (rc == 0)
        return 0;
    if (resolve_family(host, port, AF_INET6, out) == 0)
        return 0;
    return rc;
}

void
lb_addr_format(const lb_addr_t *addr, char *buf, size_t size)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr->u.bytes;
    char host[INET6_ADDRSTRLEN];

    if (size == 0)
        return;
    if (addr->len >= sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const void *)addr->u.bytes;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
    } else if (addr->len >= sizeof(struct sockaddr_in6) &&
               sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const void *)addr->u.bytes;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
#ifndef _WIN32
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *sa_un = (const void *)addr->u.bytes;
        snprintf(buf, size, "unix:%.*s", (int)sizeof(sa_un->sun_path),
                 sa_un->sun_path);
#endif
    } else {
        snprintf(buf, size, "(unknown address)");
    }
}

uint16_t
lb_addr_port(const lb_addr_t *addr)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr->u.bytes;

    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(
            ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

int
lb_addr_equal(const lb_addr_t *a, const lb_addr_t *b)
{
    return a->len == b->len && memcmp(a->u.bytes, b->u.bytes, a->len) == 0;
}

int
lb_addr_ip(const lb_addr_t *addr, unsigned char out[16])
{
    const struct sockaddr *sa = (const struct sockaddr *)addr->u.bytes;

    if (addr->len >= sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const void *)addr->u.bytes;
        memcpy(out, &sin->sin_addr, 4);
        return 4;
    }
    if (addr->len >= sizeof(struct sockaddr_in6) &&
        sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const void *)addr->u.bytes;
        memcpy(out, &sin6->sin6_addr, 16);
        return 16;
    }
    return 0;
}

int
lb_addr_from_ip(const unsigned char *ip, size_t len, uint16_t port,
                lb_addr_t *out)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    if (len == 4) {
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        memcpy(&sin.sin_addr, ip, 4);
        return store(out, &sin, sizeof(sin));
    }
    if (len == 16) {
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        memcpy(&sin6.sin6_addr, ip, 16);
        return store(out, &sin6, sizeof(sin6));
    }
    return LB_EINVAL;
}
