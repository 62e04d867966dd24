/* admin_client.c - pumpkinlb --admin CFG show | LISTENER BACKEND
 * state=drain|weight=N|max_conns=N: the admin API from the command line,
 * so that an administrator needs neither curl nor PowerShell. The config
 * says where the statistics are served and holds the token; the request
 * goes over the platform's own loop (the seam's connect, write and read,
 * bounded by a timer), as any connection of the balancer does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_admin.h"
#include "lb_bufpool.h"
#include "lb_log.h"

#define TIMEOUT_MS 10000
#define MAX_ANSWER (1 << 22) /* a table of 1024 backends fits */

typedef struct client_s {
    lb_loop_t *loop;
    lb_bufpool_t pool;
    lb_stream_t *stream;
    lb_timer_t timer;
    lb_buf_t request, answer;
    int status;   /* 0, or why the exchange failed (LB_E*) */
    int open;
} client_t;

static void
on_closed(lb_stream_t *s)
{
    client_t *c = lb_stream_data(s);

    lb_loop_stop(c->loop); /* nothing is left with the platform */
}

/* The exchange is over (status 0) or failed. */
static void
done(client_t *c, int status)
{
    if (c->status == 0)
        c->status = status;
    lb_timer_stop(&c->timer);
    if (c->stream == NULL)
        return;
    lb_stream_close(c->stream, status ? LB_CLOSE_RESET : LB_CLOSE_NORMAL,
                    on_closed);
    c->stream = NULL;
}

static void
on_read(lb_stream_t *s, long nread, char *buf)
{
    client_t *c = lb_stream_data(s);

    if (nread <= 0) {
        done(c, nread == LB_EOF ? 0 : (int)nread);
        return;
    }
    if (c->answer.len + (size_t)nread <= MAX_ANSWER)
        lb_buf_add(&c->answer, buf, (size_t)nread);
    lb_bufpool_put(&c->pool, buf);
    if (lb_stream_read(s, on_read) != 0)
        done(c, LB_EIO);
}

static void
on_written(lb_stream_t *s, int status)
{
    client_t *c = lb_stream_data(s);

    if (status != 0 || lb_stream_read(s, on_read) != 0)
        done(c, status ? status : LB_EIO);
}

static void
on_connected(lb_stream_t *s, int status)
{
    client_t *c = lb_stream_data(s);

    if (status != 0 || lb_stream_write(s, c->request.data, c->request.len,
                                       on_written) != 0)
        done(c, status ? status : LB_EIO);
}

static void
on_timeout(lb_timer_t *t)
{
    done(t->data, LB_ETIMEDOUT);
}

static void
on_stop(lb_loop_t *loop, lb_stop_reason_t why, void *data)
{
    (void)loop;
    (void)why;
    done(data, LB_ECANCELED); /* Ctrl+C */
}

/* Sends c->request to addr and keeps the answer; 0 or an LB_E* code. */
static int
exchange(client_t *c, const lb_addr_t *addr)
{
    lb_allocator_t a;
    int rc;

    lb_bufpool_init(&c->pool, 16384, 4);
    a = lb_bufpool_allocator(&c->pool);
    rc = lb_loop_new(&c->loop, &a);
    if (rc != 0)
        return rc;
    lb_loop_on_stop(c->loop, on_stop, c);
    lb_timer_init(c->loop, &c->timer, on_timeout, c);
    lb_timer_start(&c->timer, TIMEOUT_MS);
    rc = lb_stream_connect(c->loop, addr, on_connected, c, &c->stream);
    if (rc == 0)
        rc = lb_loop_run(c->loop);
    lb_loop_free(c->loop);
    lb_bufpool_free(&c->pool);
    return rc != 0 ? rc : c->status;
}

/* ---- the request ---- */

/* A name as a path segment: what the server reads as it is stays so. */
static void
put_encoded(lb_buf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || strchr("-._~:@[]", ch))
            lb_buf_add(b, s, 1);
        else
            lb_buf_printf(b, "%%%02X", ch);
    }
}

/* state=drain weight=3 ... as the JSON object the API takes. */
static int
json_body(int argc, char **argv, lb_buf_t *body)
{
    lb_buf_puts(body, "{");
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        const char *v = eq ? eq + 1 : "";
        size_t klen = eq ? (size_t)(eq - argv[i]) : 0;
        int text = klen == 5 && strncmp(argv[i], "state", 5) == 0;
        int num = (klen == 6 && strncmp(argv[i], "weight", 6) == 0) ||
                  (klen == 9 && strncmp(argv[i], "max_conns", 9) == 0);

        if (!text && !num) {
            fprintf(stderr, "pumpkinlb: --admin: '%s' is none of "
                    "state=ready|drain|maint, weight=N, max_conns=N\n",
                    argv[i]);
            return -1;
        }
        if (num && (v[0] == '\0' || strspn(v, "0123456789") != strlen(v))) {
            fprintf(stderr, "pumpkinlb: --admin: %.*s must be a whole "
                    "number, got '%s'\n", (int)klen, argv[i], v);
            return -1;
        }
        lb_buf_printf(body, "%s\"%.*s\":", i ? "," : "", (int)klen,
                      argv[i]);
        if (text)
            lb_stats_escape_json(body, v);
        else
            lb_buf_puts(body, v);
    }
    lb_buf_puts(body, "}");
    return body->failed ? -1 : 0;
}

