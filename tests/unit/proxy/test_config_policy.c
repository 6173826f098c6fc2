/* The policy keys of the config: classes and their shed answers, rules and
 * their matchers, budget and decision headers, overload. The core keys are in
 * test_config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "config_fixture.h"
#include "pattern.h"

/* check_rule's message for a rule hidden by the one at line */
#define NEVER_MATCHES(line)                                                                        \
    "this rule can never match: the rule at line " #line " matches every request it would "        \
    "(rules are tried in order; put the more specific rule first)"

/* ---- requests to match ---- */

struct field {
    const char *name; /* lowercase, as HTTP/2 sends it */
    const char *value;
};

/* A request as sl_rule_input sees it; fields end at a NULL name. */
struct request {
    const char *method;
    const char *path;
    const char *authority; /* NULL: none */
    const char *client;    /* an IPv4 or IPv6 address; NULL: a Unix-socket client */
    unsigned listener_index;
    struct field fields[4];
};

static const char *field_of(const void *ctx, const char *name, size_t name_len, size_t *value_len)
{
    const struct field *f = ctx;
    for (; f->name != NULL; f++) {
        if (strlen(f->name) == name_len && memcmp(f->name, name, name_len) == 0) {
            *value_len = strlen(f->value);
            return f->value;
        }
    }
    return NULL;
}

/* The rule req gets, as an index into cfg->rules. */
static size_t match(const struct sl_config *cfg, const struct request *req)
{
    struct sl_ip ip;
    const struct sl_ip *client = NULL;
    if (req->client != NULL) {
        uint8_t bytes[16];
        if (inet_pton(AF_INET, req->client, bytes) == 1) {
            sl_ip_set(&ip, SL_IP_V4, bytes);
        } else {
            assert_int_equal(inet_pton(AF_INET6, req->client, bytes), 1);
            sl_ip_set(&ip, SL_IP_V6, bytes);
        }
        client = &ip;
    }
    struct sl_rule_input in = {
        .method = req->method,
        .method_len = req->method != NULL ? strlen(req->method) : 0,
        .path = req->path,
        .path_len = req->path != NULL ? strlen(req->path) : 0,
        .authority = req->authority,
        .authority_len = req->authority != NULL ? strlen(req->authority) : 0,
        .client = client,
        .listener_index = req->listener_index,
        .header = field_of,
        .header_ctx = req->fields,
    };
    const struct sl_rule *rule = sl_config_match(cfg, &in);
    assert_true(rule >= cfg->rules && rule < cfg->rules + cfg->rule_count);
    return (size_t)(rule - cfg->rules);
}

static const char *class_of(const struct sl_config *cfg, const struct request *req)
{
    return cfg->classes[cfg->rules[match(cfg, req)].class_index].name;
}

static const char *backend_of(const struct sl_config *cfg, const struct request *req)
{
    return cfg->backends[cfg->rules[match(cfg, req)].backend_index].name;
}

static void assert_sl_string(const struct sl_string *s, const char *text)
{
    assert_int_equal(s->len, strlen(text));
    assert_memory_equal(s->text, text, s->len);
}

/* ---- classes ---- */

#define CLASSES                                                                                    \
    "classes:\n"                                                                                   \
    "  - name: critical\n"                                                                         \
    "    deadline_ms: 100\n"                                                                       \
    "    max_queue_ms: 50\n"                                                                       \
    "    reserve_percent: 20\n"                                                                    \
    "    sheddable: false\n"                                                                       \
    "    shed:\n"                                                                                  \
    "      status: 204\n"                                                                          \
    "      headers:\n"                                                                             \
    "        X-Bid-Reason: No-Bid\n"                                                               \
    "        cache-control: no-store\n"                                                            \
    "  - name: normal\n"                                                                           \
    "    reserve_percent: 10\n"                                                                    \
    "    max_backlog_ms: 40\n"                                                                     \
    "  - name: bulk\n"                                                                             \
    "    deadline_ms: 3600000\n"                                                                   \
    "    max_queue_ms: 0\n"                                                                        \
    "    shed:\n"                                                                                  \
    "      status: 503\n"                                                                          \
    "      headers: {Retry-After: '1'}\n"                                                          \
    "      body: \"busy\\n\"\n"                                                                    \
    "  - name: scavenger\n"                                                                        \
    "    shed: {refuse_stream: true}\n"                                                            \
    "default_class: normal\n"

