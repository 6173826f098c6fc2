#include "upstream_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"

int sl_upstream_socket_open(const struct sl_addr *addr, bool *is_connected)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (!sl_addr_is_unix(addr)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) == 0) {
        *is_connected = true;
        return fd;
    }
    int err = errno;
    if (err == EINPROGRESS) {
        *is_connected = false;
        return fd;
    }
    close(fd);
    return -err;
}

int sl_upstream_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return errno;
    return err;
}
