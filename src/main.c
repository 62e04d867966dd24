/* main.c - the command line: pumpkinlb [cfgFile], --help, --help-config,
 * --version, -t; loads the config, binds every listener, starts workers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_config.h"
#include "lb_log.h"
#include "lb_server.h"
#include "lb_version.h"

#define LISTEN_BACKLOG 4096 /* the original's 5 dropped bursts */

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
        "    --help            Print this message\n"
        "    --help-config     Print help regarding usage of the config file\n"
        "    --version         Show version information\n"
        "    -t CONFIG         Check the config file and exit\n"
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

static void
log_supervisor(int is_error, const char *msg)
{
    if (is_error)
        lb_log_error("%s", msg);
    else
        lb_log("%s", msg);
}

static int
open_log_file(const lb_config_t *cfg)
{
    FILE *f;

    if (cfg->log_file == NULL)
        return 0;
    f = fopen(cfg->log_file, "a");
    if (f == NULL) {
        lb_log_fatal("%s: cannot open log_file '%s': %s", cfg->path,
                     cfg->log_file, strerror(errno));
        return LB_EXIT_CONFIG;
    }
    lb_log_set_file(f);
    return 0;
}

static void
log_listener(const lb_listener_cfg_t *l)
{
    size_t len = 1;
    char *list, *p;

    for (size_t i = 0; i < l->nbackends; i++)
        len += strlen(l->backends[i].label) + 2;
    list = malloc(len);
    if (list == NULL)
        return;
    p = list;
    *p = '\0';
    for (size_t i = 0; i < l->nbackends; i++)
        p += sprintf(p, "%s%s", i ? ", " : "", l->backends[i].label);
    lb_log("Starting up listener on %s with mappings: %s", l->listen_label,
           list);
    free(list);
    if (l->allow.n > 0 || l->deny.n > 0)
        lb_log("Listener %s checks clients: %lu allow and %lu deny "
               "entries", l->listen_label, (unsigned long)l->allow.n,
               (unsigned long)l->deny.n);
}

static int
bind_all(const lb_config_t *cfg, lb_listener_t **out)
{
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const lb_listener_cfg_t *l = &cfg->listeners[i];
        int rc = lb_listener_bind(&l->listen, LISTEN_BACKLOG, &out[i]);
        if (rc != 0) {
            lb_log_fatal("%s:%d: cannot listen on %s: %s", cfg->path,
                         l->line, l->listen_label, lb_strerror(rc));
            while (i-- > 0)
                lb_listener_close(out[i]);
            return LB_EXIT_BIND;
        }
    }
    return 0;
}

/* After binding (ports below 1024 need root), before anything else. */
static int
drop_privileges(const lb_config_t *cfg)
{
    char err[256];

    if (cfg->user == NULL && cfg->group == NULL)
        return 0;
    if (lb_drop_privileges(cfg->user, cfg->group, err, sizeof(err)) != 0) {
        lb_log_fatal("%s: %s", cfg->path, err);
        return LB_EXIT_CONFIG;
    }
    lb_log("Running as user %s%s%s", cfg->user, cfg->group ? ", group " : "",
           cfg->group ? cfg->group : "");
    return 0;
}

typedef struct run_ctx_s {
    const lb_config_t *cfg;
    lb_listener_t **listeners;
    lb_shared_t *shared;
} run_ctx_t;

static int
worker(const size_t *idx, size_t n, void *ctx)
{
    run_ctx_t *rc = ctx;

    return lb_server_run(rc->cfg, rc->listeners, rc->shared, idx, n);
}

static int
serve(const lb_config_t *cfg)
{
    lb_listener_t **listeners = calloc(cfg->nlisteners, sizeof(*listeners));
    run_ctx_t ctx = {cfg, listeners, NULL};
    lb_run_spec_t spec;
    int rc;

    if (listeners == NULL)
        return LB_EXIT_FAILURE;
    rc = bind_all(cfg, listeners);
    if (rc == 0 && (rc = drop_privileges(cfg)) != 0)
        for (size_t i = 0; i < cfg->nlisteners; i++)
            lb_listener_close(listeners[i]);
    if (rc != 0) {
        free(listeners);
        return rc;
    }
    ctx.shared = lb_shared_alloc(cfg->nlisteners * sizeof(lb_rr_t));
    if (ctx.shared == NULL) {
        lb_log_error("cannot allocate shared memory");
        free(listeners);
        return LB_EXIT_FAILURE;
    }
    lb_log("Configured buffer size = %lu bytes",
           (unsigned long)cfg->buffer_size);
    for (size_t i = 0; i < cfg->nlisteners; i++)
        log_listener(&cfg->listeners[i]);
    memset(&spec, 0, sizeof(spec));
    spec.listeners = listeners;
    spec.nlisteners = cfg->nlisteners;
    spec.processes = cfg->processes;
    spec.stop_timeout = cfg->graceful_timeout;
    spec.worker = worker;
    spec.ctx = &ctx;
    spec.log = log_supervisor;
    rc = lb_run_workers(&spec);
    lb_log_event(rc != 0, "Shutdown complete, exiting with status %d", rc);
    free(listeners);
    return rc;
}

/* Loads path; on failure says why ("FILE:LINE: ...") and returns the
 * exit status. */
static int
load_config(const char *path, lb_config_t *cfg)
{
    char *err = NULL;

    if (lb_config_load(path, cfg, warn_config, NULL, &err) == 0)
        return 0;
    lb_log_fatal("%s", err ? err : "invalid configuration");
    free(err);
    return LB_EXIT_CONFIG;
}

/* One run for one config file; also the Windows service's entry. */
static int
run_config(const char *path)
{
    lb_config_t cfg;
    long fds;
    int rc = load_config(path, &cfg);

    if (rc != 0)
        return rc;
    if (lb_file_writable_by_others(path))
        lb_log_error("warning: %s can be written by its group or by others; "
                     "whoever can write it decides where traffic goes "
                     "(chmod go-w)", path);
    rc = open_log_file(&cfg);
    if (rc == 0) {
        fds = lb_raise_fd_limit();
        if (fds > 0)
            lb_log_event(0, "PumpkinLB %s starting (pid %ld, config %s, up "
                         "to %ld open files)", LB_VERSION, lb_getpid(), path,
                         fds);
        else
            lb_log_event(0, "PumpkinLB %s starting (pid %ld, config %s)",
                         LB_VERSION, lb_getpid(), path);
        rc = serve(&cfg);
    }
    lb_config_free(&cfg);
    return rc;
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
    args_t args = {NULL, 0};
    int rc = lb_platform_main(argc, argv, run_config);

    if (rc >= 0)
        return rc;
    rc = parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;
    if (args.test_only)
        return check_config(args.config);
    return run_config(args.config);
}
