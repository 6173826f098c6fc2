#include "upstream_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "health_check.h"
#include "log.h"
#include "select.h"
#include "sl_assert.h"
#include "upstream.h"

/* A uniform draw is all power-of-two-choices needs; xorshift keeps it out of libc's
 * shared state and cheap. */
static uint32_t next_random(void)
{
    static uint32_t state = 2463534242u;
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

struct sl_pool *sl_pool_new(struct event_base *base, const struct sl_backend_config *backend,
                            const struct sl_upstream_ops *ops)
{
    struct sl_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->servers = calloc(backend->server_count, sizeof(*pool->servers));
    if (pool->servers == NULL) {
        free(pool);
        return NULL;
    }
    pool->base = base;
    pool->cfg = backend;
    pool->ops = ops;
    TAILQ_INIT(&pool->waiters);
    for (size_t i = 0; i < backend->server_count; i++) {
        struct sl_server *s = &pool->servers[i];
        s->addr = &backend->servers[i];
        s->pool = pool;
        TAILQ_INIT(&s->ready);
        TAILQ_INIT(&s->all);
    }
    for (size_t i = 0; i < backend->server_count && backend->health_check_path.len > 0; i++) {
        pool->servers[i].health_check = sl_health_check_new(base, &pool->servers[i]);
        if (pool->servers[i].health_check == NULL) {
            sl_pool_free(pool);
            return NULL;
        }
    }
    return pool;
}

void sl_pool_free(struct sl_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->cfg->server_count; i++) {
        struct sl_server *s = &pool->servers[i];
        struct sl_upconn *conn;
        while ((conn = TAILQ_FIRST(&s->all)) != NULL)
            sl_pool_close(conn); /* ready or busy: a drained one may still read */
        sl_health_check_free(s->health_check);
    }
    free(pool->servers);
    free(pool);
}

/* --- passive health --- */

#define NS_PER_MS 1000000u
#define SL_EJECT_MAX_DOUBLINGS 4 /* up to 16 times eject_ms */

/* When every server is out, all of them serve: a guess beats refusing all. */
static bool is_usable(const struct sl_server *s)
{
    return s->ejected_until_ns == 0 || s->pool->ejected_count == s->pool->cfg->server_count;
}

/* Ejections that ran out end here, when a server is picked: the clock is
 * read only while some server is out. */
static void reinstate_due(struct sl_pool *pool)
{
    if (pool->ejected_count == 0)
        return;
    uint64_t now_ns = sl_clock_ns();
    for (size_t i = 0; i < pool->cfg->server_count; i++) {
        struct sl_server *s = &pool->servers[i];
        if (s->ejected_until_ns == 0 || now_ns < s->ejected_until_ns)
            continue;
        s->ejected_until_ns = 0;
        s->is_on_trial = true;
        pool->ejected_count--;
        SL_INFO("backend %s: server %s back in rotation, on trial", pool->cfg->name, s->addr->text);
    }
}

static const char *ejection_cause(const struct sl_server *s)
{
    return s->is_on_trial ? "its first exchange back failed" : "failures in a row";
}

/* Out until a probe passes; without a checker (or its timer), for a backoff. */
static void eject_until(struct sl_server *s)
{
    const struct sl_backend_config *cfg = s->pool->cfg;
    if (s->health_check != NULL && sl_health_check_start(s->health_check) == 0) {
        SL_WARN("backend %s: server %s out of rotation until a health check passes (%s)", cfg->name,
                s->addr->text, ejection_cause(s));
        s->ejected_until_ns = UINT64_MAX;
        return;
    }
    unsigned doublings = s->ejections_in_a_row < SL_EJECT_MAX_DOUBLINGS ? s->ejections_in_a_row
                                                                        : SL_EJECT_MAX_DOUBLINGS;
    uint64_t ms = (uint64_t)cfg->eject_ms << doublings;
    SL_WARN("backend %s: server %s out of rotation for %llu ms (%s)", cfg->name, s->addr->text,
            (unsigned long long)ms, ejection_cause(s));
    s->ejected_until_ns = sl_clock_ns() + ms * NS_PER_MS;
}

static void eject(struct sl_server *s)
{
    eject_until(s);
    s->ejections_in_a_row++;
    s->failures_in_a_row = 0;
    s->is_on_trial = false;
    s->pool->ejected_count++;
    s->pool->ejections++;
}