static void test_classes(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL CLASSES);
    assert_int_equal(cfg->class_count, 4);
    const struct sl_class_config *c = cfg->classes;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(c[i].index, i);
    assert_ptr_equal(cfg->default_class, &c[1]);

    assert_string_equal(c[0].name, "critical");
    assert_int_equal(c[0].deadline_ms, 100);
    assert_int_equal(c[0].max_queue_ms, 50);
    assert_int_equal(c[0].reserve_percent, 20);
    assert_false(c[0].is_sheddable);
    assert_int_equal(c[0].shed.status, 204);
    assert_int_equal(c[0].shed.header_count, 2);
    assert_sl_string(&c[0].shed.headers[0].name, "x-bid-reason"); /* names lowercased */
    assert_sl_string(&c[0].shed.headers[0].value, "No-Bid");      /* values as written */
    assert_sl_string(&c[0].shed.headers[1].name, "cache-control");
    assert_sl_string(&c[0].shed.headers[1].value, "no-store");
    assert_int_equal(c[0].shed.body.len, 0);
    assert_false(c[0].shed.is_refuse_stream);

    /* every key left out takes its default */
    assert_string_equal(c[1].name, "normal");
    assert_int_equal(c[1].deadline_ms, 0);
    assert_int_equal(c[1].max_queue_ms, 1000);
    assert_int_equal(c[1].max_backlog_ms, 40);
    assert_int_equal(cfg->class_policies[1].max_backlog_ns, 40000000);
    assert_int_equal(c[1].reserve_percent, 10);
    assert_true(c[1].is_sheddable);
    assert_int_equal(c[1].shed.status, 503);
    assert_int_equal(c[1].shed.header_count, 0);
    assert_int_equal(c[1].shed.body.len, 0);
    assert_false(c[1].shed.is_refuse_stream);

    assert_string_equal(c[2].name, "bulk");
    assert_int_equal(c[2].deadline_ms, 3600000);
    assert_int_equal(c[2].max_queue_ms, 0);
    assert_int_equal(c[2].max_backlog_ms, 100); /* the default */
    assert_int_equal(c[2].shed.status, 503);
    assert_int_equal(c[2].shed.header_count, 1);
    assert_sl_string(&c[2].shed.headers[0].name, "retry-after");
    assert_sl_string(&c[2].shed.headers[0].value, "1");
    assert_sl_string(&c[2].shed.body, "busy\n");

    assert_string_equal(c[3].name, "scavenger");
    assert_true(c[3].shed.is_refuse_stream);
    assert_int_equal(c[3].shed.status, 503); /* the rest of shed keeps its defaults */

    /* as policy/ sees them; the least important sheddable class has rank 1 */
    const struct sl_class_policy *p = cfg->class_policies;
    assert_int_equal(p[0].max_queue_ns, 50000000);
    assert_int_equal(p[0].reserve_percent, 20);
    assert_int_equal(p[0].shed_rank, 0);
    assert_int_equal(p[1].max_queue_ns, 1000000000);
    assert_int_equal(p[1].reserve_percent, 10);
    assert_int_equal(p[1].shed_rank, 3);
    assert_int_equal(p[2].max_queue_ns, 0);
    assert_int_equal(p[2].shed_rank, 2);
    assert_int_equal(p[3].shed_rank, 1);
    assert_int_equal(cfg->shed_levels, 3);

    /* the catch-all gives default_class */
    assert_int_equal(cfg->rule_count, 1);
    assert_int_equal(cfg->rules[0].class_index, 1);
    sl_config_free(cfg);
}

static void test_one_class_and_limits(void **state)
{
    /* with one class, default_class may be left out; an explicit class is
     * sheddable unless it says otherwise */
    struct sl_config *cfg = load_ok(MINIMAL "classes:\n"
                                            "  - name: only\n"
                                            "    reserve_percent: 99\n"
                                            "    shed: {status: 200, body: ''}\n");
    assert_int_equal(cfg->class_count, 1);
    assert_ptr_equal(cfg->default_class, &cfg->classes[0]);
    assert_string_equal(cfg->classes[0].name, "only");
    assert_int_equal(cfg->classes[0].reserve_percent, 99);
    assert_int_equal(cfg->classes[0].shed.status, 200);
    assert_int_equal(cfg->classes[0].shed.body.len, 0);
    assert_true(cfg->classes[0].is_sheddable);
    assert_int_equal(cfg->class_policies[0].shed_rank, 1);
    assert_int_equal(cfg->shed_levels, 1);
    sl_config_free(cfg);

    /* sixteen classes at most, and a shed status up to 599 */
    char yaml[2048];
    size_t at = (size_t)snprintf(yaml, sizeof(yaml), MINIMAL "default_class: c15\nclasses:\n");
    for (int i = 0; i < 16; i++)
        at += (size_t)snprintf(yaml + at, sizeof(yaml) - at,
                               "  - {name: c%d, shed: {status: 599}}\n", i);
    cfg = load_ok(yaml);
    assert_int_equal(cfg->class_count, 16);
    assert_ptr_equal(cfg->default_class, &cfg->classes[15]);
    assert_int_equal(cfg->classes[15].shed.status, 599);
    assert_int_equal(cfg->shed_levels, 16);
    assert_int_equal(cfg->class_policies[0].shed_rank, 16);
    sl_config_free(cfg);

    /* "classes:" with nothing is the implicit class */
    cfg = load_ok(MINIMAL "classes:\n");
    assert_int_equal(cfg->class_count, 1);
    assert_string_equal(cfg->classes[0].name, "default");
    sl_config_free(cfg);
}

static void test_top_level_policy_keys(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL "budget_header: X-Request-Timeout-Ms\n"
                                            "forward_budget_header: \"\"\n"
                                            "decision_header: true\n"
                                            "overload:\n"
                                            "  max_loop_lag_ms: 0\n"
                                            "  max_connections: 10000000\n"
                                            "  max_streams: 100000000\n"
                                            "  recover_percent: 99\n"
                                            "  step_ms: 10\n");
    assert_sl_string(&cfg->budget_header, "x-request-timeout-ms");
    assert_int_equal(cfg->forward_budget_header.len, 0); /* empty: never sent */
    assert_true(cfg->decision_header);
    assert_int_equal(cfg->overload.max_loop_lag_ms, 0);
    assert_int_equal(cfg->overload.max_connections, 10000000);
    assert_int_equal(cfg->overload.max_streams, 100000000);
    assert_int_equal(cfg->overload.recover_percent, 99);
    assert_int_equal(cfg->overload.step_ms, 10);
    sl_config_free(cfg);

    /* a partial overload mapping keeps the defaults of the keys it leaves out */
    cfg = load_ok(MINIMAL "forward_budget_header: X-Deadline\n"
                          "budget_header: ''\n"
                          "overload: {max_streams: 5000, recover_percent: 1}\n");
    assert_sl_string(&cfg->forward_budget_header, "x-deadline");
    assert_int_equal(cfg->budget_header.len, 0);
    assert_int_equal(cfg->overload.max_loop_lag_ms, 100);
    assert_int_equal(cfg->overload.max_connections, 0);
    assert_int_equal(cfg->overload.max_streams, 5000);
    assert_int_equal(cfg->overload.recover_percent, 1);
    assert_int_equal(cfg->overload.step_ms, 500);
    sl_config_free(cfg);
}

