/* request.c driven through a fake front and a fake upstream: what the request
 * asks of each side (front.h, upstream.h), and the outcome its one exit
 * publishes, with no socket and no protocol library in the way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "config_fixture.h"
#include "front.h"
#include "plane.h"
#include "request.h"
#include "stats.h"
#include "upstream.h"
#include "upstream_pool.h"

/* ---- the fake front: records what the request asked of it ---- */

struct fake_front {
    struct sl_front base;
    unsigned status; /* of the last head sent; 0: none */
    bool has_body;
    bool has_decision; /* the head carried x-sluice-decision */
    int resets;
    enum sl_front_reset last_reset;
    size_t consumed; /* credit returned to the client */
    int resumed;
};

static struct fake_front *fake_front_of(struct sl_front *f)
{
    return (struct fake_front *)f;
}

static int fake_send_head(struct sl_front *f, struct sl_request *req, unsigned status,
                          const struct sl_header_list *fields, bool has_body)
{
    struct fake_front *ff = fake_front_of(f);
    ff->status = status;
    ff->has_body = has_body;
    ff->has_decision = sl_header_list_find(fields, "x-sluice-decision") != NULL;
    return 0;
}

static void fake_resume_body(struct sl_front *f, struct sl_request *req)
{
    fake_front_of(f)->resumed++;
}

static void fake_consume(struct sl_front *f, struct sl_request *req, size_t len)
{
    fake_front_of(f)->consumed += len;
}

static void fake_reset(struct sl_front *f, struct sl_request *req, enum sl_front_reset how)
{
    fake_front_of(f)->resets++;
    fake_front_of(f)->last_reset = how;
}

static void fake_shutdown(struct sl_front *f)
{
}

static void fake_abort(struct sl_front *f)
{
    sl_front_fini(f);
}

static const struct sl_front_ops fake_front_ops = {
    .send_head = fake_send_head,
    .resume_body = fake_resume_body,
    .consume = fake_consume,
    .reset = fake_reset,
    .shutdown = fake_shutdown,
    .finish_shutdown = fake_shutdown,
    .abort = fake_abort,
};

/* ---- the fake upstream: connections that carry `capacity` exchanges ---- */

#define FAKE_CONNS_MAX 8

struct fake_conn {
    struct sl_upconn base;
    struct sl_request *reqs[4]; /* the exchanges it carries */
    struct evbuffer *body;      /* unframed request body bytes received */
    int heads;                  /* heads sent on it */
    bool has_budget;            /* the last head carried an extra field */
    int ends;
    int detaches;
    bool is_paused;
    bool is_freed;
};

static struct fake_conn conns[FAKE_CONNS_MAX];
static int conn_count;
static uint32_t capacity = 1;
static int prepares;

static struct fake_conn *fake_conn_of(struct sl_upconn *c)
{
    return (struct fake_conn *)c;
}

static const struct sl_upstream_ops fake_upstream_ops;

static struct sl_upconn *fake_connect(struct sl_server *server, struct event_base *base, int *err)
{
    assert_true(conn_count < FAKE_CONNS_MAX);
    struct fake_conn *c = &conns[conn_count++];
    memset(c, 0, sizeof(*c));
    c->base.ops = &fake_upstream_ops;
    c->base.server = server;
    c->body = evbuffer_new();
    server->conn_count++;
    return &c->base;
}

static void fake_free(struct sl_upconn *c)
{
    struct fake_conn *fc = fake_conn_of(c);
    fc->is_freed = true;
    c->server->conn_count--;
    evbuffer_free(fc->body);
    fc->body = NULL;
}

static uint32_t fake_available_streams(const struct sl_upconn *c)
{
    return capacity - c->streams;
}

static int fake_prepare(struct sl_request *req)
{
    prepares++;
    req->prepared.data = "prepared";
    req->prepared.len = 8;
    return 0;
}

