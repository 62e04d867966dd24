/* lb_version.h - the release number, shown by --version and in logs. */
#ifndef LB_VERSION_H
#define LB_VERSION_H
#define LB_VERSION "3.0.0"
#endif
