/* posix_log.c - log outputs that never wait for a reader. A pipe, FIFO or
 * terminal is written through a descriptor of its own opened with
 * O_NONBLOCK (reopened through /proc/self/fd, so the flag does not land on
 * the description a shell shares), a socket (journald's stream) with
 * MSG_DONTWAIT. A regular file cannot be written without waiting for the
 * disk, whatever its flags: it is marked `disk`, for the core to write it
 * from a timer. log_file is opened without following a symbolic link. */
#include "posix_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* SIGPIPE is ignored anyway */
#endif
#ifndef PIPE_BUF
#define PIPE_BUF 512 /* POSIX's least */
#endif

enum { KIND_FILE, KIND_STREAM, KIND_SOCKET };

struct lb_logout_s {
    int fd;
    int kind;
    int own;           /* fd is ours to close */
    int restore;       /* flags to give back to a shared fd, or -1 */
    char *path;        /* what lb_logout_open opened */
    dev_t dev;
    ino_t ino;
};

static lb_logout_t *std_outs[3]; /* by descriptor: 1 and 2 */

static lb_logout_t *
new_out(int fd, int kind, const struct stat *st)
{
    lb_logout_t *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return NULL;
    o->fd = fd;
    o->kind = kind;
    o->restore = -1;
    o->dev = st->st_dev;
    o->ino = st->st_ino;
    return o;
}

/* A description of our own with O_NONBLOCK for a standard output that is
 * a pipe or a terminal; where /proc is missing, the shared one gets the
 * flag, given back at close. */
static void
make_nonblocking(lb_logout_t *o, int which, const struct stat *st)
{
    char proc[32];
    struct stat st2;
    int fd, flags;

    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", which);
    fd = open(proc, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0 && fstat(fd, &st2) == 0 && st2.st_dev == st->st_dev &&
        st2.st_ino == st->st_ino) {
        o->fd = fd;
        o->own = 1;
        return;
    }
    if (fd >= 0)
        close(fd);
    flags = fcntl(which, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK) &&
        fcntl(which, F_SETFL, flags | O_NONBLOCK) == 0)
        o->restore = flags;
}

int
lb_logout_std(int which, lb_logout_t **out, char *err, size_t errlen)
{
    lb_logout_t *other;
    struct stat st;
    int kind;

    *out = NULL;
    if (which != 1 && which != 2)
        return LB_EINVAL;
    if (fstat(which, &st) != 0)
        return 0; /* closed: nowhere to write */
    other = std_outs[3 - which];
    if (other != NULL && other->dev == st.st_dev && other->ino == st.st_ino) {
        *out = std_outs[which] = other;
        return 0;
    }
    kind = S_ISREG(st.st_mode)    ? KIND_FILE
           : S_ISSOCK(st.st_mode) ? KIND_SOCKET
                                  : KIND_STREAM;
    *out = std_outs[which] = new_out(which, kind, &st);
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return LB_ENOMEM;
    }
    if (kind == KIND_STREAM)
        make_nonblocking(*out, which, &st);
    return 0;
}

/* O_NOFOLLOW: root opens it, and whoever can write its directory could
 * have put a link there to any file. */
static int
open_log(const char *path, int *fd_out, struct stat *st, char *err,
         size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
                            O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);

    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s", e == ELOOP ? "it is a symbolic link, "
                 "which is not followed: name the file itself"
                 : e == ENXIO ? "it is a FIFO nobody reads" : strerror(e));
        return lb__posix_error(e);
    }
    if (fstat(fd, st) != 0 || (S_ISREG(st->st_mode) && st->st_nlink > 1)) {
        snprintf(err, errlen, "it has %lu names (hard links); a log file "
                 "must have one", (unsigned long)st->st_nlink);
        close(fd);
        return LB_EINVAL;
    }
    *fd_out = fd;
    return 0;
}

int
lb_logout_open(const char *path, lb_logout_t **out, char *err,
               size_t errlen)
{
    struct stat st;
    int fd;
    int rc = open_log(path, &fd, &st, err, errlen);

    *out = NULL;
    if (rc != 0)
        return rc;
    *out = new_out(fd, S_ISREG(st.st_mode) ? KIND_FILE : KIND_STREAM, &st);
    if (*out != NULL)
        (*out)->path = strdup(path);
    if (*out == NULL || (*out)->path == NULL) {
        free(*out);
        *out = NULL;
        close(fd);
        snprintf(err, errlen, "out of memory");
        return LB_ENOMEM;
    }
    (*out)->own = 1;
    return 0;
}

