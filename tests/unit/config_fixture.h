/* config_fixture.h - what the config and algorithm suites share: loading
 * a config from text as "t.cfg", with its warnings collected. */
#ifndef LB_CONFIG_FIXTURE_H
#define LB_CONFIG_FIXTURE_H

#include <stddef.h>

#include "lb_config.h"

/* Warnings collected by the warn callback: how many, and the first. */
typedef struct {
    int count;
    char first[512];
} warnings_t;

void cf_collect_warning(void *ctx, const char *msg);
/* lb_config_load_string() of text as "t.cfg". */
int cf_load(const char *text, lb_config_t *cfg, warnings_t *w, char **err);
/* Loads text that must be valid; on failure prints why. */
int cf_load_ok(const char *text, lb_config_t *cfg, warnings_t *w);
/* The load must fail with "t.cfg:LINE: ..." (or "t.cfg: ..." for line 0)
 * and the message must contain needle; nothing is left behind. */
void expect_error_n(const char *text, size_t len, int line,
                    const char *needle);
void expect_error(const char *text, int line, const char *needle);

#endif