static void add_exchange(struct fake_conn *fc, struct sl_request *req)
{
    for (size_t i = 0; i < 4; i++) {
        if (fc->reqs[i] == NULL) {
            fc->reqs[i] = req;
            return;
        }
    }
    fail_msg("a fake connection carries at most 4 exchanges");
}

static void remove_exchange(struct fake_conn *fc, const struct sl_request *req)
{
    for (size_t i = 0; i < 4; i++) {
        if (fc->reqs[i] == req)
            fc->reqs[i] = NULL;
    }
}

static int fake_up_send_head(struct sl_upconn *c, struct sl_request *req, const nghttp2_nv *extra)
{
    struct fake_conn *fc = fake_conn_of(c);
    add_exchange(fc, req);
    fc->heads++;
    fc->has_budget = extra != NULL;
    return 0;
}

static int fake_send_body(struct sl_upconn *c, struct sl_request *req, const void *data, size_t len)
{
    return evbuffer_add(fake_conn_of(c)->body, data, len);
}

static void fake_end(struct sl_upconn *c, struct sl_request *req)
{
    fake_conn_of(c)->ends++;
}

static void fake_pause(struct sl_upconn *c, struct sl_request *req, bool is_paused)
{
    fake_conn_of(c)->is_paused = is_paused;
}

/* A connection with room for several exchanges abandons just the one. */
static void fake_detach(struct sl_upconn *c, struct sl_request *req)
{
    struct fake_conn *fc = fake_conn_of(c);
    fc->detaches++;
    remove_exchange(fc, req);
    if (capacity > 1)
        sl_pool_release(c);
    else
        sl_pool_discard(c);
}

static void fake_idle(struct sl_upconn *c)
{
}

static const struct sl_upstream_ops fake_upstream_ops = {
    .connect = fake_connect,
    .free = fake_free,
    .available_streams = fake_available_streams,
    .prepare = fake_prepare,
    .send_head = fake_up_send_head,
    .send_body = fake_send_body,
    .end = fake_end,
    .pause = fake_pause,
    .detach = fake_detach,
    .idle = fake_idle,
};

/* The backend answers req on fc: head, body, end, then the stream goes back. */
static void answer(struct fake_conn *fc, struct sl_request *req, unsigned status, const char *body)
{
    struct sl_upstream_response *resp = sl_request_response(req);
    resp->has_bytes = true;
    resp->status = status;
    assert_int_equal(sl_header_list_add(&resp->headers, "Content-Type", 12, "text/plain", 10,
                                        NGHTTP2_NV_FLAG_NONE),
                     0);
    resp->is_head_complete = true;
    assert_int_equal(evbuffer_add(resp->body, body, strlen(body)), 0);
    resp->is_complete = true;
    remove_exchange(fc, req);
    fc->base.exchanges_done++;
    sl_request_on_upstream_progress(req);
    sl_pool_release(&fc->base);
}

/* The backend breaks the exchange: the connection is closed, then the request hears. */
static void break_exchange(struct fake_conn *fc, struct sl_request *req,
                           enum sl_upstream_failure what)
{
    bool was_reused = fc->base.exchanges_done > 0;
    struct sl_pool *pool = fc->base.server->pool;
    remove_exchange(fc, req);
    sl_pool_close(&fc->base);
    sl_request_on_upstream_failure(req, what, was_reused);
    sl_pool_serve_waiters(pool);
}

/* The backend refuses one stream; its connection carries on. */
static void refuse_exchange(struct fake_conn *fc, struct sl_request *req)
{
    remove_exchange(fc, req);
    sl_request_on_upstream_failure(req, SL_UPSTREAM_REFUSED, false);
    sl_pool_release(&fc->base);
}

/* ---- the plane around them ---- */

struct world {
    struct event_base *base;
    struct sl_config *cfg;
    struct sl_stats_worker *stats;
    struct sl_plane plane;
    struct fake_front front;
};

static struct world world;

