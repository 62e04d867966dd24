/* lb_run.h - one run of the balancer for a loaded config: bind every
 * listener, drop privileges, start the workers, reload on request
 * (SIGHUP, SERVICE_CONTROL_PARAMCHANGE) and stop. Core-internal. */
#ifndef LB_RUN_H
#define LB_RUN_H

#include "lb_config.h"

/* Serves cfg until stopped; returns the exit status. Takes cfg over (it is
 * left empty), since a reload replaces it. */
int lb_run_serve(lb_config_t *cfg);

/* Opens cfg's log_file (if any) for appending and logs to it from now on
 * (none: the previous one is closed). 0, or LB_EXIT_CONFIG with the reason
 * logged. */
int lb_run_open_log(const lb_config_t *cfg);
/* Warns of a config file others can write or another user owns, and of
 * running as root without `user`: at start and at each reload. */
void lb_run_check_permissions(const lb_config_t *cfg);

#endif
