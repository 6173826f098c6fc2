/* A backend connection as requests and pools see it, whatever its protocol.
 *
 * Each protocol (upstream_h1.c, upstream_h2.c) embeds a struct sl_upconn first
 * in its connection object and provides a struct sl_upstream_ops. A pool lends
 * a connection one exchange (stream) at a time, up to what the connection says
 * it can carry; the request then talks to it only through the ops, and the
 * connection answers through the sl_request_on_upstream_* calls (request.h).
 *
 * Ownership: a connection is owned by its server's pool (upstream_pool.h) and
 * freed only through ops->free, by the pool. */
#ifndef SL_UPSTREAM_H
#define SL_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <nghttp2/nghttp2.h>

struct event_base;
struct sl_request;
struct sl_server;
struct sl_upconn;

struct sl_upstream_ops {
    /* Starts a connection to server. Returns it (counted in server->conn_count),
     * or NULL with *err set to a negative errno. */
    struct sl_upconn *(*connect)(struct sl_server *server, struct event_base *base, int *err);
    /* Closes the connection; no request may still use it. */
    void (*free)(struct sl_upconn *c);
    /* How many more exchanges the connection can take now. */
    uint32_t (*available_streams)(const struct sl_upconn *c);
    /* Translates req's head (req->fields) for this protocol, once, before the
     * request is admitted, into req->prepared. Returns 0, SL_EINVALID (the
     * request is answered 400) or SL_ENOMEM. */
    int (*prepare)(struct sl_request *req);
    /* The pool lent c to req, whose head may wait for a small body
     * (request.c: holds_head): c is taken, whatever comes from its server or
     * its timers meanwhile. NULL when the protocol has nothing to do then. */
    void (*begin)(struct sl_upconn *c, struct sl_request *req);
    /* An exchange for req starts on c (after begin): the prepared head is
     * sent, with extra (one more field, or NULL) added. */
    int (*send_head)(struct sl_upconn *c, struct sl_request *req, const nghttp2_nv *extra);
    /* Request body bytes, unframed: the protocol frames them. */
    int (*send_body)(struct sl_upconn *c, struct sl_request *req, const void *data, size_t len);
    /* The request body is complete (or there was none): the response timeout starts. */
    void (*end)(struct sl_upconn *c, struct sl_request *req);
    /* Stops or resumes reading req's response (backpressure from a slow client). */
    void (*pause)(struct sl_upconn *c, struct sl_request *req, bool is_paused);
    /* req is gone mid-exchange: the connection abandons the exchange and tells
     * the pool (a connection that cannot abandon just one is discarded). */
    void (*detach)(struct sl_upconn *c, struct sl_request *req);
    /* The connection carries no exchange and waits in the pool for the next. */
    void (*idle)(struct sl_upconn *c);
};

struct sl_upconn {
    const struct sl_upstream_ops *ops;
    struct sl_server *server;
    uint32_t streams;        /* exchanges lent out and not yet given back */
    uint32_t exchanges_done; /* completed on this connection: it has been reused */
    bool is_ready;           /* on the server's ready list */
    TAILQ_ENTRY(sl_upconn) in_ready;
    TAILQ_ENTRY(sl_upconn) in_all; /* the server's connections, whatever their state */
};

/* The protocols: HTTP/1.1 (upstream_h1.c) and cleartext HTTP/2 (upstream_h2.c). */
extern const struct sl_upstream_ops sl_upstream_h1_ops;
extern const struct sl_upstream_ops sl_upstream_h2c_ops;

/* The streams an h2c connection whose next stream id is next_id may still open:
 * client ids are odd and end at 2^31 - 1 (RFC 9113 §5.1.1), which one connection
 * spends in about three hours at 100k requests a second. */
uint32_t sl_h2_stream_ids_left(uint32_t next_id);

#endif
