/* fuzz_stats.c - libFuzzer target for the statistics server's
 * request parser (src/stats_request.c): every input is a request line and
 * headers as a network peer might send them, judged under two configs
 * (no token nor names; a token and stats_host names), as the first byte
 * chooses.
 *
 * Besides the sanitizers' findings, a broken invariant aborts: the
 * answer is a page or one of the error statuses; a page only for a GET
 * (and, with the token, a request that holds it); the input is not
 * written to.
 *
 * Built by `make fuzz` (clang, -fsanitize=fuzzer,address,undefined) and,
 * with replay_main.c instead of libFuzzer, by `make test` to replay
 * tests/fuzz/corpus_stats and tests/fuzz/regressions_stats. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
known_answer(int a)
{
    return a == LB_STATS_PAGE_HTML || a == LB_STATS_PAGE_METRICS ||
           a == LB_STATS_PAGE_JSON || a == LB_STATS_BAD_REQUEST ||
           a == LB_STATS_UNAUTHORIZED || a == LB_STATS_NOT_FOUND ||
           a == LB_STATS_NOT_ALLOWED || a == LB_STATS_MISDIRECTED;
}

static int
holds(const char *req, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(req + i, needle, n) == 0)
            return 1;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *hosts[] = {"metrics.example.net", "lb1"};
    static char token[] = "s3cret-T0ken";
    lb_stats_cfg_t cfg;
    char *req;
    int answer;

    if (size == 0)
        return 0;
    memset(&cfg, 0, sizeof(cfg));
    if (data[0] & 1) {
        cfg.token = token;
        cfg.hosts = hosts;
        cfg.nhosts = 2;
    }
    /* An exact-size copy, so ASan sees a read past the end. */
    req = malloc(size - 1 ? size - 1 : 1);
    if (req == NULL)
        return 0;
    memcpy(req, data + 1, size - 1);
    answer = lb_stats_request(req, size - 1, &cfg);
    if (!known_answer(answer))
        abort();
    if (answer <= LB_STATS_PAGE_JSON &&
        (size - 1 < 4 || memcmp(req, "GET ", 4) != 0 ||
         (cfg.token != NULL && !holds(req, size - 1, token))))
        abort();
    if (memcmp(req, data + 1, size - 1) != 0)
        abort();
    free(req);
    return 0;
}