/* ---- rules: each matcher ---- */

static void test_rule_matchers_parsed(void **state)
{
    struct sl_config *cfg = load_ok("listeners:\n"
                                    "  - {address: 127.0.0.1:8080, name: public}\n"
                                    "  - {address: 127.0.0.1:8081}\n"
                                    "  - {address: 127.0.0.1:8082, name: ops}\n"
                                    "backends:\n"
                                    "  - {name: demo, servers: [127.0.0.1:9000]}\n"
                                    "  - {name: other, servers: [127.0.0.1:9001]}\n"
                                    "classes:\n"
                                    "  - name: high\n"
                                    "  - name: low\n"
                                    "default_class: low\n"
                                    "rules:\n"
                                    "  - method: [GET, HEAD]\n"
                                    "    path: [/a, /b/c]\n"
                                    "    path_prefix: /b\n"
                                    "    path_regex: '^/[a-z/]+$'\n"
                                    "    authority: [Example.COM, 'example.com:8443']\n"
                                    "    headers:\n"
                                    "      - name: X-Tenant\n"
                                    "        equals: Acme\n"
                                    "      - name: user-agent\n"
                                    "        matches: '^curl/'\n"
                                    "      - name: X-Debug\n"
                                    "        absent: true\n"
                                    "      - name: Authorization\n"
                                    "    client: [10.0.0.0/8, 192.0.2.1, \"2001:db8::/32\", "
                                    "\"::1\"]\n"
                                    "    listener: [ops, public]\n"
                                    "    class: high\n"
                                    "    backend: other\n"
                                    "  - method: DELETE\n"
                                    "    client: 0.0.0.0/0\n"
                                    "    listener: ops\n");
    assert_int_equal(cfg->rule_count, 3);
    const struct sl_rule *r = &cfg->rules[0];
    assert_int_equal(r->method_count, 2);
    assert_sl_string(&r->methods[0], "GET");
    assert_sl_string(&r->methods[1], "HEAD");
    assert_int_equal(r->path_count, 2);
    assert_sl_string(&r->paths[0], "/a");
    assert_sl_string(&r->paths[1], "/b/c");
    assert_int_equal(r->path_prefix_count, 1);
    assert_sl_string(&r->path_prefixes[0], "/b");
    assert_non_null(r->path_pattern);
    assert_true(sl_pattern_match(r->path_pattern, "/b/c", 4));
    assert_false(sl_pattern_match(r->path_pattern, "/b/c1", 5));
    assert_int_equal(r->authority_count, 2);
    assert_sl_string(&r->authorities[0], "Example.COM"); /* compared ignoring case */
    assert_sl_string(&r->authorities[1], "example.com:8443");

    assert_int_equal(r->header_count, 4);
    const struct sl_header_matcher *h = r->headers;
    assert_int_equal(h[0].name_len, 8);
    assert_memory_equal(h[0].name, "x-tenant", 8);
    assert_int_equal(h[0].test, SL_HEADER_EQUALS);
    assert_int_equal(h[0].value_len, 4);
    assert_memory_equal(h[0].value, "Acme", 4);
    assert_memory_equal(h[1].name, "user-agent", 10);
    assert_int_equal(h[1].test, SL_HEADER_MATCHES);
    assert_true(sl_pattern_match(h[1].pattern, "curl/8.5", 8));
    assert_false(sl_pattern_match(h[1].pattern, "Mozilla curl/8.5", 16));
    assert_memory_equal(h[2].name, "x-debug", 7);
    assert_int_equal(h[2].test, SL_HEADER_ABSENT);
    assert_int_equal(h[3].name_len, 13);
    assert_memory_equal(h[3].name, "authorization", 13);
    assert_int_equal(h[3].test, SL_HEADER_PRESENT);

    assert_int_equal(r->client_count, 4);
    assert_int_equal(r->clients[0].family, SL_IP_V4);
    assert_int_equal(r->clients[0].prefix_len, 8);
    assert_int_equal(r->clients[0].addr[0], 10);
    assert_int_equal(r->clients[1].family, SL_IP_V4);
    assert_int_equal(r->clients[1].prefix_len, 32); /* a bare address */
    assert_int_equal(r->clients[2].family, SL_IP_V6);
    assert_int_equal(r->clients[2].prefix_len, 32);
    assert_int_equal(r->clients[3].family, SL_IP_V6);
    assert_int_equal(r->clients[3].prefix_len, 128);

    assert_int_equal(r->listener_count, 2);
    assert_int_equal(r->listeners[0], 2); /* ops */
    assert_int_equal(r->listeners[1], 0); /* public */
    assert_int_equal(r->class_index, 0);
    assert_int_equal(r->backend_index, 1);

    /* one scalar is a list of one; class and backend left out are the defaults */
    r = &cfg->rules[1];
    assert_int_equal(r->method_count, 1);
    assert_sl_string(&r->methods[0], "DELETE");
    assert_int_equal(r->client_count, 1);
    assert_int_equal(r->clients[0].prefix_len, 0);
    assert_int_equal(r->listener_count, 1);
    assert_int_equal(r->listeners[0], 2);
    assert_int_equal(r->path_count + r->path_prefix_count + r->authority_count + r->header_count,
                     0);
    assert_null(r->path_pattern);
    assert_int_equal(r->class_index, 1);
    assert_int_equal(r->backend_index, 0);

    /* the catch-all */
    r = &cfg->rules[2];
    assert_int_equal(r->method_count + r->client_count + r->listener_count, 0);
    assert_int_equal(r->class_index, 1);
    assert_int_equal(r->backend_index, 0);

    /* the first rule end to end: every matcher must hold */
    struct request req = {
        .method = "HEAD",
        .path = "/b/c?q=1",
        .authority = "EXAMPLE.com",
        .client = "10.1.2.3",
        .listener_index = 2,
        .fields = {{"x-tenant", "Acme"}, {"user-agent", "curl/8"}, {"authorization", "x"}},
    };
    assert_int_equal(match(cfg, &req), 0);
    struct request miss = req;
    miss.method = "POST";
    assert_int_equal(match(cfg, &miss), 2);
    miss = req;
    miss.path = "/b/d"; /* has the prefix, but is not one of the paths */
    assert_int_equal(match(cfg, &miss), 2);
    miss = req;
    miss.authority = "example.com:8080"; /* the port must match too */
    assert_int_equal(match(cfg, &miss), 2);
    miss = req;
    miss.client = "11.0.0.1";
    assert_int_equal(match(cfg, &miss), 2);
    miss.client = "::ffff:10.0.0.1"; /* IPv4-mapped counts as IPv4 */
    assert_int_equal(match(cfg, &miss), 0);
    miss.client = "2001:db8:1::1";
    assert_int_equal(match(cfg, &miss), 0);
    miss.client = NULL; /* a Unix-socket client */
    assert_int_equal(match(cfg, &miss), 2);
    miss = req;
    miss.listener_index = 1;
    assert_int_equal(match(cfg, &miss), 2);
    miss = req;
    miss.fields[0].value = "acme"; /* equals is byte for byte */
    assert_int_equal(match(cfg, &miss), 2);
    miss = req;
    miss.fields[3] = (struct field){"x-debug", "1"};
    assert_int_equal(match(cfg, &miss), 2);
    miss = req;
    miss.fields[2] = (struct field){NULL, NULL}; /* authorization must be present */
    assert_int_equal(match(cfg, &miss), 2);
    sl_config_free(cfg);
}

