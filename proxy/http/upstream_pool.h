/* Upstream pools: per backend, per server, the connections that requests
 * borrow, counted in streams: a connection takes as many exchanges at once as
 * its protocol says it can (upstream.h: one for HTTP/1.1).
 *
 * Ownership: the plane owns one pool per backend; a pool owns its servers and
 * every connection to them (ready, connecting or busy). A request borrows a
 * stream from sl_pool_acquire() (or sl_request_attach() when it waited) until
 * the connection gives it back with sl_pool_release() or sl_pool_discard().
 * Invariant: a connection is on its server's ready list exactly when it is
 * open for more exchanges (is_ready), most recently used first; every open
 * connection is on its server's all list, so the pool can close them all. */
#ifndef SL_UPSTREAM_POOL_H
#define SL_UPSTREAM_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "request.h"

struct event_base;
struct sl_addr;
struct sl_backend_config;
struct sl_health_check;
struct sl_upconn;
struct sl_upstream_ops;
struct sl_pool;

TAILQ_HEAD(sl_upconn_list, sl_upconn);

struct sl_server {
    const struct sl_addr *addr;
    struct sl_pool *pool;
    struct sl_upconn_list ready; /* connections that can take another exchange */
    struct sl_upconn_list all;   /* every open connection (busy, draining, connecting) */
    uint32_t conn_count;         /* open connections, whatever their state */
    uint32_t inflight;           /* exchanges in progress on its connections */
    /* Some servers close each connection after a fixed number of streams (nginx's
     * keepalive_requests), refusing the streams past it. Two GOAWAYs that refuse
     * at the same count make that count each connection's lifetime budget, so
     * later connections retire before the server refuses anything. */
    uint32_t goaway_streams;         /* the last refusing GOAWAY's count; 0: none */
    uint32_t max_streams_seen;       /* HTTP/2: the last SETTINGS_MAX_CONCURRENT_STREAMS,
                                      * assumed by a new connection until its own arrive */
    uint32_t streams_per_connection; /* the learned budget; 0: none */
    /* Passive health (backend keys eject_after_failures, eject_ms): failures in
     * a row take the server out of rotation until ejected_until_ns. Back, it is
     * on trial: its first failure ejects it again, for twice as long. */
    uint32_t failures_in_a_row;
    uint32_t ejections_in_a_row; /* the backoff's doubling; a success on trial ends it */
    uint64_t ejected_until_ns;   /* 0: in rotation; UINT64_MAX: until a health check passes */
    bool is_on_trial;
    struct sl_health_check *health_check; /* owned; NULL without health_check_path */
};

struct sl_pool {
    struct event_base *base;
    const struct sl_backend_config *cfg;
    const struct sl_upstream_ops *ops; /* the backend's protocol */
    struct sl_server *servers;         /* cfg->server_count of them */
    uint32_t rr_cursor;
    struct sl_request_list waiters; /* FIFO of WAITING requests */
    uint32_t ejected_count;         /* servers out of rotation now */
    uint64_t ejections;             /* since the worker started, for the stats */
    uint64_t health_checks_failed;  /* likewise */
};

/* Returns a pool for backend speaking ops' protocol, or NULL when out of memory. */
struct sl_pool *sl_pool_new(struct event_base *base, const struct sl_backend_config *backend,
                            const struct sl_upstream_ops *ops);

/* Closes every connection; no request may still hold one. */
void sl_pool_free(struct sl_pool *pool);

/* Finds req a stream and attaches it (sl_request_attach), or queues req when
 * every server is at max_connections with no stream free. is_fresh takes a new
 * connection (a retry). Returns 0, or a negative errno when a connection could
 * not even be started. */
int sl_pool_acquire(struct sl_pool *pool, struct sl_request *req, bool is_fresh);

/* An exchange on s got its response head (whatever the status), or failed
 * (a connect error, a timeout, a broken or unparsable response): passive health. */
void sl_pool_note_success(struct sl_server *s);
void sl_pool_note_failure(struct sl_server *s);

/* The health checker's verdicts on an ejected server (health_check.h): a pass
 * puts s back in rotation, on trial. */
void sl_pool_health_check_passed(struct sl_server *s);
void sl_pool_health_check_failed(struct sl_server *s);

/* Servers whose ejection has not run out at now_ns, for the stats. */
uint32_t sl_pool_servers_ejected(const struct sl_pool *pool, uint64_t now_ns);

/* Takes a WAITING request off the wait list. */
void sl_pool_cancel(struct sl_pool *pool, struct sl_request *req);

/* An exchange on conn ended and conn may carry more: a waiting request gets
 * the stream, or conn is ready (idle when it carries nothing). */
void sl_pool_release(struct sl_upconn *conn);

/* conn must not be reused: it is closed (and a waiting request, if any, gets
 * a new one). Its exchanges must have been told already. */
void sl_pool_discard(struct sl_upconn *conn);

/* Closes conn without handing its slot to a waiter; the caller then calls
 * sl_pool_serve_waiters(). */
void sl_pool_close(struct sl_upconn *conn);

/* What conn can carry changed (its peer's settings, or it takes no new
 * exchange any more): it joins or leaves the ready list, and waiting requests
 * get the streams it gained. */
void sl_pool_capacity_changed(struct sl_upconn *conn);

/* Gives free streams and connection slots to waiting requests. */
void sl_pool_serve_waiters(struct sl_pool *pool);

#endif
