/* posix_signal.c - signals only record and wake: the handler writes the
 * signal number to a self-pipe that the loop (or the supervisor) polls. */
#include "posix_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int lb__posix_is_worker = 0;
static int pipe_fds[2] = {-1, -1};

static void
on_signal(int signo)
{
    int saved = errno;
    unsigned char c = (unsigned char)signo;

    /* A full pipe already holds a wake-up; losing this byte is fine. */
    if (write(pipe_fds[1], &c, 1) < 0)
        errno = saved;
    errno = saved;
}

static int
set_handler(int signo, void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(signo, &sa, NULL) == 0 ? 0 : lb__posix_error(errno);
}

static int
make_pipe(void)
{
    if (pipe(pipe_fds) != 0)
        return lb__posix_error(errno);
    for (int i = 0; i < 2; i++) {
        if (lb__posix_nonblock(pipe_fds[i]) != 0 ||
            fcntl(pipe_fds[i], F_SETFD, FD_CLOEXEC) != 0)
            return lb__posix_error(errno);
    }
    return 0;
}

/* Forgets the parent's pipe in a new child so each process has its own. */
void
lb__posix_signals_reset(void)
{
    if (pipe_fds[0] >= 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
    }
    pipe_fds[0] = pipe_fds[1] = -1;
}

/* Installs the handlers (once per process) and returns the pipe's read
 * end. Workers ignore SIGTERM and SIGINT: a terminal's Ctrl+C or a service
 * manager reaches the whole process group, and the parent forwards exactly
 * one stop request per signal to each worker over its control pipe. */
int
lb__posix_signals_init(int *read_fd)
{
    int rc = 0;

    if (pipe_fds[0] < 0) {
        rc = make_pipe();
        if (rc == 0)
            rc = set_handler(SIGTERM, lb__posix_is_worker ? SIG_IGN
                                                          : on_signal);
        if (rc == 0)
            rc = set_handler(SIGINT, lb__posix_is_worker ? SIG_IGN
                                                         : on_signal);
        if (rc == 0)
            rc = set_handler(SIGPIPE, SIG_IGN);
        if (rc != 0)
            return rc;
    }
    *read_fd = pipe_fds[0];
    return 0;
}

/* The supervisor also wants SIGCHLD and SIGHUP through the pipe. */
int
lb__posix_signals_watch(int signo)
{
    return set_handler(signo, on_signal);
}
