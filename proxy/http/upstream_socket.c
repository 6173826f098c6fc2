#include "upstream_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "addr.h"

/* Returns a connecting or connected socket, or -errno. */
static int open_socket(const struct sl_addr *addr, bool *is_connected)
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

int sl_upstream_io_open(struct sl_upstream_io *io, const struct sl_addr *addr,
                        struct event_base *base, const struct sl_upstream_io_handlers *handlers,
                        void *arg, bool *is_connected)
{
    *io = (struct sl_upstream_io){.fd = open_socket(addr, is_connected)};
    if (io->fd < 0)
        return io->fd;
    io->read_event = event_new(base, io->fd, EV_READ | EV_PERSIST, handlers->on_readable, arg);
    io->write_event = event_new(base, io->fd, EV_WRITE | EV_PERSIST, handlers->on_writable, arg);
    io->flush_event = event_new(base, -1, 0, handlers->on_flush, arg);
    io->out = evbuffer_new();
    if (io->read_event && io->write_event && io->flush_event && io->out)
        return 0;
    sl_upstream_io_close(io);
    return -ENOMEM;
}

void sl_upstream_io_close(struct sl_upstream_io *io)
{
    if (io->read_event)
        event_free(io->read_event);
    if (io->write_event)
        event_free(io->write_event);
    if (io->flush_event)
        event_free(io->flush_event);
    if (io->out)
        evbuffer_free(io->out);
    if (io->fd >= 0)
        close(io->fd);
    *io = (struct sl_upstream_io){.fd = -1};
}

int sl_upstream_io_connect_error(const struct sl_upstream_io *io)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return errno;
    return err;
}