static void test_rule_regex_matching(void **state)
{
    /* the path a pattern sees has no query; unanchored patterns match anywhere */
    struct sl_config *cfg = load_ok(MINIMAL "rules:\n"
                                            "  - path_regex: '^/v[0-9]+/items/[^/]+$'\n"
                                            "  - path_regex: '\\.(png|gif)$'\n"
                                            "  - path_regex: 'admin'\n");
    struct {
        const char *path;
        size_t want;
    } cases[] = {
        {"/v1/items/42", 0},  {"/v12/items/abc?x=/y", 0},
        {"/v1/items/42/", 3}, {"/v/items/42", 3},
        {"/img/a.png", 1},    {"/img/a.png?size=2", 1},
        {"/img/a.pngx", 3},   {"/img/a.PNG", 3}, /* case-sensitive */
        {"/x/admin/y", 2},    {"/x?admin", 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct request req = {.method = "GET", .path = cases[i].path};
        assert_int_equal(match(cfg, &req), cases[i].want);
    }
    sl_config_free(cfg);
}

static void test_rule_without_backend(void **state)
{
    /* a rule that names no backend sends its requests to default_backend */
    struct sl_config *cfg = load_ok(MINIMAL "  - name: other\n"
                                            "    servers: [127.0.0.1:9002]\n"
                                            "rules:\n"
                                            "  - path: /health\n"
                                            "  - path_prefix: /\n"
                                            "    backend: demo\n"
                                            "default_backend: other\n");
    assert_int_equal(cfg->rules[0].backend_index, 1);
    struct request health = {.method = "GET", .path = "/health"};
    assert_string_equal(backend_of(cfg, &health), "other");
    health.path = "/health/x";
    assert_string_equal(backend_of(cfg, &health), "demo");
    sl_config_free(cfg);
}

/* ---- a realistic setup end to end ---- */

static void test_rtb_match(void **state)
{
    struct sl_config *cfg = load_ok("listeners:\n"
                                    "  - {name: public, address: 0.0.0.0:8080}\n"
                                    "  - {name: ops, address: 127.0.0.1:8081}\n"
                                    "backends:\n"
                                    "  - {name: bidders, servers: [127.0.0.1:9001]}\n"
                                    "  - {name: analytics, servers: [127.0.0.1:9002]}\n"
                                    "classes:\n"
                                    "  - name: critical\n"
                                    "    deadline_ms: 100\n"
                                    "    sheddable: false\n"
                                    "    shed: {status: 204}\n"
                                    "  - name: normal\n"
                                    "  - name: bulk\n"
                                    "default_class: normal\n"
                                    "rules:\n"
                                    "  - client: [10.0.0.0/8, \"fd00::/8\"]\n"
                                    "    path: /health\n"
                                    "    class: critical\n"
                                    "  - method: POST\n"
                                    "    path_prefix: /openrtb\n"
                                    "    class: critical\n"
                                    "  - headers: [{name: X-Priority, equals: low}]\n"
                                    "    class: bulk\n"
                                    "  - path_prefix: [/track, /analytics]\n"
                                    "    class: bulk\n"
                                    "    backend: analytics\n"
                                    "default_backend: bidders\n");
    struct {
        struct request req;
        const char *cls;
        const char *backend;
    } cases[] = {
        {{.method = "POST", .path = "/openrtb2/auction", .client = "203.0.113.7"},
         "critical",
         "bidders"},
        {{.method = "POST", .path = "/openrtb?tmax=80"}, "critical", "bidders"},
        {{.method = "GET", .path = "/openrtb2/auction"}, "normal", "bidders"}, /* not a bid */
        {{.method = "post", .path = "/openrtb"},
         "normal",
         "bidders"}, /* methods are case-sensitive */
        {{.method = "POST", .path = "/openrtb", .fields = {{"x-priority", "low"}}},
         "critical",
         "bidders"},
        {{.method = "GET", .path = "/", .fields = {{"x-priority", "low"}}}, "bulk", "bidders"},
        {{.method = "GET", .path = "/", .fields = {{"x-priority", "high"}}}, "normal", "bidders"},
        {{.method = "GET", .path = "/track/imp?id=1"}, "bulk", "analytics"},
        {{.method = "POST", .path = "/analytics/events"}, "bulk", "analytics"},
        {{.method = "GET", .path = "/health", .client = "10.20.30.40"}, "critical", "bidders"},
        {{.method = "GET", .path = "/health", .client = "fd12::1"}, "critical", "bidders"},
        {{.method = "GET", .path = "/health", .client = "198.51.100.1"}, "normal", "bidders"},
        {{.method = "GET", .path = "/health"}, "normal", "bidders"}, /* a Unix-socket client */
        {{.method = "GET", .path = "/favicon.ico"}, "normal", "bidders"},
        {{.method = NULL}, "normal", "bidders"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(class_of(cfg, &cases[i].req), cases[i].cls);
        assert_string_equal(backend_of(cfg, &cases[i].req), cases[i].backend);
    }
    sl_config_free(cfg);
}

static void test_shipped_rtb_example(void **state)
{
    struct sl_config *cfg = NULL;
    char err[512] = "";
    int rc =
        sl_config_load(SL_SOURCE_DIR "/conf/examples/rtb-priority.yaml", &cfg, err, sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->class_count, 3);
    const struct sl_class_config *critical = &cfg->classes[0], *bulk = &cfg->classes[2];
    assert_string_equal(critical->name, "critical");
    assert_int_equal(critical->deadline_ms, 100);
    assert_int_equal(critical->max_queue_ms, 50);
    assert_false(critical->is_sheddable);
    assert_int_equal(critical->reserve_percent, 20);
    assert_int_equal(critical->shed.status, 204);
    assert_string_equal(cfg->default_class->name, "normal");
    assert_string_equal(bulk->name, "bulk");
    assert_int_equal(bulk->shed.status, 503);
    assert_sl_string(&bulk->shed.headers[0].name, "retry-after");
    assert_sl_string(&bulk->shed.headers[0].value, "1");
    assert_sl_string(&cfg->budget_header, "x-request-timeout-ms");
    assert_string_equal(cfg->backends[0].name, "bidders");
    assert_int_equal(cfg->backends[0].limiter, SL_LIMITER_ADAPTIVE);

    struct {
        struct request req;
        const char *cls;
        const char *backend;
    } cases[] = {
        {{.method = "POST", .path = "/openrtb2/auction"}, "critical", "bidders"},
        {{.method = "POST", .path = "/openrtb?tmax=80", .fields = {{"x-priority", "low"}}},
         "critical",
         "bidders"},
        {{.method = "GET", .path = "/openrtb"}, "normal", "bidders"},
        {{.method = "GET", .path = "/track/imp?id=1"}, "bulk", "analytics"},
        {{.method = "POST", .path = "/analytics/batch"}, "bulk", "analytics"},
        {{.method = "GET", .path = "/win/0123456789abcdef0123456789abcdef"}, "normal", "analytics"},
        {{.method = "GET", .path = "/win/0123456789ABCDEF0123456789ABCDEF"}, "normal", "bidders"},
        {{.method = "GET", .path = "/health", .listener_index = 1}, "critical", "bidders"},
        {{.method = "GET", .path = "/health", .listener_index = 0}, "normal", "bidders"},
        {{.method = "GET", .path = "/", .fields = {{"x-priority", "low"}}}, "bulk", "bidders"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(class_of(cfg, &cases[i].req), cases[i].cls);
        assert_string_equal(backend_of(cfg, &cases[i].req), cases[i].backend);
    }
    sl_config_free(cfg);
}

/* ---- backend admission ---- */

static void test_max_inflight_default(void **state)
{
    /* max_connections per server, times the servers; capped at the key's maximum */
    struct sl_config *cfg =
        load_ok(MINIMAL "  - name: three\n"
                        "    servers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3]\n"
                        "    max_connections: 10\n"
                        "  - name: huge\n"
                        "    servers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3,\n"
                        "              127.0.0.1:4, 127.0.0.1:5, 127.0.0.1:6,\n"
                        "              127.0.0.1:7, 127.0.0.1:8, 127.0.0.1:9,\n"
                        "              127.0.0.1:10, 127.0.0.1:11, 127.0.0.1:12,\n"
                        "              127.0.0.1:13, 127.0.0.1:14, 127.0.0.1:15,\n"
                        "              127.0.0.1:16]\n"
                        "    max_connections: 65535\n"
                        "  - name: static-set\n"
                        "    servers: [127.0.0.1:1]\n"
                        "    max_connections: 10\n"
                        "    max_inflight: 500\n");
    assert_int_equal(cfg->backends[0].max_inflight, 128);
    assert_int_equal(cfg->backends[1].max_inflight, 30);
    assert_int_equal(cfg->backends[2].max_inflight, 1000000); /* 16 * 65535, capped */
    assert_int_equal(cfg->backends[3].max_inflight, 500);     /* above the connections: allowed */
    sl_config_free(cfg);
}

/* ---- errors ---- */

static void test_error_classes(void **state)
{
    /* classes: lines 6-8; a key after them is on line 9 */
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: high\n"
                              "  - name: low\n",
                      7, "default_class is required when there are several classes");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: high\n"
                              "  - name: low\n"
                              "default_class: medium\n",
                      9, "default_class 'medium' is not defined (defined: high, low)");
    /* without classes there is one, "default", and names can say so */
    struct sl_config *cfg = load_ok(MINIMAL "default_class: default\n"
                                            "rules:\n"
                                            "  - path: /x\n"
                                            "    class: default\n");
    assert_int_equal(cfg->class_count, 1);
    assert_ptr_equal(cfg->default_class, &cfg->classes[0]);
    assert_int_equal(cfg->rules[0].class_index, 0);
    sl_config_free(cfg);
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: high\n"
                              "  - name: low\n"
                              "  - name: high\n",
                      9, "duplicate class name 'high' (first defined at line 7)");
    assert_load_error(MINIMAL "classes:\n"
                              "  - {name: a, reserve_percent: 50}\n"
                              "  - {name: b, reserve_percent: 30}\n"
                              "  - {name: c, reserve_percent: 20}\n"
                              "default_class: c\n",
                      7,
                      "the classes reserve 100% of each backend's limit in all; the sum of "
                      "reserve_percent must stay below 100");
    assert_load_error(MINIMAL "classes:\n"
                              "  - {name: a, reserve_percent: 100}\n",
                      7, "reserve_percent must be between 0 and 99, got 100");
    assert_load_error(MINIMAL "classes:\n"
                              "  - deadline_ms: 5\n",
                      7, "class is missing required key 'name'");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: two words\n",
                      7,
                      "class name must be 1 to 64 characters from A-Z a-z 0-9 _ . -, got 'two "
                      "words'");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    priority: 1\n",
                      8,
                      "unknown key 'priority' in class (expected: name, deadline_ms, "
                      "max_queue_ms, max_backlog_ms, reserve_percent, max_body_bytes, sheddable, shed)");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    sheddable: no\n",
                      8, "sheddable must be true or false, got 'no'");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    deadline_ms: 3600001\n",
                      8, "deadline_ms must be between 0 and 3600000, got 3600001");
    char yaml[2048];
    size_t at = (size_t)snprintf(yaml, sizeof(yaml), MINIMAL "classes:\n");
    for (int i = 0; i < 17; i++)
        at += (size_t)snprintf(yaml + at, sizeof(yaml) - at, "  - name: c%d\n", i);
    assert_load_error(yaml, 7, "classes must have at most 16 entries");
}

