/* fuzz_inspect.c - libFuzzer target for what a network peer sends first:
 * a PROXY protocol header (src/proxy_proto.c), and the TLS ClientHello
 * and RDP Connection Request inspectors (src/inspect_*.c). Each input is
 * read as a client's first bytes, whole and as it would arrive in pieces,
 * and a broken promise aborts. PROXY: the header fed in pieces (sizes
 * taken from the input) gets the same answer and length as parsed whole,
 * never longer than the input, and a parsed address builds into a v1 and
 * a v2 header that parse back to it. The inspectors, at each `need`:
 * - MORE asks for more than it had, and never past LB_INSPECT_MAX;
 * - an answer (FOUND, NONE, OTHER) never changes with more bytes, so the
 *   pieces give the same answer as the whole;
 * - FOUND's value is a non-empty NUL-terminated string of at most
 *   LB_INSPECT_VALUE_MAX bytes (a TLS name: lower-case host characters);
 * - a TLS name goes to the route a plain search of the routes picks
 *   (src/route.c: the route listing it, else the longest *.suffix).
 *
 * Built by `make fuzz-inspect` (libFuzzer) and, with replay_main.c, by
 * `make test` to replay tests/fuzz/corpus-inspect and
 * tests/fuzz/regressions-inspect. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_config.h"
#include "lb_inspect.h"
#include "lb_proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef void (*inspect_fn)(const unsigned char *, size_t, lb_inspect_t *);

static void
check_value(const lb_inspect_t *r, int tls)
{
    size_t n = strnlen(r->value, sizeof(r->value));

    if (n == 0 || n > LB_INSPECT_VALUE_MAX)
        abort();
    for (size_t i = 0; tls && i < n; i++) {
        char c = r->value[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            abort();
    }
}

/* Routes as the loader leaves them (lower case, a wildcard as its
 * ".suffix"), nested and overlapping. */
static lb_sni_t sni_a[] = {{"a.example.com", 0}, {".b.example.com", 1},
                           {"localhost", 0}};
static lb_sni_t sni_b[] = {{".example.com", 1}, {"x.b.example.com", 0},
                           {".a", 1}};
static lb_sni_t sni_c[] = {{".x.b.example.com", 1}, {"a", 0}};
static lb_listener_cfg_t routes[3] = {
    {.sni = sni_a, .nsni = 3}, {.sni = sni_b, .nsni = 3},
    {.sni = sni_c, .nsni = 2},
};

static int
ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);

    return n > m && strcmp(name + n - m, suffix) == 0;
}

/* lb_route_find against a search of every name of every route: one
 * listing the name wins, else the longest matching wildcard. */
static void
check_route(const char *name)
{
    lb_config_t cfg = {.routes = routes, .nroutes = 3};
    lb_listener_cfg_t l = {.first_route = 0, .nroutes = 3};
    long exact = -1, wild = -1;
    size_t best = 0;

    for (size_t r = 0; r < 3; r++) {
        for (size_t k = 0; k < routes[r].nsni; k++) {
            const lb_sni_t *sn = &routes[r].sni[k];

            if (!sn->wildcard && strcmp(sn->name, name) == 0 && exact < 0)
                exact = (long)r;
            if (sn->wildcard && ends_with(name, sn->name) &&
                strlen(sn->name) > best) {
                best = strlen(sn->name);
                wild = (long)r;
            }
        }
    }
    if (lb_route_find(&cfg, &l, name) != (exact >= 0 ? exact : wild))
        abort();
}

static void
same(const lb_inspect_t *a, const lb_inspect_t *b)
{
    if (a->status != b->status || a->kind != b->kind ||
        strcmp(a->value, b->value) != 0 || a->port != b->port ||
        memcmp(a->ip, b->ip, sizeof(a->ip)) != 0)
        abort();
}

