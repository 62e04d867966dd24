/* session_proxy.c - the PROXY protocol in a session: the client's header
 * read in pieces, with a timeout, when the listener expects one
 * (accept_proxy); ours written to the backend before any client byte
 * (send_proxy), then the client bytes held meanwhile (those that came
 * with its header, those read to choose its backends). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_log.h"
#include "session_internal.h"

/* ---- PROXY protocol to the backend (send_proxy) ---- */

static void
on_held_written(lb_stream_t *s, int status)
{
    lb_session_t *sess = lb_stream_data(s);

    lb_bufpool_put(server(sess)->pool, sess->buf[TO_BACKEND]);
    sess->buf[TO_BACKEND] = NULL;
    if (status < 0)
        lb__session_sink_failed(sess, TO_BACKEND);
    else
        lb__session_first_read(sess);
}

/* n held client bytes go to the backend (counted as relayed), then cb. */
static void
write_held(lb_session_t *sess, char *buf, size_t n, lb_write_cb cb)
{
    sess->bytes[TO_BACKEND] += n;
    lb_stats_bytes(sess->group, sess->backend_idx, TO_BACKEND, (long)n);
    if (lb_stream_write(sess->backend, buf, n, cb) != 0)
        lb__session_end(sess, END_ERROR, 1);
}

/* Client bytes held in a relay buffer (after its PROXY header, or read
 * with or after its first bytes) go next, then the relay. */
static void
send_buffer_held(lb_session_t *sess)
{
    size_t n = sess->held;

    if (n == 0) {
        lb__session_first_read(sess);
        return;
    }
    sess->held = 0;
    write_held(sess, sess->buf[TO_BACKEND], n, on_held_written);
}

static void
on_inspected_written(lb_stream_t *s, int status)
{
    lb_session_t *sess = lb_stream_data(s);

    free(sess->opt->ibuf);
    sess->opt->ibuf = NULL;
    sess->opt->ilen = sess->opt->icap = 0;
    if (status < 0)
        lb__session_sink_failed(sess, TO_BACKEND);
    else
        send_buffer_held(sess);
}

/* The client's first bytes, when they took more than one read to come,
 * go first; what was held in a relay buffer after them. */
static void
send_held(lb_session_t *sess)
{
    if (sess->opt == NULL || sess->opt->ibuf == NULL)
        send_buffer_held(sess);
    else
        write_held(sess, sess->opt->ibuf, sess->opt->ilen,
                   on_inspected_written);
}

static void
on_header_written(lb_stream_t *s, int status)
{
    lb_session_t *sess = lb_stream_data(s);

    lb_pp_buf_free(&sess->pp);
    if (status < 0)
        lb__session_sink_failed(sess, TO_BACKEND);
    else
        send_held(sess);
}

/* The backend is connected: our PROXY header before any client byte, then
 * the bytes held, then the relay. */
void
lb__session_start_up(lb_session_t *sess)
{
    sess->state[TO_BACKEND] = H_WRITING;
    if (sess->pp.data == NULL)
        send_held(sess);
    else if (lb_stream_write(sess->backend, sess->pp.data, sess->pp.len,
                             on_header_written) != 0)
        lb__session_end(sess, END_ERROR, 1);
}

/* ---- the client's PROXY header (accept_proxy) ---- */

/* The header for the backend (send_proxy), built before the first connect
 * and kept until written: from the client's own header when it named the
 * addresses (chaining: dst), else from the connection. */
int
lb__session_prepare_header(lb_session_t *sess, const lb_group_t *g,
                           const lb_addr_t *dst)
{
    int version = g->cfg->send_proxy;
    lb_addr_t local;

    if (version == 0)
        return 0;
    if (dst == NULL)
        dst = &local;
    if (dst == &local && lb_stream_local(sess->client, &local) != 0)
        local.len = 0; /* sent as UNKNOWN (v1) or LOCAL (v2) */
    sess->pp.data = malloc(LB_PP_BUILD_MAX);
    if (sess->pp.data == NULL)
        return LB_ENOMEM;
    sess->pp.len = lb_pp_build(version, &sess->client_addr, dst,
                               sess->pp.data);
    return 0;
}

/* Logged at most once a second per listener: a client that speaks no
 * PROXY protocol could otherwise fill the log. */
static void
header_failed(lb_session_t *sess, const char *why)
{
    lb_served_listener_t *sl = sess->sl;
    char client[LB_ADDRSTRLEN];

    if (once_a_second(sess, &sl->last_proxy_log)) {
        client_label(sess, client, sizeof(client));
        lb_log_error("No valid PROXY header from %s on %s (%s); closing the "
                     "connection", client, sl->cfg->listen_label, why);
    }
    lb__session_end(sess, END_PROXY, 0);
}

static uint64_t
header_timeout_ms(const lb_session_t *sess)
{
    int64_t t = sess->sl->cfg->connect_timeout_ms;

    return t > 0 ? (uint64_t)t : PROXY_TIMEOUT_MS;
}

void
lb__session_header_timed_out(lb_session_t *sess)
{
    char why[64];

    snprintf(why, sizeof(why), "none complete within %.1f s",
             (double)header_timeout_ms(sess) / 1000.0);
    header_failed(sess, why);
}

/* The read's bytes after its first `used` (the end of the header) are
 * client data: kept in the read's buffer until the backend is up. */
static void
keep_rest(lb_session_t *sess, char *buf, size_t n, size_t used)
{
    if (used >= n) {
        lb_bufpool_put(server(sess)->pool, buf);
        return;
    }
    memmove(buf, buf + used, n - used);
    sess->buf[TO_BACKEND] = buf;
    sess->held = (uint32_t)(n - used);
}

static void
header_done(lb_session_t *sess, const lb_pp_header_t *hdr)
{
    lb_pp_buf_free(&sess->pp);
    sess->pp_wait = 0;
    lb_timer_stop(&sess->timer);
    if (hdr->has_addr)
        sess->client_addr = hdr->src;
    lb__session_admit(sess, hdr);
}

static void on_header_read(lb_stream_t *s, long nread, char *buf);

static void
read_header(lb_session_t *sess)
{
    if (lb_stream_read(sess->client, on_header_read) != 0)
        lb__session_end(sess, END_ERROR, 1);
}

static void
on_header_read(lb_stream_t *s, long nread, char *buf)
{
    lb_session_t *sess = lb_stream_data(s);
    lb_pp_header_t hdr;
    size_t used = 0;
    long rc;

    if (nread <= 0) {
        header_failed(sess, nread == LB_EOF ? "closed before a complete "
                                              "header"
                                            : lb_strerror((int)nread));
        return;
    }
    rc = lb_pp_feed(&sess->pp, buf, (size_t)nread, &hdr, &used);
    if (rc > 0)
        keep_rest(sess, buf, (size_t)nread, used);
    else
        lb_bufpool_put(server(sess)->pool, buf);
    if (rc > 0)
        header_done(sess, &hdr);
    else if (rc == LB_PP_NEED_MORE)
        read_header(sess);
    else
        header_failed(sess, lb_pp_strerror(rc));
}

void
lb__session_expect_header(lb_session_t *sess)
{
    sess->pp_wait = 1;
    lb_timer_start(&sess->timer,
                   header_timeout_ms(sess));
    read_header(sess);
}

