/* posix_privs.c - giving up root after the listeners are bound: the
 * supplementary groups, then the group, then the user (in that order, as
 * setuid first would forbid the rest), and a check that it holds. */
#include "posix_internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
lookup(const char *user, const char *group, uid_t *uid, gid_t *gid,
       char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);

    if (pw == NULL) {
        snprintf(err, errlen, "user '%s' does not exist", user);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (group != NULL) {
        struct group *gr = getgrnam(group);
        if (gr == NULL) {
            snprintf(err, errlen, "group '%s' does not exist", group);
            return -1;
        }
        *gid = gr->gr_gid;
    }
    return 0;
}

/* Who started the program: remembered before privileges are dropped, as
 * the checks at a reload compare with it too. */
static uid_t
invoker(void)
{
    static uid_t uid = (uid_t)-1;
    static int known;

    if (!known) {
        uid = getuid();
        known = 1;
    }
    return uid;
}

int
lb_drop_privileges(const char *user, const char *group, char *err,
                   size_t errlen)
{
    uid_t uid;
    gid_t gid;

    (void)invoker();

    if (user == NULL && group == NULL)
        return 0;
    if (user == NULL) {
        snprintf(err, errlen, "'group' needs 'user' as well");
        return -1;
    }
    if (lookup(user, group, &uid, &gid, err, errlen) != 0)
        return -1;
    if (geteuid() == uid && getuid() == uid && getegid() == gid &&
        getgid() == gid)
        return 0; /* started as that user (systemd's User=): no switch,
                   * which a system call filter may forbid */
    if (geteuid() != 0 && geteuid() != uid) {
        snprintf(err, errlen, "only root can switch to user '%s'", user);
        return -1;
    }
    if ((geteuid() == 0 && setgroups(1, &gid) != 0) || setgid(gid) != 0 ||
        setuid(uid) != 0) {
        snprintf(err, errlen, "cannot switch to user '%s': %s", user,
                 strerror(errno));
        return -1;
    }
    /* If root could be had back, the switch did not hold. */
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(err, errlen, "switched to user '%s' but root could be "
                 "regained; refusing to run", user);
        return -1;
    }
    return 0;
}

int
lb_file_writable_by_others(const char *path, char *why, size_t whylen)
{
    struct stat st;

    if (whylen > 0)
        why[0] = '\0';
    if (stat(path, &st) != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) == 0)
        return 0;
    snprintf(why, whylen, "can be written by its group or by others "
             "(chmod go-w)");
    return 1;
}

int
lb_file_owner_foreign(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return 0;
    return st.st_uid != 0 && st.st_uid != invoker();
}

int
lb_running_as_root(void)
{
    return geteuid() == 0;
}

int
lb_file_readable_by_others(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return 0; /* opening it says why */
    return (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
}

int
lb_file_acl_readable_by_others(const char *path, char *why, size_t whylen)
{
    (void)path;
    if (whylen > 0)
        why[0] = '\0';
    return 0; /* mode bits say it: lb_file_readable_by_others */
}
