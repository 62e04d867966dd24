/* lb_version.h - the release number, shown by --version and in logs; the
 * numbers are for Windows' VERSIONINFO (platform/win32/pumpkinlb.rc), and
 * tests/wine/check_build_files.py checks that they spell LB_VERSION. */
#ifndef LB_VERSION_H
#define LB_VERSION_H
#define LB_VERSION "3.0.0"
#define LB_VERSION_MAJOR 3
#define LB_VERSION_MINOR 0
#define LB_VERSION_PATCH 0
#endif