static void test_error_shed(void **state)
{
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed: {code: 503}\n",
                      8,
                      "unknown key 'code' in shed (expected: status, headers, body, "
                      "refuse_stream)");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed: {status: 199}\n",
                      8, "shed status must be between 200 and 599, got 199");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed: 503\n",
                      8, "shed must be a mapping, got '503'");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed:\n"
                              "      headers:\n"
                              "        Content-Length: 0\n",
                      10, "shed header 'content-length' is set by sluice itself");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed:\n"
                              "      headers: {Connection: close}\n",
                      9, "shed header 'connection' is set by sluice itself");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed:\n"
                              "      headers:\n"
                              "        X-Why: \"over\\nloaded\"\n",
                      10, "shed header 'x-why' must have a one-line value, got 'over?loaded'");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed:\n"
                              "      headers:\n"
                              "        X-Why: |\n"
                              "          over\n"
                              "          loaded\n",
                      10, "shed header 'x-why' must have a one-line value, got 'over?loaded?'");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed:\n"
                              "      headers:\n"
                              "        X-Why:\n",
                      10, "shed header 'x-why' must have a one-line value, got an empty value");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed:\n"
                              "      headers:\n"
                              "        Bad Name: x\n",
                      10,
                      "headers must be a header name (1 to 64 token characters), got 'Bad "
                      "Name'");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: a\n"
                              "    shed:\n"
                              "      headers: [Retry-After, 1]\n",
                      9, "headers must be a mapping of header names to values, got a sequence");
    char yaml[8192], reason[128];
    snprintf(yaml, sizeof(yaml),
             MINIMAL "classes:\n"
                     "  - name: a\n"
                     "    shed:\n"
                     "      body: \"%04097d\"\n",
             0);
    snprintf(reason, sizeof(reason), "shed body must be at most 4096 bytes, got 4097");
    assert_load_error(yaml, 9, reason);
}

