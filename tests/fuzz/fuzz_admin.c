/* fuzz_admin.c - libFuzzer target for the admin API's requests: every
 * input is a request as a network peer might send it (request line,
 * headers, body), judged by lb_stats_parse under a config with a stats
 * token and an admin token; a PUT of the API then has its path and JSON
 * body parsed (src/admin_request.c) as the server does.
 *
 * Besides the sanitizers' findings, a broken invariant aborts: a PUT is
 * taken only from a request that holds the admin token and says PUT; its
 * body lies inside the request; a body that parses changes something,
 * within the ranges the API allows; decoded names are non-empty
 * strings of at most LB_ADMIN_MAX_NAME bytes.
 *
 * Built by `make fuzz` and, with replay_main.c, by `make test` to replay
 * tests/fuzz/corpus-admin and tests/fuzz/regressions-admin. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_admin.h"
#include "lb_health.h"
#include "lb_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
holds(const char *req, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(req + i, needle, n) == 0)
            return 1;
    return 0;
}

static void
check_change(const lb_admin_change_t *ch)
{
    if (ch->state < -1 || ch->state > LB_ADMIN_MAINT ||
        (ch->weight != -1 && (ch->weight < 1 || ch->weight > LB_MAX_WEIGHT)) ||
        (ch->max_conns != -1 &&
         (ch->max_conns < 0 || ch->max_conns > LB_ADMIN_MAX_CONNS)) ||
        (ch->state == -1 && ch->weight == -1 && ch->max_conns == -1))
        abort();
}

static void
put(const char *req, size_t len, const lb_stats_req_t *r)
{
    char l[LB_ADMIN_MAX_NAME + 1], b[LB_ADMIN_MAX_NAME + 1], why[160];
    lb_admin_change_t ch;

    if (r->target < req || r->target + r->target_len > req + len)
        abort();
    if (lb_admin_parse_path(r->target, r->target_len, l, b) == 0 &&
        (l[0] == '\0' || b[0] == '\0' || strlen(l) > LB_ADMIN_MAX_NAME ||
         strlen(b) > LB_ADMIN_MAX_NAME))
        abort();
    if (r->head_len == 0 || r->head_len + r->body_len > len)
        return; /* the server answers 400: the body did not all come */
    why[0] = '\0';
    if (lb_admin_parse_body(req + r->head_len, r->body_len, &ch, why,
                            sizeof(why)) == 0)
        check_change(&ch);
    else if (why[0] == '\0')
        abort(); /* a refusal always says why */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char token[] = "rd-T0ken", admin[] = "adm1n-T0ken";
    lb_stats_cfg_t cfg;
    lb_stats_req_t r;
    char *req;

    memset(&cfg, 0, sizeof(cfg));
    cfg.admin_token = admin;
    if (size > 0 && (data[0] & 1))
        cfg.token = token;
    /* An exact-size copy, so ASan sees a read past the end. */
    req = malloc(size ? size : 1);
    if (req == NULL)
        return 0;
    memcpy(req, data, size);
    lb_stats_parse(req, size, &cfg, &r);
    if (r.answer == LB_STATS_API_SET) {
        if (size < 4 || memcmp(req, "PUT ", 4) != 0 ||
            !holds(req, size, admin))
            abort();
        put(req, size, &r);
    }
    free(req);
    return 0;
}
