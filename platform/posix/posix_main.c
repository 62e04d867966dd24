/* posix_main.c - POSIX has no command lines of its own beyond the core's,
 * and its system log is the service manager's capture of stdout/stderr. */
#include "posix_internal.h"

int
lb_platform_main(int argc, char **argv, const lb_core_entry_t *core)
{
    (void)argc;
    (void)argv;
    (void)core;
    return -1;
}

const char *
lb_platform_usage(void)
{
    return "";
}

const char *
lb_platform_stop_usage(void)
{
    return "  Signals:\n"
           "\n"
           "    SIGTERM, SIGINT   Graceful shutdown: stop accepting, let active\n"
           "                      connections finish (graceful_shutdown_timeout,\n"
           "                      default 6 s), then close the rest. A second\n"
           "                      signal stops at once.\n"
           "    SIGHUP            Reload the config file: a bad one is logged and\n"
           "                      the running one stays; unchanged listeners keep\n"
           "                      their sockets; open connections finish.\n";
}

void
lb_platform_event(lb_event_t kind, const char *msg)
{
    (void)kind;
    (void)msg;
}