static void test_error_rule_references(void **state)
{
    assert_load_error(MINIMAL "rules:\n"
                              "  - path: /\n"
                              "    class: gold\n",
                      8, "rule class 'gold' is not defined (defined: default)");
    assert_load_error(MINIMAL "classes:\n"
                              "  - name: high\n"
                              "  - name: low\n"
                              "default_class: low\n"
                              "rules:\n"
                              "  - path: /\n"
                              "    class: High\n",
                      12, "rule class 'High' is not defined (defined: high, low)");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path: /\n"
                              "    backend: [demo]\n",
                      8, "rule backend must be a backend name, got a sequence");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path: /\n"
                              "    backend: bidders\n",
                      8, "rule backend 'bidders' is not defined (defined: demo)");
    assert_load_error(MINIMAL "rules:\n"
                              "  - listener: public\n",
                      7, "listener 'public' is not defined (defined: none)");
    assert_load_error("listeners:\n"
                      "  - {address: 127.0.0.1:8080, name: public}\n"
                      "  - {address: 127.0.0.1:8081}\n"
                      "  - {address: 127.0.0.1:8082, name: ops}\n"
                      "backends:\n"
                      "  - {name: demo, servers: [127.0.0.1:9000]}\n"
                      "rules:\n"
                      "  - listener:\n"
                      "      - public\n"
                      "      - admin\n",
                      10, "listener 'admin' is not defined (defined: public, ops)");
    assert_load_error("listeners:\n"
                      "  - {address: 127.0.0.1:8080, name: public}\n"
                      "  - {address: 127.0.0.1:8081, name: public}\n",
                      3, "duplicate listener name 'public' (first defined at line 2)");
    assert_load_error("listeners:\n"
                      "  - {address: 127.0.0.1:8080, name: 'pub lic'}\n",
                      2,
                      "listener name must be 1 to 64 characters from A-Z a-z 0-9 _ . -, got "
                      "'pub lic'");
}