void
lb_logout_info(const lb_logout_t *o, lb_logout_info_t *info)
{
    info->disk = o->kind == KIND_FILE;
    info->atomic = o->kind == KIND_FILE ? 0 : PIPE_BUF;
    info->crlf = 0;
    info->stamped = 0;
}

long
lb_logout_write(lb_logout_t *o, const char *buf, size_t len)
{
    for (;;) {
        ssize_t n = o->kind == KIND_SOCKET
                        ? send(o->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL)
                        : write(o->fd, buf, len);

        if (n >= 0)
            return (long)n;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return LB_EAGAIN;
        if (errno != EINTR)
            return lb__posix_error(errno);
    }
}

int
lb_logout_wait(lb_logout_t *o, int ms)
{
    struct pollfd pfd = {o->fd, POLLOUT, 0};

    if (o->kind != KIND_FILE)
        (void)poll(&pfd, 1, ms); /* an error or EINTR: the caller retries */
    return 1; /* nothing is held here */
}

unsigned long
lb_logout_lost(lb_logout_t *o)
{
    (void)o;
    return 0;
}

int
lb_logout_reopen(lb_logout_t *o, char *err, size_t errlen)
{
    struct stat st;
    int fd, rc;

    if (o->path == NULL)
        return 0;
    rc = open_log(o->path, &fd, &st, err, errlen);
    if (rc != 0)
        return rc;
    close(o->fd);
    o->fd = fd;
    o->kind = S_ISREG(st.st_mode) ? KIND_FILE : KIND_STREAM;
    o->dev = st.st_dev;
    o->ino = st.st_ino;
    return 0;
}

int
lb_logout_rotate_at(lb_logout_t *o, uint64_t max, unsigned keep)
{
    (void)o;
    (void)keep;
    return max == 0 ? 0 : LB_ENOTSUP;
}

int
lb_logout_give(lb_logout_t *o, const char *user, char *err, size_t errlen)
{
    struct passwd *pw;
    struct stat st;

    if (geteuid() != 0 || user == NULL || o->path == NULL ||
        o->kind != KIND_FILE)
        return 0;
    pw = getpwnam(user);
    if (pw == NULL)
        return 0; /* lb_drop_privileges says so */
    if (fstat(o->fd, &st) != 0 ||
        (st.st_uid != pw->pw_uid &&
         fchown(o->fd, pw->pw_uid, (gid_t)-1) != 0) ||
        ((st.st_mode & S_IWUSR) == 0 &&
         fchmod(o->fd, (st.st_mode & 07777) | S_IRUSR | S_IWUSR) != 0)) {
        snprintf(err, errlen, "cannot give it to user '%s': %s", user,
                 strerror(errno));
        return lb__posix_error(errno);
    }
    return 0;
}

void
lb_logout_close(lb_logout_t *o)
{
    if (o == NULL)
        return;
    if (o->restore >= 0)
        (void)fcntl(o->fd, F_SETFL, o->restore);
    if (o->own)
        close(o->fd);
    for (int i = 1; i <= 2; i++)
        if (std_outs[i] == o)
            std_outs[i] = NULL;
    free(o->path);
    free(o);
}

/* The working directory, malloc'd. */
static char *
cwd(void)
{
    size_t size = 256;

    for (;;) {
        char *buf = malloc(size);

        if (buf == NULL || getcwd(buf, size) != NULL)
            return buf;
        free(buf);
        if (errno != ERANGE)
            return NULL;
        size *= 2;
    }
}

char *
lb_path_beside(const char *base, const char *path)
{
    const char *slash = strrchr(base, '/');
    size_t dir = slash ? (size_t)(slash - base) + 1 : 0;
    char *here = NULL, *out;
    size_t len;

    if (path[0] == '/')
        return strdup(path);
    if (base[0] != '/' && (here = cwd()) == NULL)
        return NULL;
    len = (here ? strlen(here) + 1 : 0) + dir + strlen(path) + 1;
    out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s%s%.*s%s", here ? here : "", here ? "/" : "",
                 (int)dir, base, path);
    free(here);
    return out;
}
