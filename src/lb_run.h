/* lb_run.h - one run of the balancer for a loaded config: bind every
 * listener, drop privileges, start the workers, reload on request
 * (SIGHUP, SERVICE_CONTROL_PARAMCHANGE) and stop. Core-internal. */
#ifndef LB_RUN_H
#define LB_RUN_H

#include "lb_config.h"

/* Serves cfg until stopped; returns the exit status. Takes cfg over (it is
 * left empty), since a reload replaces it. */
int lb_run_serve(lb_config_t *cfg);

/* Warns (also in the system log) when someone other than its trusted
 * owners can change the config file at path: at start and at reload. */
void lb_run_check_config_file(const char *path);

/* Opens cfg's log_file (if any) for appending and logs to it from now on.
 * 0, or LB_EXIT_CONFIG with the reason logged. */
int lb_run_open_log(const lb_config_t *cfg);

#endif