void sl_pool_note_failure(struct sl_server *s)
{
    uint32_t limit = s->pool->cfg->eject_after_failures;
    if (limit == 0 || s->ejected_until_ns != 0)
        return; /* never ejected, or already out */
    s->failures_in_a_row++;
    if (s->is_on_trial || s->failures_in_a_row >= limit)
        eject(s);
}

void sl_pool_note_success(struct sl_server *s)
{
    s->failures_in_a_row = 0;
    if (s->is_on_trial) {
        s->is_on_trial = false;
        s->ejections_in_a_row = 0;
    }
}

void sl_pool_health_check_passed(struct sl_server *s)
{
    sl_health_check_stop(s->health_check);
    if (s->ejected_until_ns == 0)
        return;
    s->ejected_until_ns = 0;
    s->is_on_trial = true;
    s->pool->ejected_count--;
    SL_INFO("backend %s: server %s back in rotation, on trial: its health check passed",
            s->pool->cfg->name, s->addr->text);
}

void sl_pool_health_check_failed(struct sl_server *s)
{
    s->pool->health_checks_failed++;
}

uint32_t sl_pool_servers_ejected(const struct sl_pool *pool, uint64_t now_ns)
{
    uint32_t n = 0;
    for (size_t i = 0; i < pool->cfg->server_count; i++)
        n += pool->servers[i].ejected_until_ns > now_ns;
    return n;
}

/* --- choosing a server --- */

/* Power of two choices among the servers in rotation (the first 64 of them). */
static struct sl_server *pick_server(struct sl_pool *pool)
{
    reinstate_due(pool);
    uint32_t inflight[64];
    uint32_t index[64];
    size_t n = 0;
    for (size_t i = 0; i < pool->cfg->server_count && n < 64; i++) {
        if (!is_usable(&pool->servers[i]))
            continue;
        inflight[n] = pool->servers[i].inflight;
        index[n++] = (uint32_t)i;
    }
    return &pool->servers[index[sl_select_server(inflight, n, next_random(), &pool->rr_cursor)]];
}

static bool has_room(const struct sl_server *s)
{
    return s->conn_count < s->pool->cfg->max_connections;
}

/* Any server in rotation that can take a new connection. */
static struct sl_server *server_with_room(struct sl_pool *pool)
{
    for (size_t i = 0; i < pool->cfg->server_count; i++) {
        if (is_usable(&pool->servers[i]) && has_room(&pool->servers[i]))
            return &pool->servers[i];
    }
    return NULL;
}

static void make_ready(struct sl_upconn *conn)
{
    conn->is_ready = true;
    TAILQ_INSERT_HEAD(&conn->server->ready, conn, in_ready);
}

static void make_unready(struct sl_upconn *conn)
{
    if (conn->is_ready) {
        conn->is_ready = false;
        TAILQ_REMOVE(&conn->server->ready, conn, in_ready);
    }
}

/* The first ready connection has a stream free: one that has none left is
 * taken off the list as its last stream is lent. */
static struct sl_upconn *find_ready(struct sl_server *s)
{
    return TAILQ_FIRST(&s->ready);
}

static struct sl_upconn *find_any_ready(struct sl_pool *pool)
{
    for (size_t i = 0; i < pool->cfg->server_count; i++) {
        if (!is_usable(&pool->servers[i]))
            continue;
        struct sl_upconn *conn = find_ready(&pool->servers[i]);
        if (conn != NULL)
            return conn;
    }
    return NULL;
}

/* Could a waiting request be given a stream now? */
static bool can_serve(struct sl_pool *pool)
{
    return server_with_room(pool) != NULL || find_any_ready(pool) != NULL;
}

/* A ready connection that carries nothing, the one a retry may trade. */
static struct sl_upconn *find_idle(struct sl_pool *pool)
{
    for (size_t i = 0; i < pool->cfg->server_count; i++) {
        struct sl_upconn *conn;
        TAILQ_FOREACH(conn, &pool->servers[i].ready, in_ready)
        {
            if (conn->streams == 0)
                return conn;
        }
    }
    return NULL;
}

static void lend(struct sl_upconn *conn, struct sl_request *req)
{
    conn->streams++;
    conn->server->inflight++;
    if (conn->ops->available_streams(conn) == 0)
        make_unready(conn);
    else if (!conn->is_ready)
        make_ready(conn); /* a new connection with streams to spare */
    sl_request_attach(req, conn);
}