static int
build_request(const lb_stats_cfg_t *st, int argc, char **argv,
              lb_buf_t *req)
{
    const char *token = st->admin_token ? st->admin_token : st->token;
    lb_buf_t body = {0};
    int show = argc == 1 && strcmp(argv[0], "show") == 0;

    if (!show && (argc < 3 || json_body(argc - 2, argv + 2, &body) != 0)) {
        lb_buf_free(&body);
        return -1;
    }
    if (show) {
        lb_buf_puts(req, "GET /api/v1/backends HTTP/1.0\r\n"
                         "Accept: text/plain\r\n");
    } else {
        lb_buf_puts(req, "PUT /api/v1/listeners/");
        put_encoded(req, argv[0]);
        lb_buf_puts(req, "/backends/");
        put_encoded(req, argv[1]);
        lb_buf_printf(req, " HTTP/1.0\r\nContent-Type: application/json\r\n"
                      "Content-Length: %llu\r\n",
                      (unsigned long long)body.len);
    }
    lb_buf_printf(req, "Host: %s\r\nUser-Agent: pumpkinlb --admin\r\n",
                  st->label);
    if (token != NULL)
        lb_buf_printf(req, "Authorization: Bearer %s\r\n", token);
    lb_buf_puts(req, "\r\n");
    if (body.len > 0)
        lb_buf_add(req, body.data, body.len);
    lb_buf_free(&body);
    return req->failed ? -1 : 0;
}

/* ---- the answer ---- */

/* Prints the answer's body; 0 for a 200, else LB_EXIT_FAILURE with the
 * status on stderr. */
static int
print_answer(const lb_buf_t *a)
{
    const char *body = a->len ? strstr(a->data, "\r\n\r\n") : NULL;
    int status = 0;

    if (body == NULL || sscanf(a->data, "HTTP/1.%*d %d", &status) != 1) {
        fprintf(stderr, "pumpkinlb: --admin: no HTTP answer from the "
                "statistics address\n");
        return LB_EXIT_FAILURE;
    }
    body += 4;
    if (status == 200) {
        fputs(body, stdout);
        return LB_EXIT_OK;
    }
    fprintf(stderr, "pumpkinlb: --admin: the server answered %d: %s%s",
            status, body, body[0] && body[strlen(body) - 1] == '\n' ? ""
                                                                    : "\n");
    if (status == 401 || status == 405)
        fprintf(stderr, "pumpkinlb: --admin: changes need "
                "admin_token_file in the config the server runs with\n");
    return LB_EXIT_FAILURE;
}

/* The stats address, or loopback when it is every interface's. */
static void
target(const lb_stats_cfg_t *st, lb_addr_t *out)
{
    unsigned char ip[16], zero[16] = {0};
    int n = lb_addr_ip(&st->addr, ip);

    *out = st->addr;
    if (n > 0 && memcmp(ip, zero, (size_t)n) == 0)
        lb_addr_from_numeric(n == 4 ? "127.0.0.1" : "::1",
                             lb_addr_port(&st->addr), out);
}

static int
usage(void)
{
    fprintf(stderr, "Usage: pumpkinlb --admin CONFIG show\n"
            "       pumpkinlb --admin CONFIG LISTENER BACKEND "
            "state=ready|drain|maint weight=N max_conns=N\n");
    return LB_EXIT_USAGE;
}

int
lb_admin_command(int argc, char **argv)
{
    lb_config_t cfg;
    client_t c;
    lb_addr_t addr;
    char *err = NULL;
    int rc;

    if (argc < 2 || (argc == 2 && strcmp(argv[1], "show") != 0) ||
        argc == 3)
        return usage();
    if (lb_config_load(argv[0], &cfg, NULL, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", err ? err : "invalid configuration");
        free(err);
        return LB_EXIT_CONFIG;
    }
    if (cfg.stats.line == 0) {
        fprintf(stderr, "pumpkinlb: --admin: %s has no stats = ADDRESS:PORT, "
                "where the admin API is served\n", argv[0]);
        lb_config_free(&cfg);
        return LB_EXIT_CONFIG;
    }
    memset(&c, 0, sizeof(c));
    target(&cfg.stats, &addr);
    rc = build_request(&cfg.stats, argc - 1, argv + 1, &c.request);
    lb_config_free(&cfg); /* the token is in the request now */
    if (rc != 0) {
        lb_buf_free(&c.request);
        return usage();
    }
    rc = exchange(&c, &addr);
    memset(c.request.data, 0, c.request.len);
    lb_buf_free(&c.request);
    if (rc != 0) {
        fprintf(stderr, "pumpkinlb: --admin: %s\n", lb_strerror(rc));
        lb_buf_free(&c.answer);
        return LB_EXIT_FAILURE;
    }
    rc = print_answer(&c.answer);
    lb_buf_free(&c.answer);
    return rc;
}
