/* config_fixture.c - see config_fixture.h. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_fixture.h"

void
cf_collect_warning(void *ctx, const char *msg)
{
    warnings_t *w = ctx;

    if (w->count++ == 0)
        snprintf(w->first, sizeof(w->first), "%s", msg);
}

int
cf_load(const char *text, lb_config_t *cfg, warnings_t *w, char **err)
{
    return lb_config_load_string("t.cfg", text, strlen(text), cfg,
                                 cf_collect_warning, w, err);
}

int
cf_load_ok(const char *text, lb_config_t *cfg, warnings_t *w)
{
    char *err = NULL;
    int rc = cf_load(text, cfg, w, &err);

    if (rc != LB_EXIT_OK)
        fprintf(stderr, "\nunexpected error: %s\n", err ? err : "(null)");
    free(err);
    return rc;
}

/* The load must fail with "t.cfg:LINE: ..." (or "t.cfg: ..." for line 0)
 * and the message must contain needle. */
void
expect_error_n(const char *text, size_t len, int line, const char *needle)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    char *err = NULL;
    char prefix[64];
    int rc = lb_config_load_string("t.cfg", text, len, &cfg,
                                   cf_collect_warning, &w, &err);

    if (line > 0)
        snprintf(prefix, sizeof(prefix), "t.cfg:%d: ", line);
    else
        snprintf(prefix, sizeof(prefix), "t.cfg: ");
    CU_ASSERT_EQUAL(rc, LB_EXIT_CONFIG);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_EQUAL(strncmp(err, prefix, strlen(prefix)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
    if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, needle))
        fprintf(stderr, "\nwanted '%s...%s', got '%s'\n", prefix, needle,
                err);
    /* A failed load leaves nothing behind. */
    CU_ASSERT_EQUAL(cfg.nlisteners, 0);
    CU_ASSERT_PTR_NULL(cfg.listeners);
    free(err);
}

void
expect_error(const char *text, int line, const char *needle)
{
    expect_error_n(text, strlen(text), line, needle);
}
