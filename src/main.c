/* main.c - the command line: pumpkinlb [cfgFile], --help, --help-config,
 * --version, -t; loads the config, binds every listener, starts workers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_admin.h"
#include "lb_config.h"
#include "lb_log.h"
#include "lb_run.h"
#include "lb_server.h"
#include "lb_version.h"

typedef struct args_s {
    const char *config;
    int test_only;
} args_t;

static void
usage(FILE *out, const char *prog)
{
    fprintf(out,
        "Usage: %s [config file]\n"
        "Starts the Pumpkin Load Balancer using the given config file.\n"
        "\n"
        "  Arguments:\n"
        "\n"
        "    --help, -h        Print this message\n"
        "    --help-config     Print help regarding usage of the config file\n"
        "    --version         Show version information\n"
        "    -t CONFIG         Check the config file and exit\n"
        "    --admin CONFIG show\n"
        "                      Show every backend: state, admin state,\n"
        "                      weight, max_conns, connections, last check\n"
        "    --admin CONFIG LISTENER BACKEND state=ready|drain|maint\n"
        "                      weight=N max_conns=N\n"
        "                      Change a backend through the admin API of\n"
        "                      the running balancer (its stats address and\n"
        "                      admin_token_file, read from CONFIG)\n"
        "\n"
        "%s"
        "\n"
        "  Exit status:\n"
        "\n"
        "    0 success, 1 runtime failure, 2 usage error,\n"
        "    3 configuration error, 4 cannot listen on an address\n"
        "%s"
        "\n"
        "PumpkinLB %s\n", prog, lb_platform_stop_usage(), lb_platform_usage(),
        LB_VERSION);
}

static void
version(void)
{
    printf("PumpkinLB %s - TCP load balancer and port forwarder\n",
           LB_VERSION);
}

/* Returns -1 to go on, or an exit status. */
static int
parse_args(int argc, char **argv, args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout, argv[0]);
            return LB_EXIT_OK;
        } else if (strcmp(arg, "--help-config") == 0) {
            fputs(lb_config_help, stdout);
            return LB_EXIT_OK;
        } else if (strcmp(arg, "--version") == 0) {
            version();
            return LB_EXIT_OK;
        } else if (strcmp(arg, "-t") == 0) {
            a->test_only = 1;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "%s: unknown option '%s'\n\n", argv[0], arg);
            usage(stderr, argv[0]);
            return LB_EXIT_USAGE;
        } else if (a->config) {
            fprintf(stderr, "%s: too many arguments\n\n", argv[0]);
            usage(stderr, argv[0]);
            return LB_EXIT_USAGE;
        } else {
            a->config = arg;
        }
    }
    if (a->config == NULL) {
        fprintf(stderr, "%s: no config file provided\n\n", argv[0]);
        usage(stderr, argv[0]);
        return LB_EXIT_USAGE;
    }
    return -1;
}

static void
warn_config(void *ctx, const char *msg)
{
    (void)ctx;
    lb_log_error("warning: %s", msg);
}

/* Loads path; on failure says why ("FILE:LINE: ...") and returns the
 * exit status. */
static int
load_config(const char *path, lb_config_t *cfg)
{
    char *err = NULL;

    if (lb_config_load(path, cfg, warn_config, NULL, &err) == 0)
        return 0;
    lb_log_fatal(LB_EVENT_CONFIG_ERROR, "%s",
                 err ? err : "invalid configuration");
    free(err);
    return LB_EXIT_CONFIG;
}

/* One run for one config file; also the Windows service's entry. */
static int
run_config(const char *path)
{
    lb_config_t cfg;
    char limit[160];
    int rc = load_config(path, &cfg);

    if (rc != 0)
        return rc;
    lb_run_check_permissions(&cfg);
    rc = lb_run_open_log(&cfg);
    if (rc == 0) {
        (void)lb_server_conn_limit(&cfg, limit, sizeof(limit));
        lb_log_event(LB_EVENT_STARTING,
                     "PumpkinLB %s starting (pid %ld, config %s%s)",
                     LB_VERSION, lb_getpid(), path, limit);
        rc = lb_run_serve(&cfg);
    }
    lb_config_free(&cfg);
    lb_log_flush(LB_LOG_EXIT_WAIT_MS); /* a service's last lines too */
    return rc;
}

/* The platform's question (a Windows service's preshutdown timeout): how
 * long a stop may drain under this config file. */
static int
stop_timeout(const char *path, uint64_t *ms)
{
    lb_config_t cfg;
    int rc = load_config(path, &cfg);

    if (rc != 0)
        return rc;
    *ms = (uint64_t)cfg.graceful_timeout_ms;
    lb_config_free(&cfg);
    return 0;
}

static int
check_config(const char *path)
{
    lb_config_t cfg;
    int rc = load_config(path, &cfg);

    if (rc != 0)
        return rc;
    printf("%s: configuration ok (%lu listener(s))\n", path,
           (unsigned long)cfg.nlisteners);
    lb_config_free(&cfg);
    return LB_EXIT_OK;
}

int
main(int argc, char **argv)
{
    static const lb_core_entry_t core = {run_config, stop_timeout};
    args_t args = {NULL, 0};
    int rc = lb_platform_main(argc, argv, &core);

    if (rc >= 0) {
        lb_log_close();
        return rc;
    }
    if (argc >= 2 && strcmp(argv[1], "--admin") == 0) {
        rc = lb_admin_command(argc - 2, argv + 2);
        lb_log_close();
        return rc;
    }
    rc = parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;
    rc = args.test_only ? check_config(args.config)
                        : run_config(args.config);
    lb_log_close();
    return rc;
}
