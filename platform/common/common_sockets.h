/* common_sockets.h - the socket headers of each system, for the few
 * platform files that use only the BSD socket API both systems share. */
#ifndef LB_COMMON_SOCKETS_H
#define LB_COMMON_SOCKETS_H

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "lb_platform.h"

/* Each platform translates getaddrinfo() failures in its error file. */
int lb__gai_error(int rc);

#endif
