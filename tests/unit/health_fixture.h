/* health_fixture.h - what the health and algorithm suites share: a config
 * loaded from text, its shared block, and two worker views of listener 0
 * (one slot when processes = 1), with the core's log in a temp file. */
#ifndef LB_HEALTH_FIXTURE_H
#define LB_HEALTH_FIXTURE_H

#include "lb_server.h"

extern lb_config_t hf_cfg;
extern lb_shared_t hf_shared;
extern lb_health_t hf_w0, hf_w1;

void hf_setup(const char *text);
void hf_teardown(void);
/* How many log lines so far contain needle. */
int hf_logged(const char *needle);

#endif
