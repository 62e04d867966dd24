/* session_fixture.c - what the session suites share: one worker's
 * server over the fake platform for a config text, the core's log lines
 * since a test began, and a connected client. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "session_fixture.h"

lb_config_t cfg;
lb_server_t srv;
lb_listener_t *listeners[1];
lb_shared_t shared;
FILE *log_out;  /* where the core's log lines go */
long log_start; /* where this test's lines begin */

void
start_server_with(const char *text)
{
    size_t idx = 0;
    char *err = NULL;

    fake_reset();
    fseek(log_out, 0, SEEK_END);
    log_start = ftell(log_out);
    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("t.cfg", text, strlen(text),
                                                &cfg, NULL, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_bind(&cfg.listeners[0].listen, 16,
                                           &listeners[0]), 0);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&cfg, &shared), 0);
    CU_ASSERT_EQUAL_FATAL(lb_server_init(&srv, &cfg, listeners, &shared,
                                         &idx, 1, 0), 0);
}

/* Ends what a test left open, as a worker's exit would. */
void
stop_server(void)
{
    lb_session_abort_all(&srv, 1);
    fake_run_closes();
    CU_ASSERT_EQUAL(srv.active, 0);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0);
    lb_server_fini(&srv); /* detaches the listener */
    lb_listener_close(listeners[0]); /* the binder's, as a run's end */
    lb_config_free(&cfg);
    lb_shared_release(&shared);
    fake_reset();
}

/* What the core logged since the test began (the last 8 KiB at most). */
const char *
logged(void)
{
    static char text[8192];
    long end;
    size_t n;

    fseek(log_out, 0, SEEK_END);
    end = ftell(log_out);
    if (end - log_start > (long)sizeof(text) - 1)
        log_start = end - (long)sizeof(text) + 1;
    fseek(log_out, log_start, SEEK_SET);
    n = fread(text, 1, sizeof(text) - 1, log_out);
    text[n] = '\0';
    fseek(log_out, 0, SEEK_END);
    return text;
}

/* The connection log line holds needle; prints the log when not. */
void
expect_logged(const char *needle)
{
    const char *text = logged();

    CU_ASSERT_PTR_NOT_NULL(strstr(text, needle));
    if (strstr(text, needle) == NULL)
        fprintf(stderr, "\nwanted '%s' in the log:\n%s\n", needle, text);
}

int
backend_no(const lb_stream_t *s)
{
    char label[LB_ADDRSTRLEN];

    lb_addr_format(&s->addr, label, sizeof(label));
    return label[7] - '0'; /* "10.0.0.N:80" */
}

/* Accepts a client and completes its first connect. */
lb_stream_t *
established(lb_stream_t **backend)
{
    lb_stream_t *client = fake_accept();

    *backend = fake.last_connect;
    fake_connected(*backend, 0);
    CU_ASSERT(client->reading);
    CU_ASSERT((*backend)->reading);
    return client;
}

/* A minimal TLS 1.2 ClientHello in one record, with SNI name. */
size_t
tls_hello(const char *name, unsigned char *out)
{
    size_t n = strlen(name), body = 2 + 32 + 1 + 4 + 2 + 2 + 9 + n, at = 0;

    memcpy(out, "\x16\x03\x01", 3);
    out[3] = (unsigned char)((body + 4) >> 8);
    out[4] = (unsigned char)(body + 4);
    out[5] = 1; /* ClientHello */
    out[6] = 0;
    out[7] = (unsigned char)(body >> 8);
    out[8] = (unsigned char)body;
    at = 9;
    out[at++] = 3;
    out[at++] = 3;
    memset(out + at, 0x5a, 32); /* random */
    at += 32;
    out[at++] = 0;                          /* session id */
    memcpy(out + at, "\x00\x02\x13\x01", 4); /* one cipher suite */
    at += 4;
    memcpy(out + at, "\x01\x00", 2); /* compression: null */
    at += 2;
    out[at++] = 0; /* extensions: length */
    out[at++] = (unsigned char)(9 + n);
    memcpy(out + at, "\x00\x00", 2); /* server_name */
    at += 2;
    out[at++] = 0;
    out[at++] = (unsigned char)(5 + n);
    out[at++] = 0;
    out[at++] = (unsigned char)(3 + n);
    out[at++] = 0; /* host_name */
    out[at++] = 0;
    out[at++] = (unsigned char)n;
    memcpy(out + at, name, n);
    return at + n;
}