static void open_world(const char *yaml)
{
    memset(&world, 0, sizeof(world));
    memset(conns, 0, sizeof(conns));
    conn_count = 0;
    capacity = 1;
    prepares = 0;
    world.base = event_base_new();
    assert_non_null(world.base);
    world.cfg = load_ok(yaml);
    world.stats = calloc(1, sizeof(*world.stats));
    assert_non_null(world.stats);
    char err[256];
    assert_int_equal(
        sl_plane_open(&world.plane, world.base, world.cfg, world.stats, err, sizeof(err)), 0);
    world.plane.pools[0]->ops = &fake_upstream_ops;
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    sl_front_init(&world.front.base, &fake_front_ops, &world.plane, 0, false, SL_PROTO_H2C,
                  (const struct sockaddr *)&peer, sizeof(peer));
}

static void close_world(void)
{
    sl_plane_close(&world.plane);
    for (int i = 0; i < conn_count; i++)
        assert_true(conns[i].is_freed || conns[i].base.streams == 0);
    sl_config_free(world.cfg);
    free(world.stats);
    event_base_free(world.base);
}

#define ONE_CONNECTION                                                                             \
    MINIMAL "    max_connections: 1\n"                                                             \
            "    keepalive_idle_timeout_ms: 60000\n"

static void add_field(struct sl_request *req, const char *name, const char *value)
{
    assert_int_equal(sl_request_on_header(req, (const uint8_t *)name, strlen(name),
                                          (const uint8_t *)value, strlen(value)),
                     0);
}

/* A request whose head is complete: method and path, the rest fixed. */
static struct sl_request *open_request(int32_t stream_id, const char *method, bool has_body)
{
    struct sl_request *req = sl_request_new(&world.front.base, stream_id);
    assert_non_null(req);
    add_field(req, ":method", method);
    add_field(req, ":scheme", "http");
    add_field(req, ":authority", "example.test");
    add_field(req, ":path", "/bid");
    sl_request_on_head_done(req, has_body);
    return req;
}

static char *take_all_body(struct sl_request *req, char *buf, size_t len, bool *is_end)
{
    size_t n = sl_request_take_body(req, (uint8_t *)buf, len - 1, is_end);
    buf[n] = '\0';
    return buf;
}

static const struct sl_stats_counts *counts(void)
{
    return &world.stats->counts[0][0];
}

/* ---- tests ---- */

static void test_get_is_prepared_sent_answered_and_counted(void **state)
{
    open_world(ONE_CONNECTION);
    struct sl_request *req = open_request(1, "GET", false);
    assert_int_equal(prepares, 1);
    assert_int_equal(conn_count, 1);
    struct fake_conn *fc = &conns[0];
    assert_int_equal(fc->heads, 1);
    assert_int_equal(fc->ends, 1); /* no body: the end goes out with the head */
    assert_ptr_equal(fc->reqs[0], req);

    answer(fc, req, 200, "hello");
    assert_int_equal(world.front.status, 200);
    assert_true(world.front.has_body);
    char buf[64];
    bool is_end;
    assert_string_equal(take_all_body(req, buf, sizeof(buf), &is_end), "hello");
    assert_true(is_end);
    assert_int_equal(world.stats->counts[0][0].responses[1], 0); /* counted at the exit */

    sl_request_finish(req, SL_END_CLOSED);
    assert_int_equal(counts()->received, 1);
    assert_int_equal(counts()->admitted, 1);
    assert_int_equal(counts()->responses[1], 1);
    assert_int_equal(sl_hist_total(&world.stats->latency_by_class[0]), 1);
    assert_int_equal(world.stats->backends[0].failures, 0);
    assert_int_equal(world.plane.request_count, 0);
    /* the connection went back to the pool, ready for the next exchange */
    assert_false(fc->is_freed);
    assert_true(fc->base.is_ready);
    close_world();
}

/* A request that waits for the only connection keeps its body, and the backend
 * gets it unframed once the connection is free; credit goes back after. */