/* In order: the picked server's ready connection, a new one to it, any ready
 * connection, a new one to any server, the wait list. */
int sl_pool_acquire(struct sl_pool *pool, struct sl_request *req, bool is_fresh)
{
    struct sl_server *picked = pick_server(pool);
    struct sl_upconn *conn = is_fresh ? NULL : find_ready(picked);
    struct sl_server *target = has_room(picked) ? picked : NULL;
    if (conn == NULL && target == NULL && !is_fresh)
        conn = find_any_ready(pool);
    if (conn != NULL) {
        lend(conn, req);
        return 0;
    }
    if (target == NULL)
        target = server_with_room(pool);
    if (target == NULL && is_fresh) {
        /* a retry must not reuse: trade an idle connection for a new one */
        struct sl_upconn *idle = find_idle(pool);
        if (idle != NULL) {
            target = idle->server;
            sl_pool_close(idle);
        }
    }
    if (target == NULL) {
        req->state = SL_REQ_WAITING;
        TAILQ_INSERT_TAIL(&pool->waiters, req, in_pool);
        return 0;
    }
    int err = 0;
    conn = pool->ops->connect(target, pool->base, &err);
    if (conn == NULL) {
        sl_pool_note_failure(target);
        return err;
    }
    TAILQ_INSERT_TAIL(&target->all, conn, in_all);
    lend(conn, req);
    return 0;
}

void sl_pool_cancel(struct sl_pool *pool, struct sl_request *req)
{
    TAILQ_REMOVE(&pool->waiters, req, in_pool);
}

static struct sl_request *take_waiter(struct sl_pool *pool)
{
    struct sl_request *req = TAILQ_FIRST(&pool->waiters);
    if (req != NULL) {
        TAILQ_REMOVE(&pool->waiters, req, in_pool);
        req->state = SL_REQ_HEADERS; /* off the list: no longer WAITING */
    }
    return req;
}

/* Gives back one stream; conn stays lent to its other exchanges. */
static void give_back(struct sl_upconn *conn)
{
    SL_ASSERT(conn->streams > 0);
    conn->streams--;
    conn->server->inflight--;
}

void sl_pool_release(struct sl_upconn *conn)
{
    struct sl_pool *pool = conn->server->pool;
    give_back(conn);
    struct sl_request *waiter;
    while (conn->ops->available_streams(conn) > 0 && (waiter = take_waiter(pool)) != NULL)
        lend(conn, waiter);
    if (conn->streams == 0 && pool->cfg->keepalive_idle_timeout_ms == 0) {
        sl_pool_close(conn);
        return;
    }
    if (conn->streams == 0)
        conn->ops->idle(conn);
    if (!conn->is_ready && conn->ops->available_streams(conn) > 0)
        make_ready(conn);
}

/* Connection slots freed up: serve the longest-waiting requests. A request whose
 * connection cannot even start is answered, and the next one tries. */
void sl_pool_serve_waiters(struct sl_pool *pool)
{
    while (!TAILQ_EMPTY(&pool->waiters) && can_serve(pool)) {
        struct sl_request *waiter = take_waiter(pool);
        int err = sl_pool_acquire(pool, waiter, false);
        if (err < 0) {
            SL_WARN("backend %s: cannot connect: %s", pool->cfg->name, strerror(-err));
            sl_request_on_upstream_failure(waiter, SL_UPSTREAM_CONNECT, false);
        }
    }
}

void sl_pool_capacity_changed(struct sl_upconn *conn)
{
    if (conn->ops->available_streams(conn) == 0) {
        make_unready(conn);
        return;
    }
    if (!conn->is_ready)
        make_ready(conn);
    sl_pool_serve_waiters(conn->server->pool);
}

void sl_pool_close(struct sl_upconn *conn)
{
    make_unready(conn);
    TAILQ_REMOVE(&conn->server->all, conn, in_all);
    conn->server->inflight -= conn->streams;
    conn->ops->free(conn);
}

void sl_pool_discard(struct sl_upconn *conn)
{
    struct sl_pool *pool = conn->server->pool;
    sl_pool_close(conn);
    sl_pool_serve_waiters(pool);
}
