/* The socket under every upstream protocol, and the events each protocol
 * drives it with: non-blocking, close-on-exec, TCP_NODELAY on TCP, connected
 * without waiting. */
#ifndef SL_UPSTREAM_SOCKET_H
#define SL_UPSTREAM_SOCKET_H

#include <stdbool.h>

#include <event2/event.h>

struct evbuffer;
struct sl_addr;

struct sl_upstream_io {
    int fd;                    /* owned */
    struct event *read_event;  /* EV_READ | EV_PERSIST */
    struct event *write_event; /* EV_WRITE | EV_PERSIST: while connecting, or the socket is full */
    struct event *flush_event; /* activated to write a loop turn's output at once */
    struct evbuffer *out;      /* bytes not yet written */
};

/* The protocol's handlers of the three events, all called with one argument. */
struct sl_upstream_io_handlers {
    event_callback_fn on_readable;
    event_callback_fn on_writable;
    event_callback_fn on_flush;
};

/* Starts connecting to addr, with the events made and none added. Returns 0
 * with *is_connected set (false: wait for the socket to be writable, then ask
 * sl_upstream_io_connect_error()), or -errno with nothing left to release. */
int sl_upstream_io_open(struct sl_upstream_io *io, const struct sl_addr *addr,
                        struct event_base *base, const struct sl_upstream_io_handlers *handlers,
                        void *arg, bool *is_connected);

/* Frees the events and the output and closes the socket. */
void sl_upstream_io_close(struct sl_upstream_io *io);

/* The outcome of a non-blocking connect once the socket is writable: 0 or an errno. */
int sl_upstream_io_connect_error(const struct sl_upstream_io *io);

#endif