static void test_waiting_post_keeps_its_body(void **state)
{
    open_world(ONE_CONNECTION "    max_inflight: 2\n"); /* admitted, then waits in the pool */
    struct sl_request *first = open_request(1, "GET", false);
    struct sl_request *second = open_request(3, "POST", true);
    assert_int_equal(second->state, SL_REQ_WAITING);
    sl_request_on_body(second, (const uint8_t *)"{\"id\":", 6);
    sl_request_on_body(second, (const uint8_t *)"1}", 2);
    sl_request_on_end(second);
    assert_int_equal(world.front.consumed, 0); /* held until the backend takes it */

    struct fake_conn *fc = &conns[0];
    answer(fc, first, 204, "");
    assert_int_equal(conn_count, 1); /* the same connection, reused */
    assert_ptr_equal(fc->reqs[0], second);
    assert_int_equal(fc->heads, 2);
    assert_int_equal(fc->ends, 2);
    char body[16] = {0};
    evbuffer_copyout(fc->body, body, sizeof(body) - 1);
    assert_string_equal(body, "{\"id\":1}");
    sl_request_on_upstream_drained(second);
    assert_int_equal(world.front.consumed, 8);

    sl_request_finish(first, SL_END_CLOSED);
    answer(fc, second, 200, "ok");
    sl_request_finish(second, SL_END_CLOSED);
    assert_int_equal(counts()->responses[1], 2);
    close_world();
}

/* A kept-alive connection that breaks before any response byte: the request
 * goes again, whole, on a fresh connection, and the client never knows. */
static void test_broken_reused_connection_is_retried_with_the_body(void **state)
{
    open_world(ONE_CONNECTION);
    struct sl_request *first = open_request(1, "GET", false);
    answer(&conns[0], first, 200, "a");
    sl_request_finish(first, SL_END_CLOSED);

    struct sl_request *req = open_request(3, "PUT", true);
    sl_request_on_body(req, (const uint8_t *)"payload", 7);
    sl_request_on_end(req);
    assert_int_equal(conns[0].heads, 2);
    break_exchange(&conns[0], req, SL_UPSTREAM_BROKEN);
    assert_int_equal(conn_count, 2);
    struct fake_conn *fresh = &conns[1];
    assert_int_equal(fresh->heads, 1);
    assert_int_equal(fresh->ends, 1);
    char body[16] = {0};
    evbuffer_copyout(fresh->body, body, sizeof(body) - 1);
    assert_string_equal(body, "payload");
    assert_int_equal(world.front.resets, 0);

    answer(fresh, req, 200, "b");
    sl_request_finish(req, SL_END_CLOSED);
    assert_int_equal(counts()->responses[1], 2);
    assert_int_equal(world.stats->backends[0].failures, 0);
    close_world();
}

/* A refused stream was not processed: it goes again, on any connection with a
 * free stream (the first one here), even on a connection's first exchange, up to
 * SL_MAX_REFUSALS times; then 502. Only an h2c backend refuses streams. */
static void test_refused_stream_is_retried_then_502(void **state)
{
    open_world(MINIMAL "    max_connections: 1\n    protocol: h2c\n");
    capacity = 2;
    struct sl_request *req = open_request(1, "POST", true);
    sl_request_on_body(req, (const uint8_t *)"bid", 3);
    sl_request_on_end(req);
    for (int i = 0; i < SL_MAX_REFUSALS; i++) {
        refuse_exchange(&conns[0], req);
        assert_int_equal(world.front.resets, 0);
        assert_int_equal(world.front.status, 0);
    }
    assert_int_equal(conn_count, 1);
    assert_int_equal(conns[0].heads, 1 + SL_MAX_REFUSALS);
    assert_int_equal(evbuffer_get_length(conns[0].body), 3 * (1 + SL_MAX_REFUSALS));
    refuse_exchange(&conns[0], req);
    assert_int_equal(world.front.status, 502);
    sl_request_finish(req, SL_END_CLOSED);
    assert_int_equal(world.stats->backends[0].failures, 1);
    close_world();
}

/* RFC 9110 §9.2.2: a POST the backend may have processed is not sent twice,
 * unless the backend says it may be. */
