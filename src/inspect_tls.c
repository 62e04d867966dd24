/* inspect_tls.c - the server name (SNI) of a TLS ClientHello, read from a
 * client's first bytes without terminating TLS (RFC 8446 sections 4.1.2
 * and 5.1, RFC 6066 section 3). The handshake message may span records
 * and arrive in pieces; the caller asks again once `need` bytes are in, so
 * a hello sent a byte at a time is parsed once per record, not per byte.
 * Every length is checked against what is there before it is used. */
#include <string.h>

#include "lb_inspect.h"

#define CONTENT_HANDSHAKE 22
#define HANDSHAKE_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define NAME_TYPE_HOST 0
#define RECORD_HEADER 5
#define RECORD_MAX 16384 /* 2^14, a record's largest plaintext */

/* The bytes of a message being read, with what is left of them. */
typedef struct cursor_s {
    const unsigned char *p;
    size_t left;
} cursor_t;

static unsigned
be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static int
take(cursor_t *c, size_t n, cursor_t *part)
{
    if (c->left < n)
        return -1;
    if (part != NULL) {
        part->p = c->p;
        part->left = n;
    }
    c->p += n;
    c->left -= n;
    return 0;
}

/* A length of `width` bytes (1 or 2), then that many bytes into part. */
static int
take_vector(cursor_t *c, int width, cursor_t *part)
{
    size_t n;

    if (c->left < (size_t)width)
        return -1;
    n = width == 1 ? c->p[0] : be16(c->p);
    c->p += width;
    c->left -= (size_t)width;
    return take(c, n, part);
}

static int
host_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
}

/* A host name as routes compare it: letters, digits, '-', '_' and dots
 * between non-empty labels, lower-cased, without the trailing dot. */
static int
copy_host(const cursor_t *name, lb_inspect_t *out)
{
    size_t n = name->left;

    if (n > 0 && name->p[n - 1] == '.')
        n--;
    if (n == 0 || n > LB_INSPECT_VALUE_MAX || name->p[0] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        int ch = name->p[i];

        if (!host_char(ch) || (ch == '.' && name->p[i + 1] == '.'))
            return -1;
        out->value[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    out->value[n] = '\0';
    return 0;
}

/* The server_name extension's first host_name entry. */
static int
server_name(cursor_t ext, lb_inspect_t *out)
{
    cursor_t list, name;
    int type;

    if (take_vector(&ext, 2, &list) != 0)
        return -1;
    while (list.left > 0) {
        type = list.p[0];
        if (take(&list, 1, NULL) != 0 || take_vector(&list, 2, &name) != 0)
            return -1;
        if (type == NAME_TYPE_HOST)
            return copy_host(&name, out);
    }
    return -1;
}

/* The ClientHello's body: versions, random, session id, cipher suites and
 * compression methods are stepped over to reach the extensions. */
static lb_inspect_status_t
client_hello(cursor_t body, lb_inspect_t *out)
{
    cursor_t exts, ext;

    if (take(&body, 2 + 32, NULL) != 0 || take_vector(&body, 1, NULL) != 0 ||
        take_vector(&body, 2, NULL) != 0 || take_vector(&body, 1, NULL) != 0)
        return LB_INSPECT_NONE;
    if (take_vector(&body, 2, &exts) != 0)
        return LB_INSPECT_NONE; /* no extensions: no name */
    while (exts.left >= 4) {
        unsigned type = be16(exts.p);

        if (take(&exts, 2, NULL) != 0 || take_vector(&exts, 2, &ext) != 0)
            return LB_INSPECT_NONE;
        if (type == EXT_SERVER_NAME)
            return server_name(ext, out) == 0 ? LB_INSPECT_FOUND
                                              : LB_INSPECT_NONE;
    }
    return LB_INSPECT_NONE;
}

/* The handshake message's length, once its header is in hs[0..n). */
static int
message_done(const unsigned char *hs, size_t n)
{
    return n >= 4 &&
           n - 4 >= ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
}

/* The handshake bytes of the complete records in data, in order, into
 * hs, up to the record that completes the message (a record counts only
 * whole, as TLS reads it, and what follows the message is not looked at:
 * more bytes never change the answer). Returns how many, or (size_t)-1
 * when the record at *next is not a TLS handshake record. Else *next is
 * where the first incomplete record (or header) starts, and *end where
 * that record ends (0 for an incomplete header). */
static size_t
gather(const unsigned char *data, size_t len, unsigned char *hs,
       size_t *next, size_t *end)
{
    size_t pos = 0, n = 0;

    *end = 0;
    while (pos + RECORD_HEADER <= len) {
        size_t rlen = be16(data + pos + 3);

        *next = pos;
        if (data[pos] != CONTENT_HANDSHAKE || data[pos + 1] != 3 ||
            rlen == 0 || rlen > RECORD_MAX)
            return (size_t)-1;
        if (len - pos - RECORD_HEADER < rlen) {
            *end = pos + RECORD_HEADER + rlen; /* a record counts whole */
            return n;
        }
        memcpy(hs + n, data + pos + RECORD_HEADER, rlen);
        n += rlen;
        pos += RECORD_HEADER + rlen;
        if (message_done(hs, n))
            break;
    }
    *next = pos;
    return n;
}

static void
need_more(lb_inspect_t *out, size_t need)
{
    if (need > LB_INSPECT_MAX) {
        out->status = LB_INSPECT_NONE; /* too long to wait for */
        return;
    }
    out->status = LB_INSPECT_MORE;
    out->need = need;
}

void
lb_inspect_tls(const unsigned char *data, size_t len, lb_inspect_t *out)
{
    unsigned char hs[LB_INSPECT_MAX];
    size_t n, next, end;
    cursor_t body;

    memset(out, 0, sizeof(*out));
    if (len > LB_INSPECT_MAX)
        len = LB_INSPECT_MAX;
    if ((len >= 1 && data[0] != CONTENT_HANDSHAKE) ||
        (len >= 2 && data[1] != 3)) {
        out->status = LB_INSPECT_OTHER;
        return;
    }
    n = gather(data, len, hs, &next, &end);
    if (n == (size_t)-1) {
        /* The first record decides whether this is TLS at all. */
        out->status = next == 0 ? LB_INSPECT_OTHER : LB_INSPECT_NONE;
        return;
    }
    if (n >= 4 && hs[0] != HANDSHAKE_CLIENT_HELLO) {
        out->status = LB_INSPECT_NONE;
        return;
    }
    if (message_done(hs, n)) {
        body.p = hs + 4;
        body.left = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
        out->status = client_hello(body, out);
        return;
    }
    /* The first two bytes can each tell it is not TLS. */
    need_more(out, len < 2 ? len + 1 : end != 0 ? end : next + RECORD_HEADER);
}
