/* Upstream pools: per backend, per server, the HTTP/1.1 connections that
 * requests borrow.
 *
 * Ownership: the worker owns one pool per backend; a pool owns its servers and
 * every connection to them (idle, connecting or busy). A request borrows a
 * connection from sl_pool_acquire() (or sl_request_attach() when it waited) until
 * the connection gives it back with sl_pool_release() or sl_pool_discard(). */
#ifndef SL_UPSTREAM_POOL_H
#define SL_UPSTREAM_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "request.h"

struct event_base;
struct sl_addr;
struct sl_backend_config;
struct sl_upconn;
struct sl_pool;

TAILQ_HEAD(sl_upconn_list, sl_upconn);

struct sl_server {
    const struct sl_addr *addr;
    struct sl_pool *pool;
    struct sl_upconn_list idle; /* most recently used first */
    uint32_t conn_count;        /* open connections, idle or not */
    uint32_t inflight;          /* connections carrying a request */
};

struct sl_pool {
    struct event_base *base;
    const struct sl_backend_config *cfg;
    struct sl_server *servers; /* cfg->server_count of them */
    uint32_t rr_cursor;
    struct sl_request_list waiters; /* FIFO of WAITING requests */
};

/* Returns a pool for backend, or NULL when out of memory. */
struct sl_pool *sl_pool_new(struct event_base *base, const struct sl_backend_config *backend);

/* Closes every connection; no request may still hold one. */
void sl_pool_free(struct sl_pool *pool);

/* Finds req a connection and attaches it (sl_request_attach), or queues req when
 * every server is at max_connections. is_fresh skips idle connections (a retry).
 * Returns 0, or a negative errno when a connection could not even be started. */
int sl_pool_acquire(struct sl_pool *pool, struct sl_request *req, bool is_fresh);

/* Takes a WAITING request off the wait list. */
void sl_pool_cancel(struct sl_pool *pool, struct sl_request *req);

/* A connection finished its exchange and may be reused: it goes to a waiting
 * request, or idles. */
void sl_pool_release(struct sl_upconn *conn);

/* A connection must not be reused: it is closed (and a waiting request, if any,
 * gets a new one). */
void sl_pool_discard(struct sl_upconn *conn);

/* Closes a connection without handing its slot to a waiter; the caller then
 * calls sl_pool_serve_waiters(). */
void sl_pool_close(struct sl_upconn *conn);

/* Gives free connection slots to waiting requests. */
void sl_pool_serve_waiters(struct sl_pool *pool);

/* Called by a connection that closed by itself while idle. */
void sl_pool_on_idle_closed(struct sl_upconn *conn);

#endif