static void test_broken_reused_post_is_retried_only_when_allowed(void **state)
{
    const char *configs[] = {ONE_CONNECTION, ONE_CONNECTION "    retry_non_idempotent: true\n"};
    for (int allowed = 0; allowed < 2; allowed++) {
        open_world(configs[allowed]);
        struct sl_request *first = open_request(1, "GET", false);
        answer(&conns[0], first, 200, "a");
        sl_request_finish(first, SL_END_CLOSED);
        struct sl_request *req = open_request(3, "POST", false);
        world.front.status = 0;
        break_exchange(&conns[0], req, SL_UPSTREAM_BROKEN);
        assert_int_equal(conn_count, allowed ? 2 : 1);
        if (allowed) {
            assert_int_equal(conns[1].heads, 1);
            assert_int_equal(world.front.status, 0); /* not answered yet */
            answer(&conns[1], req, 200, "b");
        }
        assert_int_equal(world.front.status, allowed ? 200 : 502);
        sl_request_finish(req, SL_END_CLOSED);
        close_world();
    }
}

/* Which methods count as idempotent: those that a broken reused connection
 * retries without retry_non_idempotent. Methods are case-sensitive, and the
 * ones that share a first letter with an idempotent one are not mistaken
 * for it. */
static void test_only_idempotent_methods_are_retried(void **state)
{
    static const struct {
        const char *method;
        bool is_retried;
    } cases[] = {
        {"GET", true},    {"HEAD", true},  {"OPTIONS", true},   {"TRACE", true},  {"PUT", true},
        {"DELETE", true}, {"POST", false}, {"PATCH", false},    {"PURGE", false}, {"GETS", false},
        {"get", false},   {"DEL", false},  {"CONNECTX", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        open_world(ONE_CONNECTION);
        struct sl_request *first = open_request(1, "GET", false);
        answer(&conns[0], first, 200, "a");
        sl_request_finish(first, SL_END_CLOSED);
        struct sl_request *req = open_request(3, cases[i].method, false);
        break_exchange(&conns[0], req, SL_UPSTREAM_BROKEN);
        assert_int_equal(conn_count, cases[i].is_retried ? 2 : 1);
        sl_request_finish(req, SL_END_CLOSED);
        close_world();
    }
}

static void test_timeout_is_504_and_a_timeout_count(void **state)
{
    open_world(ONE_CONNECTION);
    struct sl_request *req = open_request(1, "GET", false);
    break_exchange(&conns[0], req, SL_UPSTREAM_TIMEOUT);
    assert_int_equal(world.front.status, 504);
    sl_request_finish(req, SL_END_CLOSED);
    assert_int_equal(counts()->responses[4], 1);
    assert_int_equal(world.stats->backends[0].timeouts, 1);
    assert_int_equal(world.stats->backends[0].failures, 0);
    assert_int_equal(sl_hist_total(&world.stats->latency_by_class[0]), 0);
    close_world();
}

/* The first exchange on a connection that breaks is not retried: 502. */
static void test_fresh_connection_broken_is_502_and_a_failure(void **state)
{
    open_world(ONE_CONNECTION);
    struct sl_request *req = open_request(1, "GET", false);
    break_exchange(&conns[0], req, SL_UPSTREAM_BROKEN);
    assert_int_equal(conn_count, 1);
    assert_int_equal(world.front.status, 502);
    sl_request_finish(req, SL_END_CLOSED);
    assert_int_equal(counts()->responses[4], 1);
    assert_int_equal(world.stats->backends[0].failures, 1);
    close_world();
}

/* The client leaves mid-exchange: the upstream is told, nothing is answered. */
static void test_client_reset_detaches_the_upstream(void **state)
{
    open_world(ONE_CONNECTION);
    struct sl_request *req = open_request(1, "POST", true);
    sl_request_on_body(req, (const uint8_t *)"abc", 3);
    sl_request_finish(req, SL_END_RESET);
    assert_int_equal(conns[0].detaches, 1);
    assert_true(conns[0].is_freed); /* one exchange per connection: discarded */
    assert_int_equal(world.front.status, 0);
    assert_int_equal(world.front.consumed, 3); /* the client's credit is settled */
    for (int c = 0; c < 5; c++)
        assert_int_equal(counts()->responses[c], 0);
    assert_int_equal(world.stats->backends[0].failures, 0);
    close_world();
}

/* Streams, not connections: with room for two exchanges per connection, two
 * requests share one connection, and a third opens another. */
static void test_pool_counts_streams_per_connection(void **state)
{
    open_world(MINIMAL "    max_connections: 2\n"
                       "    max_inflight: 8\n");
    capacity = 2;
    struct sl_request *a = open_request(1, "GET", false);
    struct sl_request *b = open_request(3, "GET", false);
    assert_int_equal(conn_count, 1);
    assert_int_equal(conns[0].base.streams, 2);
    assert_false(conns[0].base.is_ready); /* full */
    struct sl_request *c = open_request(5, "GET", false);
    assert_int_equal(conn_count, 2);
    struct sl_server *server = &world.plane.pools[0]->servers[0];
    assert_int_equal(server->inflight, 3);
    assert_int_equal(server->conn_count, 2);

    /* a reset gives back one stream and the connection stays */
    sl_request_finish(b, SL_END_RESET);
    assert_false(conns[0].is_freed);
    assert_int_equal(conns[0].base.streams, 1);
    assert_true(conns[0].base.is_ready);
    struct sl_request *d = open_request(7, "GET", false);
    assert_int_equal(conn_count, 2); /* the freed stream, not a new connection */
    assert_int_equal(conns[0].base.streams, 2);

    answer(&conns[0], a, 200, "");
    answer(&conns[0], d, 200, "");
    answer(&conns[1], c, 200, "");
    sl_request_finish(a, SL_END_CLOSED);
    sl_request_finish(c, SL_END_CLOSED);
    sl_request_finish(d, SL_END_CLOSED);
    assert_int_equal(server->inflight, 0);
    assert_int_equal(counts()->responses[1], 3);
    close_world();
}

#define TWO_SERVERS                                                                                \
    "listeners:\n"                                                                                 \
    "  - address: 127.0.0.1:8080\n"                                                                \
    "backends:\n"                                                                                  \
    "  - name: demo\n"                                                                             \
    "    servers: [unix:/tmp/sluice-a.sock, unix:/tmp/sluice-b.sock]\n"                            \
    "    max_connections: 1\n"                                                                     \
    "    eject_after_failures: 2\n"                                                                \
    "    eject_ms: 1000\n"

/* One GET, answered by its server unless that is `failing`, whose exchange
 * breaks; returns the server it went to. */
static struct sl_server *serve_one(int32_t stream_id, const struct sl_server *failing)
{
    struct sl_request *req = open_request(stream_id, "GET", false);
    struct sl_server *server = req->server;
    assert_non_null(server);
    struct fake_conn *fc = fake_conn_of(req->upconn);
    if (server == failing)
        break_exchange(fc, req, SL_UPSTREAM_TIMEOUT);
    else
        answer(fc, req, 200, "");
    sl_request_finish(req, SL_END_CLOSED);
    return server;
}

static uint64_t ejected_for_ms(const struct sl_server *s)
{
    return (s->ejected_until_ns - sl_clock_ns()) / 1000000;
}

/* Passive health: failures in a row take a server out of rotation, its
 * requests go to the other; back on trial, one more failure takes it out for
 * twice as long, and a success ends the trial. */
static void test_failing_server_is_ejected_then_on_trial(void **state)
{
    open_world(TWO_SERVERS);
    struct sl_pool *pool = world.plane.pools[0];
    struct sl_server *a = &pool->servers[0];
    struct sl_server *b = &pool->servers[1];
    int32_t stream = 1;
    int failures = 0;
    while (a->ejected_until_ns == 0) {
        failures += serve_one(stream, a) == a;
        stream += 2;
        assert_true(stream < 200); /* the picks spread over both servers */
    }
    assert_int_equal(failures, 2);
    assert_int_equal(pool->ejections, 1);
    assert_int_equal(sl_pool_servers_ejected(pool, sl_clock_ns()), 1);
    uint64_t ms = ejected_for_ms(a);
    assert_true(ms > 900 && ms <= 1000);
    for (int i = 0; i < 8; i++) {
        assert_ptr_equal(serve_one(stream, a), b);
        stream += 2;
    }

    a->ejected_until_ns = sl_clock_ns(); /* its time is up */
    while (serve_one(stream, a) != a)    /* on trial, and it fails */
        stream += 2;
    assert_int_equal(pool->ejections, 2);
    ms = ejected_for_ms(a);
    assert_true(ms > 1900 && ms <= 2000);

    a->ejected_until_ns = sl_clock_ns();
    while (serve_one(stream, NULL) != a) /* on trial, and it answers */
        stream += 2;
    assert_false(a->is_on_trial);
    assert_int_equal(a->ejections_in_a_row, 0);
    assert_int_equal(a->failures_in_a_row, 0);
    assert_int_equal(sl_pool_servers_ejected(pool, sl_clock_ns()), 0);
    close_world();
}

/* With every server out, they all serve rather than none. */
static void test_every_server_out_is_every_server_in(void **state)
{
    open_world(TWO_SERVERS);
    struct sl_pool *pool = world.plane.pools[0];
    int32_t stream = 1;
    while (pool->ejected_count < 2) {
        struct sl_server *failing =
            pool->servers[0].ejected_until_ns == 0 ? &pool->servers[0] : &pool->servers[1];
        serve_one(stream, failing);
        stream += 2;
        assert_true(stream < 400);
    }
    struct sl_server *served = serve_one(stream, NULL);
    assert_non_null(served);
    assert_int_equal(world.front.status, 200);
    close_world();
}

#define BODY_LIMIT_4                                                                               \
    ONE_CONNECTION "classes:\n"                                                                    \
                   "  - name: small\n"                                                             \
                   "    max_body_bytes: 4\n"

/* A content-length over the class's limit is 413 before any upstream. */
static void test_declared_body_over_the_limit_is_413_unsent(void **state)
{
    open_world(BODY_LIMIT_4);
    struct sl_request *req = sl_request_new(&world.front.base, 1);
    assert_non_null(req);
    add_field(req, ":method", "POST");
    add_field(req, ":scheme", "http");
    add_field(req, ":authority", "example.test");
    add_field(req, ":path", "/bid");
    add_field(req, "content-length", "5");
    sl_request_on_head_done(req, true);
    assert_int_equal(world.front.status, 413);
    assert_int_equal(conn_count, 0);
    assert_int_equal(prepares, 0);
    sl_request_on_body(req, (const uint8_t *)"12345", 5);
    assert_int_equal(world.front.consumed, 5); /* dropped, its credit returned */
    sl_request_finish(req, SL_END_CLOSED);
    assert_int_equal(world.stats->bodies_too_large, 1);
    close_world();
}

/* A body with no length that grows past the limit: 413 once it does, and the
 * exchange already under way upstream is abandoned. */
static void test_streamed_body_over_the_limit_is_413(void **state)
{
    open_world(BODY_LIMIT_4);
    struct sl_request *req = open_request(1, "POST", true);
    sl_request_on_body(req, (const uint8_t *)"abcd", 4);
    assert_int_equal(world.front.status, 0); /* at the limit is within it */
    assert_int_equal(evbuffer_get_length(conns[0].body), 4);
    sl_request_on_body(req, (const uint8_t *)"e", 1);
    assert_int_equal(world.front.status, 413);
    assert_int_equal(conns[0].detaches, 1);
    assert_int_equal(world.front.consumed, 5);
    sl_request_finish(req, SL_END_CLOSED);
    assert_int_equal(world.stats->bodies_too_large, 1);
    close_world();
}

/* A class that refuses its shed requests asks the front for a refusal, and
 * the request never reaches the upstream. */
static void test_shed_refusal_never_reaches_the_upstream(void **state)
{
    open_world(MINIMAL "    max_inflight: 1\n"
                       "    queue_size: 1\n"
                       "classes:\n"
                       "  - name: bulk\n"
                       "    sheddable: true\n"
                       "    shed: {refuse_stream: true}\n"
                       "decision_header: true\n");
    struct sl_request *held = open_request(1, "GET", false);
    struct sl_request *queued = open_request(3, "GET", false);
    assert_int_equal(queued->state, SL_REQ_QUEUED);
    struct sl_request *refused = open_request(5, "GET", false);
    assert_int_equal(world.front.resets, 1);
    assert_int_equal(world.front.last_reset, SL_RESET_REFUSED);
    assert_int_equal(conns[0].heads, 1);
    assert_int_equal(counts()->shed[SL_SHED_QUEUE_FULL], 1);
    sl_request_finish(refused, SL_END_RESET);
    /* the refusal is a shed answer: its time from arrival, a moment here */
    const struct sl_histogram *shed_latency = &world.stats->shed_latency_by_class[0];
    assert_int_equal(sl_hist_total(shed_latency), 1);
    assert_true(sl_hist_percentile(shed_latency, 100) < 1000000);
    sl_request_finish(queued, SL_END_RESET);
    assert_int_equal(counts()->cancelled, 1);
    answer(&conns[0], held, 200, "");
    assert_true(world.front.has_decision);
    sl_request_finish(held, SL_END_CLOSED);
    /* neither a cancelled request nor a proxied one is a shed answer */
    assert_int_equal(sl_hist_total(shed_latency), 1);
    assert_int_equal(sl_hist_total(&world.stats->latency_by_class[0]), 1);
    close_world();
}

/* The termination codes the outcome can carry. */
static void test_outcome_codes(void **state)
{
    char code[3];
    struct sl_outcome o = {0};
    sl_outcome_code(&o, code);
    assert_string_equal(code, "--");
    o = (struct sl_outcome){.cause = SL_CAUSE_CLIENT, .phase = SL_PHASE_BODY};
    sl_outcome_code(&o, code);
    assert_string_equal(code, "CD");
    o = (struct sl_outcome){.cause = SL_CAUSE_UPSTREAM_TIMEOUT, .phase = SL_PHASE_RESPONSE_HEAD};
    sl_outcome_code(&o, code);
    assert_string_equal(code, "sH");
    o = (struct sl_outcome){.cause = SL_CAUSE_POLICY, .phase = SL_PHASE_QUEUE};
    sl_outcome_code(&o, code);
    assert_string_equal(code, "PQ");
    o = (struct sl_outcome){.cause = SL_CAUSE_SHUTDOWN, .phase = SL_PHASE_LAST};
    sl_outcome_code(&o, code);
    assert_string_equal(code, "KL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_is_prepared_sent_answered_and_counted),
        cmocka_unit_test(test_waiting_post_keeps_its_body),
        cmocka_unit_test(test_broken_reused_connection_is_retried_with_the_body),
        cmocka_unit_test(test_refused_stream_is_retried_then_502),
        cmocka_unit_test(test_broken_reused_post_is_retried_only_when_allowed),
        cmocka_unit_test(test_only_idempotent_methods_are_retried),
        cmocka_unit_test(test_timeout_is_504_and_a_timeout_count),
        cmocka_unit_test(test_fresh_connection_broken_is_502_and_a_failure),
        cmocka_unit_test(test_client_reset_detaches_the_upstream),
        cmocka_unit_test(test_pool_counts_streams_per_connection),
        cmocka_unit_test(test_declared_body_over_the_limit_is_413_unsent),
        cmocka_unit_test(test_streamed_body_over_the_limit_is_413),
        cmocka_unit_test(test_failing_server_is_ejected_then_on_trial),
        cmocka_unit_test(test_every_server_out_is_every_server_in),
        cmocka_unit_test(test_shed_refusal_never_reaches_the_upstream),
        cmocka_unit_test(test_outcome_codes),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
