/* health_fixture.c - see health_fixture.h. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "health_fixture.h"
#include "lb_log.h"

lb_config_t hf_cfg;
lb_shared_t hf_shared;
lb_health_t hf_w0, hf_w1;
static FILE *log_fp;

void
hf_setup(const char *text)
{
    char *err = NULL;

    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("t.cfg", text, strlen(text),
                                                &hf_cfg, NULL, NULL, &err),
                          LB_EXIT_OK);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&hf_cfg, &hf_shared), 0);
    lb_health_init(&hf_w0, &hf_cfg.listeners[0], hf_shared.state[0],
                   hf_shared.conns[0], 0, hf_shared.processes);
    /* A second slot only where there is one: a slot past processes would
     * count into the next backend's row. */
    lb_health_init(&hf_w1, &hf_cfg.listeners[0], hf_shared.state[0],
                   hf_shared.conns[0], hf_shared.processes > 1 ? 1 : 0,
                   hf_shared.processes);
    log_fp = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(log_fp);
    lb_log_redirect(log_fp);
}

void
hf_teardown(void)
{
    lb_log_redirect(NULL);
    fclose(log_fp);
    lb_shared_release(&hf_shared);
    lb_config_free(&hf_cfg);
}

int
hf_logged(const char *needle)
{
    char line[512];
    int n = 0;

    fflush(log_fp);
    rewind(log_fp);
    while (fgets(line, sizeof(line), log_fp))
        n += strstr(line, needle) != NULL;
    fseek(log_fp, 0, SEEK_END);
    return n;
}
