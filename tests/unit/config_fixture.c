/* config_fixture.c - see config_fixture.h. */
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