/* As the bytes would come: a look at 0 bytes, then at each `need`. */
static void
in_pieces(inspect_fn fn, const uint8_t *data, size_t size,
          const lb_inspect_t *whole)
{
    lb_inspect_t r;
    size_t have = 0;

    for (;;) {
        fn(data, have, &r);
        if (r.status != LB_INSPECT_MORE)
            break;
        if (r.need <= have || r.need > LB_INSPECT_MAX)
            abort();
        if (r.need > size) { /* the input ends first */
            if (whole->status != LB_INSPECT_MORE)
                abort();
            return;
        }
        have = r.need;
    }
    same(&r, whole);
}

static void
one(inspect_fn fn, int tls, const uint8_t *data, size_t size)
{
    lb_inspect_t whole;
    /* An exact-size copy: ASan sees a read past what came. */
    uint8_t *copy = malloc(size ? size : 1);

    if (copy == NULL)
        return;
    memcpy(copy, data, size);
    fn(copy, size, &whole);
    if (whole.status == LB_INSPECT_FOUND)
        check_value(&whole, tls);
    if (whole.status == LB_INSPECT_FOUND && tls)
        check_route(whole.value);
    if (whole.status == LB_INSPECT_MORE &&
        (whole.need <= size || whole.need > LB_INSPECT_MAX))
        abort();
    in_pieces(fn, copy, size, &whole);
    free(copy);
}

static void
same_header(const lb_pp_header_t *a, const lb_pp_header_t *b)
{
    if (a->has_addr != b->has_addr ||
        (a->has_addr && (!lb_addr_equal(&a->src, &b->src) ||
                         !lb_addr_equal(&a->dst, &b->dst))))
        abort();
}

/* An address as the PROXY protocol carries it: an IPv4-mapped IPv6
 * address as IPv4 (lb_pp_build sends it so), and the port. */
static void
same_sent(const lb_addr_t *a, const lb_addr_t *b)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0xff, 0xff};
    unsigned char ia[16], ib[16];
    int na = lb_addr_ip(a, ia), nb = lb_addr_ip(b, ib);
    unsigned char *pa = ia, *pb = ib;

    if (na == 16 && memcmp(ia, mapped, 12) == 0)
        pa += 12, na = 4;
    if (nb == 16 && memcmp(ib, mapped, 12) == 0)
        pb += 12, nb = 4;
    if (na != nb || memcmp(pa, pb, (size_t)na) != 0 ||
        lb_addr_port(a) != lb_addr_port(b))
        abort();
}

/* What was parsed is what lb_pp_build writes back, in both versions. */
static void
round_trip(const lb_pp_header_t *h)
{
    char out[LB_PP_BUILD_MAX];
    lb_pp_header_t again;

    for (int v = 1; v <= 2; v++) {
        size_t n = lb_pp_build(v, &h->src, &h->dst, out);

        if (n == 0 || n > LB_PP_BUILD_MAX ||
            lb_pp_parse(out, n, &again) != (long)n || !again.has_addr)
            abort();
        same_sent(&h->src, &again.src);
        same_sent(&h->dst, &again.dst);
    }
}

/* The header in pieces whose sizes the input's bytes choose. */
static void
proxy(const uint8_t *data, size_t size)
{
    lb_pp_header_t whole, fed;
    lb_pp_buf_t b = {NULL, 0};
    long rc = lb_pp_parse((const char *)data, size, &whole), frc = 0;
    size_t pos = 0, used = 0;

    if (rc > (long)size || (rc < 0 && lb_pp_strerror(rc) == NULL))
        abort();
    if (rc > 0 && whole.has_addr)
        round_trip(&whole);
    while (pos < size) {
        size_t n = 1 + data[pos] % 17;

        if (n > size - pos)
            n = size - pos;
        frc = lb_pp_feed(&b, (const char *)data + pos, n, &fed, &used);
        if (frc != LB_PP_NEED_MORE)
            break;
        pos += n;
    }
    lb_pp_buf_free(&b);
    if (frc == LB_PP_ENOMEM || size == 0)
        return;
    if (frc != rc && !(rc == LB_PP_NEED_MORE && pos == size))
        abort();
    if (rc > 0 && (pos + used != (size_t)rc))
        abort();
    if (rc > 0)
        same_header(&whole, &fed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proxy(data, size);
    one(lb_inspect_tls, 1, data, size);
    one(lb_inspect_rdp, 0, data, size);
    return 0;
}
