/* fuzz_check.c - libFuzzer target for what a health check parses: a
 * backend's reply (src/check_reply.c, from the network) judged under
 * check_expect, check_http and check_expect_re, and, from the config,
 * regular expressions (src/regex.c) and check_send's escapes. The first
 * byte chooses:
 *   0: check_expect "+PONG" judges the rest;
 *   1: check_http (any 2xx or 3xx) judges the rest; 2: the same wanting 503;
 *   3: the rest up to a NUL byte is a pattern, compiled, and what follows
 *      is judged with it;
 *   4: the rest is unescaped as check_send.
 * Besides the sanitizers' findings, a broken invariant aborts: a verdict
 * reached on part of a reply stays the verdict on all of it; a PASS for
 * check_expect means the reply starts with it; unescaping never
 * lengthens.
 *
 * Built by `make fuzz` and, with replay_main.c, by `make test` to replay
 * tests/fuzz/corpus-check and tests/fuzz/regressions-check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The verdict on the whole reply, checked against those on its parts. */
static void
judge_all(const lb_check_cfg_t *c, const char *reply, size_t len)
{
    size_t cut[3] = {len / 3, len / 2, len ? len - 1 : 0};
    int why, whole;

    if (len > LB_CHECK_MAX_REPLY)
        len = LB_CHECK_MAX_REPLY; /* the caller never passes more */
    whole = lb_check_judge(c, reply, len, 1, &why);
    if (whole == LB_CHECK_MORE)
        abort(); /* at the end there is a verdict */
    if (whole == LB_CHECK_PASS && c->expect != NULL &&
        (len < c->expect_len || memcmp(reply, c->expect, c->expect_len)))
        abort();
    for (int i = 0; i < 3; i++) {
        int part;

        if (cut[i] > len)
            continue;
        part = lb_check_judge(c, reply, cut[i], 0, &why);
        if (part != LB_CHECK_MORE && part != whole)
            abort();
    }
}

static void
with_pattern(const char *in, size_t n)
{
    const char *nul = memchr(in, '\0', n);
    char err[160], *pattern;
    lb_check_cfg_t c;
    size_t plen = nul ? (size_t)(nul - in) : n;

    memset(&c, 0, sizeof(c));
    pattern = malloc(plen + 1);
    if (pattern == NULL)
        return;
    memcpy(pattern, in, plen);
    pattern[plen] = '\0';
    if (lb_regex_compile(pattern, &c.expect_re, err, sizeof(err)) == 0) {
        judge_all(&c, nul ? nul + 1 : in, nul ? n - plen - 1 : n);
        lb_regex_free(c.expect_re);
    } else if (err[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    free(pattern);
}

static void
unescape(const char *in, size_t n)
{
    char *text = malloc(n + 1), *out = NULL, err[160];
    size_t len = 0;

    if (text == NULL)
        return;
    memcpy(text, in, n);
    text[n] = '\0';
    if (lb_check_unescape(text, &out, &len, err, sizeof(err)) == 0) {
        if (len > strlen(text) || len == 0)
            abort();
        free(out);
    }
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_check_cfg_t c;
    char *in;

    if (size == 0)
        return 0;
    /* An exact-size copy, so ASan sees a read past the end. */
    in = malloc(size - 1 ? size - 1 : 1);
    if (in == NULL)
        return 0;
    memcpy(in, data + 1, size - 1);
    memset(&c, 0, sizeof(c));
    switch (data[0] % 5) {
    case 0:
        c.expect = "+PONG";
        c.expect_len = 5;
        judge_all(&c, in, size - 1);
        break;
    case 1:
    case 2:
        c.http_path = "/primary";
        c.expect_status = data[0] % 5 == 2 ? 503 : 0;
        judge_all(&c, in, size - 1);
        break;
    case 3:
        with_pattern(in, size - 1);
        break;
    default:
        unescape(in, size - 1);
        break;
    }
    free(in);
    return 0;
}