static void test_error_rule_matchers(void **state)
{
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_regex: '^/(bid'\n",
                      7,
                      "path_regex '^/(bid' is not a valid regular expression: unbalanced '(' "
                      "at offset 2");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_regex: '/a{1,99}'\n",
                      7,
                      "path_regex '/a{1,99}' is not a valid regular expression: repeat count "
                      "over 32 at offset 2");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_regex: '(a)\\1'\n",
                      7,
                      "path_regex '(a)\\1' is not a valid regular expression: back-references "
                      "are not supported at offset 3");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_regex: [a, b]\n",
                      7, "path_regex must be a regular expression, got a sequence");
    assert_load_error(MINIMAL "rules:\n"
                              "  - client: 10.0.0.0/33\n",
                      7,
                      "client '10.0.0.0/33' is not an address or a network in CIDR form "
                      "(10.0.0.0/8, 2001:db8::/32) with no bits set past its prefix");
    assert_load_error(MINIMAL "rules:\n"
                              "  - client: [10.0.0.0/8, 10.1.0.0/8]\n",
                      7,
                      "client '10.1.0.0/8' is not an address or a network in CIDR form "
                      "(10.0.0.0/8, 2001:db8::/32) with no bits set past its prefix");
    assert_load_error(MINIMAL "rules:\n"
                              "  - client: localhost\n",
                      7,
                      "client 'localhost' is not an address or a network in CIDR form "
                      "(10.0.0.0/8, 2001:db8::/32) with no bits set past its prefix");
    assert_load_error(MINIMAL "rules:\n"
                              "  - client: {net: 10.0.0.0/8}\n",
                      7, "client must be a CIDR network or a sequence of them, got a mapping");
    assert_load_error(MINIMAL "rules:\n"
                              "  - method: []\n",
                      7, "method must be a string or a sequence of strings, got a sequence");
    assert_load_error(MINIMAL "rules:\n"
                              "  - authority: ''\n",
                      7, "authority must be a string or a sequence of strings, got ''");
}

static void test_error_header_matchers(void **state)
{
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers:\n"
                              "      - name: x-priority\n"
                              "        equals: low\n"
                              "        matches: '^lo'\n",
                      8,
                      "a header matcher takes one of equals, matches and absent (neither: the "
                      "header must be present)");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers:\n"
                              "      - {name: x-priority, equals: low, absent: true}\n",
                      8,
                      "a header matcher takes one of equals, matches and absent (neither: the "
                      "header must be present)");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers:\n"
                              "      - equals: low\n",
                      8, "header matcher is missing required key 'name'");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers:\n"
                              "      - {name: x-priority, is: low}\n",
                      8,
                      "unknown key 'is' in header matcher (expected: name, equals, matches, "
                      "absent)");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers:\n"
                              "      - {name: 'x:priority'}\n",
                      8,
                      "header matcher name must be a header name (1 to 64 token characters), "
                      "got 'x:priority'");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers:\n"
                              "      - {name: x-debug, absent: false}\n",
                      8, "absent must be true, got 'false'");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers:\n"
                              "      - {name: x-a, matches: '[a-'}\n",
                      8,
                      "matches '[a-' is not a valid regular expression: unterminated '[' at "
                      "offset 0");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers:\n"
                              "      - {name: x-a, equals: ''}\n",
                      8, "equals must be a string, got ''");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers: []\n",
                      7, "headers must have at least 1 entry");
    assert_load_error(MINIMAL "rules:\n"
                              "  - headers: {name: x-a}\n",
                      7, "headers must be a sequence of mappings, got a mapping");
}

static void test_error_shadowed_rule(void **state)
{
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_prefix: /\n"
                              "    backend: demo\n"
                              "  - path_prefix: /bid\n"
                              "    backend: demo\n",
                      9, NEVER_MATCHES(7));
    assert_load_error(MINIMAL "rules:\n"
                              "  - {path_prefix: /bid, backend: demo}\n"
                              "  - {path_prefix: /bid, backend: demo}\n",
                      8, NEVER_MATCHES(7));
    /* every path and prefix of the later rule is covered, whatever else it asks */
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_prefix: [/track, /bid]\n"
                              "  - path: /bid/v2\n"
                              "    path_prefix: /tracker\n"
                              "    method: POST\n",
                      8, NEVER_MATCHES(7));
    /* a rule with no matcher matches everything: nothing after it can */
    assert_load_error(MINIMAL "rules:\n"
                              "  - backend: demo\n"
                              "  - method: GET\n",
                      8, NEVER_MATCHES(7));
    /* more specific first is fine, and so is an earlier rule with another matcher */
    struct sl_config *cfg =
        load_ok(MINIMAL "rules:\n"
                        "  - path_prefix: /bid/v2\n"
                        "  - path_prefix: /bid\n"
                        "    method: POST\n"
                        "  - path_prefix: /bid\n"
                        "  - path_prefix: [/bidder, /x]\n" /* /x is not covered */
                        "  - method: GET\n");
    assert_int_equal(cfg->rule_count, 6);
    sl_config_free(cfg);
}

