/* session_fixture.h - the fixture of the session suites (test_session.c,
 * test_inspect_session.c): a worker's server over the fake platform. */
#ifndef LB_SESSION_FIXTURE_H
#define LB_SESSION_FIXTURE_H

#include <stdio.h>

#include "fake_platform.h"
#include "lb_config.h"
#include "lb_server.h"

extern lb_config_t cfg;
extern lb_server_t srv;
extern lb_listener_t *listeners[1];
extern lb_shared_t shared;
extern FILE *log_out;  /* where the core's log lines go (main sets it) */
extern long log_start; /* where this test's lines begin */

/* A server for the config text's first listener, as worker slot 0. */
void start_server_with(const char *text);
/* Ends what a test left open, as a worker's exit would, and checks that
 * no session and no buffer is left. */
void stop_server(void);
/* What the core logged since the test began (the last 8 KiB at most). */
const char *logged(void);
/* The log holds needle; prints the log when not. */
void expect_logged(const char *needle);
/* N of a backend stream to "10.0.0.N:80". */
int backend_no(const lb_stream_t *s);
/* Accepts a client and completes its first connect. */
lb_stream_t *established(lb_stream_t **backend);
/* A minimal TLS 1.2 ClientHello with SNI name, into out (128 bytes do
 * for a short name); returns its length. */
size_t tls_hello(const char *name, unsigned char *out);

#endif
