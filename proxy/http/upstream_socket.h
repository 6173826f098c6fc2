/* The socket under every upstream protocol: non-blocking, close-on-exec, with
 * TCP_NODELAY on TCP, connected without waiting. */
#ifndef SL_UPSTREAM_SOCKET_H
#define SL_UPSTREAM_SOCKET_H

#include <stdbool.h>

struct sl_addr;

/* Returns a connecting socket (*is_connected false: wait for it to be writable,
 * then ask sl_upstream_socket_error()), a connected one (most Unix sockets), or
 * -errno. */
int sl_upstream_socket_open(const struct sl_addr *addr, bool *is_connected);

/* The outcome of a non-blocking connect once the socket is writable: 0 or an errno. */
int sl_upstream_socket_error(int fd);

#endif