static void test_error_admission(void **state)
{
    assert_load_error(MINIMAL "    limiter: gradient\n", 6,
                      "limiter must be static or adaptive, got 'gradient'");
    assert_load_error(MINIMAL "    limiter: Adaptive\n", 6,
                      "limiter must be static or adaptive, got 'Adaptive'");
    assert_load_error(MINIMAL "    limiter: adaptive\n"
                              "    max_inflight: 10\n"
                              "    min_inflight: 20\n",
                      4,
                      "backend 'demo' has min_inflight 20 above its max_inflight 10 (when unset: "
                      "max_connections times the number of servers)");
    /* max_inflight left out: max_connections times the servers */
    assert_load_error(MINIMAL "    limiter: adaptive\n"
                              "    max_connections: 2\n"
                              "    min_inflight: 3\n",
                      4,
                      "backend 'demo' has min_inflight 3 above its max_inflight 2 (when unset: "
                      "max_connections times the number of servers)");
    /* a static limiter has no floor to check */
    struct sl_config *cfg = load_ok(MINIMAL "    max_inflight: 10\n"
                                            "    min_inflight: 20\n");
    assert_int_equal(cfg->backends[0].max_inflight, 10);
    sl_config_free(cfg);
    assert_load_error(MINIMAL "    max_inflight: 1000001\n", 6,
                      "max_inflight must be between 0 and 1000000, got 1000001");
    assert_load_error(MINIMAL "    min_inflight: 0\n", 6,
                      "min_inflight must be between 1 and 1000000, got 0");
    assert_load_error(MINIMAL "    queue_target_ms: 0\n", 6,
                      "queue_target_ms must be between 1 and 60000, got 0");
    assert_load_error(MINIMAL "    queue_interval_ms: 60001\n", 6,
                      "queue_interval_ms must be between 1 and 60000, got 60001");
    assert_load_error(MINIMAL "    queue_size: 1000001\n", 6,
                      "queue_size must be between 0 and 1000000, got 1000001");
}

static void test_error_top_level_policy_keys(void **state)
{
    assert_load_error(MINIMAL "budget_header: x request timeout\n", 6,
                      "budget_header must be a header name (1 to 64 token characters), got 'x "
                      "request timeout'");
    assert_load_error(MINIMAL "budget_header: 'x-budget:'\n", 6,
                      "budget_header must be a header name (1 to 64 token characters), got "
                      "'x-budget:'");
    assert_load_error(MINIMAL "forward_budget_header: [x-budget]\n", 6,
                      "forward_budget_header must be a header name (1 to 64 token "
                      "characters), got a sequence");
    /* a budget header must not be a field that frames or routes the request */
    assert_load_error(MINIMAL "forward_budget_header: Content-Length\n", 6,
                      "forward_budget_header cannot be 'content-length': sluice writes that "
                      "field itself or it frames the request");
    assert_load_error(MINIMAL "budget_header: host\n", 6,
                      "budget_header cannot be 'host': sluice writes that field itself or it "
                      "frames the request");
    assert_load_error(MINIMAL "decision_header: yes\n", 6,
                      "decision_header must be true or false, got 'yes'");
    assert_load_error(MINIMAL "overload:\n"
                              "  recover_percent: 100\n",
                      7, "recover_percent must be between 1 and 99, got 100");
    assert_load_error(MINIMAL "overload:\n"
                              "  step_ms: 9\n",
                      7, "step_ms must be between 10 and 60000, got 9");
    assert_load_error(MINIMAL "overload:\n"
                              "  max_loop_lag_ms: 60001\n",
                      7, "max_loop_lag_ms must be between 0 and 60000, got 60001");
    assert_load_error(MINIMAL "overload:\n"
                              "  max_connections: 10000001\n",
                      7, "max_connections must be between 0 and 10000000, got 10000001");
    assert_load_error(MINIMAL "overload:\n"
                              "  lag_ms: 5\n",
                      7,
                      "unknown key 'lag_ms' in overload (expected: max_loop_lag_ms, "
                      "max_connections, max_streams, recover_percent, step_ms)");
    assert_load_error(MINIMAL "overload: on\n", 6, "overload must be a mapping, got 'on'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_one_class_and_limits),
        cmocka_unit_test(test_top_level_policy_keys),
        cmocka_unit_test(test_rule_matchers_parsed),
        cmocka_unit_test(test_rule_regex_matching),
        cmocka_unit_test(test_rule_without_backend),
        cmocka_unit_test(test_rtb_match),
        cmocka_unit_test(test_shipped_rtb_example),
        cmocka_unit_test(test_max_inflight_default),
        cmocka_unit_test(test_error_classes),
        cmocka_unit_test(test_error_shed),
        cmocka_unit_test(test_error_rule_references),
        cmocka_unit_test(test_error_rule_matchers),
        cmocka_unit_test(test_error_header_matchers),
        cmocka_unit_test(test_error_shadowed_rule),
        cmocka_unit_test(test_error_admission),
        cmocka_unit_test(test_error_top_level_policy_keys),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
