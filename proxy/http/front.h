/* A client connection as the rest of sluice sees it, whatever its protocol.
 *
 * Each protocol (front_h2.c, front_h1.c) embeds a struct sl_front first in its
 * connection object and fills in a struct sl_front_ops. A request reaches its
 * client only through these ops, and the plane shuts fronts down through them,
 * so a new protocol is a new file, never a branch in request.c.
 *
 * Ownership: a front is owned by its plane (linked in plane->fronts from
 * sl_front_init to sl_front_fini) and owns the requests opened on it. It is
 * freed only by its own protocol, at the edge of a libevent callback. */
#ifndef SL_FRONT_H
#define SL_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "addr.h"
#include "headers.h"
#include "rules.h"
#include "stats.h"

struct bufferevent;
struct evbuffer;
struct sl_front;
struct sl_header_list;
struct sl_plane;
struct sl_request;

/* How long a draining connection must have had no request open before it is
 * closed. A busy client sends its next request within a round trip of the last
 * response, and many never retry one refused by a GOAWAY or lost to a close. */
#define SL_DRAIN_IDLE_MS 1000

/* How a request is ended without a (complete) response. */
enum sl_front_reset {
    SL_RESET_REFUSED,  /* never processed, the client may retry it (RFC 9113 §8.7) */
    SL_RESET_CANCEL,   /* the client stalled the exchange */
    SL_RESET_INTERNAL, /* the response broke, or cannot be sent */
};

struct sl_front_ops {
    /* Sends the response head: status and fields as the upstream (or sluice)
     * wrote them, which the front translates. With has_body, the front then
     * pulls the body with sl_request_take_body() until it reports the end.
     * Returns 0, or a negative code when the head cannot be sent. */
    int (*send_head)(struct sl_front *f, struct sl_request *req, unsigned status,
                     const struct sl_header_list *fields, bool has_body);
    /* More response body, or its end, is ready to be pulled. */
    void (*resume_body)(struct sl_front *f, struct sl_request *req);
    /* len bytes of request body were taken by the upstream (or will never be):
     * the client may send that much more. */
    void (*consume)(struct sl_front *f, struct sl_request *req, size_t len);
    /* Ends the request's exchange with the client without a complete response. */
    void (*reset)(struct sl_front *f, struct sl_request *req, enum sl_front_reset how);
    /* The drain began: go on serving what the client sends, as usual, until
     * the connection has been idle for SL_DRAIN_IDLE_MS, then close (HTTP/2:
     * with a GOAWAY). */
    void (*shutdown)(struct sl_front *f);
    /* The drain is nearly over: refuse new requests now (HTTP/2: GOAWAY;
     * HTTP/1.1: the next response says connection: close), answer those open,
     * then close. */
    void (*finish_shutdown)(struct sl_front *f);
    /* Frees the front at once; open requests are dropped. */
    void (*abort)(struct sl_front *f);
};

struct sl_front {
    const struct sl_front_ops *ops;
    struct sl_plane *plane;
    uint64_t id;
    unsigned listener_index; /* in cfg->listeners, for rules */
    bool is_tls;
    enum sl_stats_protocol protocol;
    struct sl_stats_conn *row; /* its row in the stats' connection table, or NULL */
    char peer[SL_ADDR_TEXT_MAX];
    struct sockaddr_storage peer_addr; /* ss_family AF_UNSPEC for a Unix-socket client */
    struct sl_ip peer_ip;              /* the same for rules; SL_IP_NONE for Unix */
    TAILQ_ENTRY(sl_front) in_plane;
};

/* Fills in the common part and links the front into its plane, with a row in
 * the connection table (protocol as the stats know it). */
void sl_front_init(struct sl_front *f, const struct sl_front_ops *ops, struct sl_plane *plane,
                   unsigned listener_index, bool is_tls, enum sl_stats_protocol protocol,
                   const struct sockaddr *peer, socklen_t peer_len);

/* Unlinks the front from its plane and frees its row; the last front of a
 * draining plane ends the event loop. */
void sl_front_fini(struct sl_front *f);

/* How long the connection may stay idle before it is closed: the config's
 * client_idle_timeout_ms, and at most SL_DRAIN_IDLE_MS once the drain began. */
uint32_t sl_front_idle_ms(const struct sl_front *f, bool is_draining);

/* The client's IP address as rules take it, or NULL for a Unix-socket client. */
const struct sl_ip *sl_front_peer_ip(const struct sl_front *f);

const char *sl_front_scheme(const struct sl_front *f); /* "http" or "https" */

/* What a backend is told of the client: its address and the scheme it used. */
struct sl_forward_info sl_front_forward_info(const struct sl_front *f);

/* Figures for the stats: bytes read (from bev, whose TLS version is noted once
 * the handshake has told it) and written, streams opened and closed. */
void sl_front_publish_read(struct sl_front *f, size_t bytes, struct bufferevent *bev);
void sl_front_publish_written(struct sl_front *f, size_t bytes);

/* Called just before a front adds bytes to an output that may be empty.
 * TLS: bufferevent_openssl writes one record, and one write(2), per chain of
 * the output, and evbuffer_add starts with a 1 KiB chain and doubles, so an
 * empty output starts as one chain of 4 KiB: what a loop turn produces, up to
 * that, goes out as one record, not one per chain (half the writes at c16m16,
 * and fewer reads for the client). Cleartext: nothing, as one writev(2) takes
 * every chain. */
void sl_front_prepare_output(const struct sl_front *f, struct evbuffer *out);

/* Cleartext: bev's output goes to the socket now, by a write of sluice's own,
 * and the bufferevent's write event is on only while the socket is full
 * (libevent's own way, adding the event, writing when it fires and deleting
 * it, costs two epoll_ctl a response). Whatever is left when the socket is
 * full, the bufferevent writes, calling the front's write callback once done.
 * TLS: nothing here, bufferevent_openssl writes. Returns false when the
 * connection failed. */
bool sl_front_write_out(struct sl_front *f, struct bufferevent *bev);

/* Cleartext with an empty output: data goes to the socket at once, by one
 * write(2), and only what the socket does not take is added to the output
 * (for sl_front_write_out to go on with). Otherwise, or over TLS, data is
 * added to the output. Either way the bytes are the front's to send, in
 * order; returns false only when they could not be queued (out of memory).
 * A response a loop turn produces whole then costs no evbuffer chain. */
bool sl_front_write_or_queue(struct sl_front *f, struct bufferevent *bev, const void *data,
                             size_t len);

/* Cleartext fronts read their socket themselves, not through the bufferevent:
 * libevent 2.1 reads at most 4 KiB a call and asks FIONREAD before each, so
 * 16 multiplexed bid requests took five turns of the loop and three syscalls
 * a turn, where one read of up to SL_FRONT_READ_BYTES takes them all. TLS
 * stays with bufferevent_openssl. One read(2) of at most max bytes into a
 * buffer the worker's fronts share; *data points at them until the next call.
 * Returns what read(2) returned. */
#define SL_FRONT_READ_BYTES (64 * 1024)
ssize_t sl_front_read(int fd, size_t max, const uint8_t **data);
void sl_front_publish_streams(struct sl_front *f, int opened, int closed);

#endif
