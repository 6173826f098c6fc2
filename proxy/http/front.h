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

#include <openssl/ssl.h>

#include "addr.h"
#include "headers.h"
#include "rules.h"
#include "stats.h"

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
    /* TLS: the session, owned; NULL in cleartext */
    SSL *ssl;
    /* TLS for a front that adds to its output directly (HTTP/1.1): the
     * plaintext not yet sealed (front_io.h). Owned; NULL otherwise. */
    struct evbuffer *tls_plain;
    enum sl_stats_protocol protocol;
    struct sl_stats_conn *row; /* its row in the stats' connection table, or NULL */
    char peer[SL_ADDR_TEXT_MAX];
    struct sockaddr_storage peer_addr; /* ss_family AF_UNSPEC for a Unix-socket client */
    struct sl_ip peer_ip;              /* the same for rules; SL_IP_NONE for Unix */
    TAILQ_ENTRY(sl_front) in_plane;
};

/* Fills in the common part and links the front into its plane, with a row in
 * the connection table (protocol as the stats know it). Takes ssl (NULL in
 * cleartext). */
void sl_front_init(struct sl_front *f, const struct sl_front_ops *ops, struct sl_plane *plane,
                   unsigned listener_index, SSL *ssl, enum sl_stats_protocol protocol,
                   const struct sockaddr *peer, socklen_t peer_len);

/* Unlinks the front from its plane, frees its row and its TLS session; the
 * last front of a draining plane ends the event loop. */
void sl_front_fini(struct sl_front *f);

/* How long the connection may stay idle before it is closed: the config's
 * client_idle_timeout_ms, and at most SL_DRAIN_IDLE_MS once the drain began. */
uint32_t sl_front_idle_ms(const struct sl_front *f, bool is_draining);

/* The client's IP address as rules take it, or NULL for a Unix-socket client. */
const struct sl_ip *sl_front_peer_ip(const struct sl_front *f);

const char *sl_front_scheme(const struct sl_front *f); /* "http" or "https" */

/* What a backend is told of the client: its address and the scheme it used. */
struct sl_forward_info sl_front_forward_info(const struct sl_front *f);

static inline bool sl_front_is_tls(const struct sl_front *f)
{
    return f->ssl != NULL;
}

/* Figures for the stats: bytes read (and the TLS version, once) and written,
 * streams opened and closed. */
void sl_front_publish_read(struct sl_front *f, size_t bytes);
void sl_front_publish_written(struct sl_front *f, size_t bytes);
void sl_front_publish_streams(struct sl_front *f, int opened, int closed);

#endif
