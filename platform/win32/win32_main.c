/* win32_main.c - the command lines only Windows has: --service (the SCM's
 * entry), --install-service [CFG], --configure-service [CFG],
 * --uninstall-service, --reload-service. */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdio.h>
#include <string.h>

static const char *const commands[] = {
    "--service", "--install-service", "--configure-service",
    "--uninstall-service", "--reload-service",
};

static int
is_command(const char *arg)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(arg, commands[i]) == 0)
            return 1;
    return 0;
}

int
lb_platform_main(int argc, char **argv, const lb_core_entry_t *core)
{
    if (argc < 2)
        return -1;
    if (strcmp(argv[1], "--service") == 0 && argc == 3)
        return lb__win_service_start(argv[2], core);
    if (strcmp(argv[1], "--install-service") == 0 && argc <= 3)
        return lb__win_install(argc == 3 ? argv[2] : NULL, core);
    if (strcmp(argv[1], "--configure-service") == 0 && argc <= 3)
        return lb__win_configure(argc == 3 ? argv[2] : NULL, core);
    if (strcmp(argv[1], "--uninstall-service") == 0 && argc == 2)
        return lb__win_uninstall();
    if (strcmp(argv[1], "--reload-service") == 0 && argc <= 3)
        return lb__win_reload_service(argc == 3 ? argv[2] : NULL);
    if (is_command(argv[1])) {
        fprintf(stderr, "pumpkinlb: usage: --service CFG | "
                "--install-service [CFG] | --configure-service [CFG] | "
                "--uninstall-service | --reload-service [NAME]\n");
        return LB_EXIT_USAGE;
    }
    return -1;
}

const char *
lb_platform_usage(void)
{
    return "\n"
           "  Windows service:\n"
           "\n"
           "    --install-service [CFG]  Register service PumpkinLB "
           "(automatic start,\n"
           "                             LocalService; default CFG "
           "%ProgramData%\\PumpkinLB\\pumpkinlb.cfg)\n"
           "                             and configure it as below\n"
           "    --configure-service [CFG]\n"
           "                             Restart on failure, delayed start, "
           "Tcpip and Afd\n"
           "                             dependencies, service SID, "
           "privileges, preshutdown\n"
           "                             timeout from CFG; create CFG from "
           "CFG.default and\n"
           "                             lock its folder and file to "
           "administrators (the MSI\n"
           "                             runs this)\n"
           "    --uninstall-service      Stop and remove the service\n"
           "    --reload-service [NAME]  Reload the service's config (as "
           "sc control\n"
           "                             PumpkinLB paramchange): checked "
           "first, no\n"
           "                             connection refused or cut\n"
           "    --service CFG            The entry the Service Control "
           "Manager starts\n";
}

const char *
lb_platform_stop_usage(void)
{
    return "  Stopping:\n"
           "\n"
           "    Ctrl+C, Ctrl+Break, closing the console, or a service stop:\n"
           "                      graceful shutdown: stop accepting, let active\n"
           "                      connections finish (graceful_shutdown_timeout,\n"
           "                      default 6 s), then close the rest. A second\n"
           "                      Ctrl+C stops at once.\n";
}
