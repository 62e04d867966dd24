/* fuzz_inspect.c - libFuzzer target for what a network peer sends first:
 * the TLS ClientHello and RDP Connection Request inspectors (src/
 * inspect_*.c). Each input is read as a client's first bytes, whole and
 * as it would arrive in pieces (a look at each `need` the inspector asks
 * for), and a broken promise aborts:
 * - MORE asks for more than it had, and never past LB_INSPECT_MAX;
 * - an answer (FOUND, NONE, OTHER) never changes with more bytes, so the
 *   pieces give the same answer as the whole;
 * - FOUND's value is a non-empty NUL-terminated string of at most
 *   LB_INSPECT_VALUE_MAX bytes (a TLS name: lower-case host characters).
 *
 * Built by `make fuzz-inspect` (libFuzzer) and, with replay_main.c, by
 * `make test` to replay tests/fuzz/corpus-inspect and
 * tests/fuzz/regressions-inspect. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_inspect.h"

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
    if (whole.status == LB_INSPECT_MORE &&
        (whole.need <= size || whole.need > LB_INSPECT_MAX))
        abort();
    in_pieces(fn, copy, size, &whole);
    free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(lb_inspect_tls, 1, data, size);
    one(lb_inspect_rdp, 0, data, size);
    return 0;
}
