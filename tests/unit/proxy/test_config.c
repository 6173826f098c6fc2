#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "config_fixture.h"

static uint16_t port_of(const struct sl_addr *addr)
{
    if (addr->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&addr->ss)->sin6_port);
}

/* The keys of the top level, in table order, as unknown-key messages list them. */
#define TOP_KEYS                                                                                   \
    "log_level, workers, worker_cpu_affinity, drain_timeout_ms, client_idle_timeout_ms, "          \
    "max_client_connections, client_header_timeout_ms, client_glitch_limit, "                      \
    "max_concurrent_streams, response_header_table_bytes, "                                        \
    "stream_window_bytes, response_buffer_bytes, max_request_header_bytes, "                       \
    "max_response_header_bytes, listeners, backends, "                                             \
    "classes, default_class, default_backend, rules, budget_header, forward_budget_header, "       \
    "decision_header, pid_file, stats_path, admin_address, admin_allow_remote, admin_token, "      \
    "overload, events, access_log"

/* ---- good files ---- */

static void test_full_file(void **state)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "# every core key, none at its default (test_config_policy.c: the policy keys)\n"
             "log_level: debug\n"
             "drain_timeout_ms: 2500\n"
             "client_idle_timeout_ms: 5000\n"
             "max_concurrent_streams: 100\n"
             "stream_window_bytes: 1048576\n"
             "response_buffer_bytes: 131072\n"
             "max_request_header_bytes: 16384\n"
             "listeners:\n"
             "  - address: 127.0.0.1:8080\n"
             "    name: public\n"
             "  - address: \"[::1]:8443\"\n"
             "    tls:\n"
             "      certificate: cert.pem\n" /* relative to the config file */
             "      key: %s\n"
             "  - address: unix:/tmp/sluice-front.sock\n"
             "    name: internal.sock\n"
             "backends:\n"
             "  - name: bidders\n"
             "    servers: [10.0.0.1:9000, \"[::1]:9001\", unix:/run/bidder.sock]\n"
             "    protocol: h2c\n"
             "    connect_timeout_ms: 250\n"
             "    response_timeout_ms: 120\n"
             "    max_connections: 32\n"
             "    keepalive_idle_timeout_ms: 0\n"
             "    limiter: adaptive\n"
             "    max_inflight: 200\n"
             "    min_inflight: 8\n"
             "    limiter_tolerance_percent: 125\n"
             "    limiter_probe_interval_ms: 60000\n"
             "    queue_size: 64\n"
             "    queue_target_ms: 20\n"
             "    queue_interval_ms: 250\n"
             "  - name: analytics.v2\n"
             "    servers:\n"
             "      - unix:/run/analytics.sock\n"
             "rules:\n"
             "  - path_prefix: /bid\n"
             "    backend: bidders\n"
             "  - path_prefix: [/track, /analytics]\n"
             "    backend: analytics.v2\n"
             "default_backend: analytics.v2\n",
             key_path);
    struct sl_config *cfg = load_ok(yaml);

    assert_string_equal(cfg->path, cfg_path);
    assert_int_equal(cfg->log_level, SL_LOG_DEBUG);
    assert_int_equal(cfg->drain_timeout_ms, 2500);
    assert_int_equal(cfg->client_idle_timeout_ms, 5000);
    assert_int_equal(cfg->max_concurrent_streams, 100);
    assert_int_equal(cfg->stream_window_bytes, 1048576);
    assert_int_equal(cfg->response_buffer_bytes, 131072);
    assert_int_equal(cfg->max_request_header_bytes, 16384);

    assert_int_equal(cfg->listener_count, 3);
    const struct sl_listener_config *l = cfg->listeners;
    assert_string_equal(l[0].name, "public");
    assert_string_equal(l[0].addr.text, "127.0.0.1:8080");
    assert_int_equal(l[0].addr.ss.ss_family, AF_INET);
    assert_int_equal(port_of(&l[0].addr), 8080);
    assert_null(l[0].tls_certificate);
    assert_null(l[0].tls_key);
    assert_null(l[1].name);
    assert_string_equal(l[1].addr.text, "[::1]:8443");
    assert_int_equal(l[1].addr.ss.ss_family, AF_INET6);
    assert_int_equal(port_of(&l[1].addr), 8443);
    assert_string_equal(l[1].tls_certificate, cert_path);
    assert_string_equal(l[1].tls_key, key_path);
    assert_string_equal(l[2].name, "internal.sock");
    assert_true(sl_addr_is_unix(&l[2].addr));
    assert_string_equal(((const struct sockaddr_un *)&l[2].addr.ss)->sun_path,
                        "/tmp/sluice-front.sock");
    assert_null(l[2].tls_certificate);

    assert_int_equal(cfg->backend_count, 2);
    const struct sl_backend_config *b = &cfg->backends[0];
    assert_string_equal(b->name, "bidders");
    assert_int_equal(b->index, 0);
    assert_int_equal(b->server_count, 3);
    assert_string_equal(b->servers[0].text, "10.0.0.1:9000");
    assert_int_equal(port_of(&b->servers[0]), 9000);
    assert_string_equal(b->servers[1].text, "[::1]:9001");
    assert_int_equal(b->servers[1].ss.ss_family, AF_INET6);
    assert_string_equal(b->servers[2].text, "unix:/run/bidder.sock");
    assert_true(sl_addr_is_unix(&b->servers[2]));
    assert_int_equal(b->protocol, SL_BACKEND_H2C);
    assert_int_equal(b->connect_timeout_ms, 250);
    assert_int_equal(b->response_timeout_ms, 120);
    assert_int_equal(b->max_connections, 32);
    assert_int_equal(b->keepalive_idle_timeout_ms, 0);
    assert_int_equal(b->limiter, SL_LIMITER_ADAPTIVE);
    assert_int_equal(b->max_inflight, 200);
    assert_int_equal(b->min_inflight, 8);
    assert_int_equal(b->limiter_tolerance_percent, 125);
    assert_int_equal(b->limiter_probe_interval_ms, 60000);
    assert_int_equal(b->queue_size, 64);
    assert_int_equal(b->queue_target_ms, 20);
    assert_int_equal(b->queue_interval_ms, 250);
    b = &cfg->backends[1];
    assert_string_equal(b->name, "analytics.v2");
    assert_int_equal(b->index, 1);
    assert_int_equal(b->server_count, 1);
    assert_string_equal(b->servers[0].text, "unix:/run/analytics.sock");
    assert_int_equal(b->protocol, SL_BACKEND_HTTP1);
    assert_int_equal(b->connect_timeout_ms, 1000);
    assert_int_equal(b->response_timeout_ms, 10000);
    assert_int_equal(b->max_connections, 128);
    assert_int_equal(b->keepalive_idle_timeout_ms, 60000);
    assert_int_equal(b->limiter, SL_LIMITER_STATIC);
    assert_int_equal(b->max_inflight, 128);

    assert_int_equal(cfg->rule_count, 3); /* and the catch-all */
    const struct sl_rule *r = cfg->rules;
    assert_int_equal(r[0].path_prefix_count, 1);
    assert_int_equal(r[0].path_prefixes[0].len, 4);
    assert_memory_equal(r[0].path_prefixes[0].text, "/bid", 4);
    assert_int_equal(r[0].backend_index, 0);
    assert_int_equal(r[1].path_prefix_count, 2);
    assert_string_equal(r[1].path_prefixes[0].text, "/track");
    assert_string_equal(r[1].path_prefixes[1].text, "/analytics");
    assert_int_equal(r[1].backend_index, 1);
    assert_int_equal(r[2].path_prefix_count, 0);
    assert_int_equal(r[2].backend_index, 1);
    assert_ptr_equal(cfg->default_backend, &cfg->backends[1]);
    sl_config_free(cfg);
}

static void assert_defaults(const struct sl_config *cfg)
{
    assert_int_equal(cfg->log_level, SL_LOG_INFO);
    assert_int_equal(cfg->drain_timeout_ms, 10000);
    assert_int_equal(cfg->client_idle_timeout_ms, 60000);
    assert_int_equal(cfg->max_concurrent_streams, 256);
    assert_int_equal(cfg->stream_window_bytes, 262144);
    assert_int_equal(cfg->response_buffer_bytes, 65536);
    assert_int_equal(cfg->max_request_header_bytes, 65536);
    for (size_t i = 0; i < cfg->listener_count; i++) {
        assert_null(cfg->listeners[i].name);
        assert_null(cfg->listeners[i].tls_certificate);
    }
    for (size_t i = 0; i < cfg->backend_count; i++) {
        const struct sl_backend_config *b = &cfg->backends[i];
        assert_int_equal(b->connect_timeout_ms, 1000);
        assert_int_equal(b->response_timeout_ms, 10000);
        assert_int_equal(b->max_connections, 128);
        assert_int_equal(b->keepalive_idle_timeout_ms, 60000);
        assert_int_equal(b->limiter, SL_LIMITER_STATIC);
        assert_int_equal(b->max_inflight, b->max_connections * b->server_count);
        assert_int_equal(b->min_inflight, 1);
        assert_int_equal(b->limiter_tolerance_percent, 110);
        assert_int_equal(b->limiter_probe_interval_ms, 30000);
        assert_int_equal(b->queue_size, 1024);
        assert_int_equal(b->queue_target_ms, 5);
        assert_int_equal(b->queue_interval_ms, 100);
    }

    /* one implicit class, which every request gets */
    assert_int_equal(cfg->class_count, 1);
    const struct sl_class_config *cls = &cfg->classes[0];
    assert_string_equal(cls->name, "default");
    assert_int_equal(cls->index, 0);
    assert_int_equal(cls->deadline_ms, 0);
    assert_int_equal(cls->max_queue_ms, 1000);
    assert_int_equal(cls->reserve_percent, 0);
    assert_false(cls->is_sheddable); /* nothing below it to favour */
    assert_int_equal(cls->shed.status, 503);
    assert_int_equal(cls->shed.header_count, 0);
    assert_int_equal(cls->shed.body.len, 0);
    assert_false(cls->shed.is_refuse_stream);
    assert_ptr_equal(cfg->default_class, cls);
    assert_int_equal(cfg->class_policies[0].max_queue_ns, 1000000000);
    assert_int_equal(cfg->class_policies[0].reserve_percent, 0);
    assert_int_equal(cfg->class_policies[0].shed_rank, 0);
    assert_int_equal(cfg->shed_levels, 0);

    assert_int_equal(cfg->budget_header.len, 0);
    assert_string_equal(cfg->forward_budget_header.text, "x-sluice-budget-ms");
    assert_int_equal(cfg->forward_budget_header.len, 18);
    assert_false(cfg->decision_header);
    assert_int_equal(cfg->overload.max_loop_lag_ms, 100);
    assert_int_equal(cfg->overload.max_connections, 0);
    assert_int_equal(cfg->overload.max_streams, 0);
    assert_int_equal(cfg->overload.recover_percent, 80);
    assert_int_equal(cfg->overload.step_ms, 500);
    assert_ptr_equal(cfg->default_backend, &cfg->backends[0]);
}

/* A rule with no matcher, as the catch-all is. */
static void assert_matches_everything(const struct sl_rule *r)
{
    assert_int_equal(r->method_count + r->path_count + r->path_prefix_count + r->authority_count +
                         r->header_count + r->client_count + r->listener_count,
                     0);
    assert_null(r->path_pattern);
}

static void test_defaults(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL);
    assert_defaults(cfg);
    assert_int_equal(cfg->listener_count, 1);
    assert_string_equal(cfg->listeners[0].addr.text, "127.0.0.1:8080");
    assert_null(cfg->listeners[0].tls_key);
    assert_int_equal(cfg->backend_count, 1);
    assert_string_equal(cfg->backends[0].name, "demo");
    assert_int_equal(cfg->backends[0].server_count, 1);
    assert_string_equal(cfg->backends[0].servers[0].text, "unix:/tmp/sluice-demo.sock");
    assert_int_equal(cfg->backends[0].max_inflight, 128);
    /* no rules: only the catch-all, with the defaults */
    assert_int_equal(cfg->rule_count, 1);
    assert_matches_everything(&cfg->rules[0]);
    assert_int_equal(cfg->rules[0].class_index, 0);
    assert_int_equal(cfg->rules[0].backend_index, 0);
    assert_null(cfg->patterns);
    sl_config_free(cfg);
}

static void test_empty_rules_and_limits(void **state)
{
    /* the ends of every range are accepted; "rules:" with nothing is no rules */
    struct sl_config *cfg = load_ok("drain_timeout_ms: 0\n"
                                    "max_concurrent_streams: 65535\n"
                                    "stream_window_bytes: 16384\n"
                                    "response_buffer_bytes: 16777216\n"
                                    "max_request_header_bytes: 1024\n"
                                    "log_level: error\n" MINIMAL "    connect_timeout_ms: 600000\n"
                                    "    response_timeout_ms: 1\n"
                                    "    max_connections: 65535\n"
                                    "    keepalive_idle_timeout_ms: 3600000\n"
                                    "    limiter: adaptive\n"
                                    "    max_inflight: 1000000\n"
                                    "    min_inflight: 1000000\n"
                                    "    queue_size: 0\n"
                                    "    queue_target_ms: 60000\n"
                                    "    queue_interval_ms: 1\n"
                                    "  - name: other\n"
                                    "    servers: [127.0.0.1:9000]\n"
                                    "    max_inflight: 1\n"
                                    "    queue_size: 1000000\n"
                                    "    queue_target_ms: 1\n"
                                    "    queue_interval_ms: 60000\n"
                                    "rules:\n");
    assert_int_equal(cfg->log_level, SL_LOG_ERROR);
    assert_int_equal(cfg->drain_timeout_ms, 0);
    assert_int_equal(cfg->max_concurrent_streams, 65535);
    assert_int_equal(cfg->stream_window_bytes, 16384);
    assert_int_equal(cfg->response_buffer_bytes, 16777216);
    assert_int_equal(cfg->max_request_header_bytes, 1024);
    const struct sl_backend_config *b = &cfg->backends[0];
    assert_int_equal(b->connect_timeout_ms, 600000);
    assert_int_equal(b->response_timeout_ms, 1);
    assert_int_equal(b->max_connections, 65535);
    assert_int_equal(b->keepalive_idle_timeout_ms, 3600000);
    assert_int_equal(b->limiter, SL_LIMITER_ADAPTIVE);
    assert_int_equal(b->max_inflight, 1000000);
    assert_int_equal(b->min_inflight, 1000000);
    assert_int_equal(b->queue_size, 0);
    assert_int_equal(b->queue_target_ms, 60000);
    assert_int_equal(b->queue_interval_ms, 1);
    b = &cfg->backends[1];
    assert_int_equal(b->limiter, SL_LIMITER_STATIC);
    assert_int_equal(b->max_inflight, 1);
    assert_int_equal(b->min_inflight, 1);
    assert_int_equal(b->queue_size, 1000000);
    assert_int_equal(b->queue_target_ms, 1);
    assert_int_equal(b->queue_interval_ms, 60000);
    assert_int_equal(cfg->rule_count, 1);
    assert_matches_everything(&cfg->rules[0]);
    sl_config_free(cfg);
}

static void test_flow_style_and_quoting(void **state)
{
    struct sl_config *cfg =
        load_ok("{listeners: [{address: '0.0.0.0:80'}],\n"
                " backends: [{name: \"a\", servers: [\"127.0.0.1:81\"], max_connections: '7'}],\n"
                " rules: [{path_prefix: '/x', backend: a}],\n"
                " log_level: WARN}\n");
    assert_int_equal(cfg->log_level, SL_LOG_WARN);
    assert_string_equal(cfg->listeners[0].addr.text, "0.0.0.0:80");
    assert_int_equal(cfg->backends[0].max_connections, 7);
    assert_int_equal(cfg->backends[0].max_inflight, 7);
    assert_int_equal(cfg->rule_count, 2);
    assert_string_equal(cfg->rules[0].path_prefixes[0].text, "/x");
    sl_config_free(cfg);
}

/* An h2c connection carries many streams: the default limit counts 100 each. */
static void test_h2c_default_inflight_counts_streams(void **state)
{
    struct sl_config *cfg =
        load_ok("{listeners: [{address: '0.0.0.0:80'}],\n"
                " backends: [{name: a, servers: ['127.0.0.1:81', '127.0.0.1:82'],\n"
                "             protocol: h2c, max_connections: 3}]}\n");
    assert_int_equal(cfg->backends[0].protocol, SL_BACKEND_H2C);
    assert_int_equal(cfg->backends[0].max_inflight, 600);
    sl_config_free(cfg);
}

/* ---- events ---- */

static void test_events_off_unless_present(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL);
    assert_false(cfg->events.is_on);
    sl_config_free(cfg);
}

static void test_events_defaults_depend_on_the_address(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL "events:\n"
                                            "  address: udp:127.0.0.1:8125\n");
    assert_true(cfg->events.is_on);
    assert_string_equal(cfg->events.address.text, "127.0.0.1:8125");
    assert_string_equal(cfg->events.prefix.text, "sluice");
    assert_int_equal(cfg->events.flush_interval_ms, 1000);
    assert_int_equal(cfg->events.max_packet_bytes, 1432);
    assert_false(cfg->events.is_dogstatsd);
    assert_int_equal(cfg->events.tag_count, 0);
    sl_config_free(cfg);
    cfg = load_ok(MINIMAL "events:\n"
                          "  address: unix:/run/statsd.sock\n"
                          "  prefix: rtb.edge-1\n"
                          "  dogstatsd: true\n"
                          "  flush_interval_ms: 250\n"
                          "  tags: {env: prod, dc: ams}\n");
    assert_true(sl_addr_is_unix(&cfg->events.address));
    assert_int_equal(cfg->events.max_packet_bytes, 8192);
    assert_string_equal(cfg->events.prefix.text, "rtb.edge-1");
    assert_true(cfg->events.is_dogstatsd);
    assert_int_equal(cfg->events.flush_interval_ms, 250);
    assert_int_equal(cfg->events.tag_count, 2);
    assert_string_equal(cfg->events.tags[1].name.text, "dc");
    assert_string_equal(cfg->events.tags[1].value.text, "ams");
    sl_config_free(cfg);
}

static void test_events_errors(void **state)
{
    assert_load_error(MINIMAL "events:\n"
                              "  prefix: x\n",
                      7, "events is missing required key 'address'");
    assert_load_error(MINIMAL "events:\n"
                              "  address: 127.0.0.1:8125\n",
                      7, "events address must be udp:IP:port or unix:/path, got '127.0.0.1:8125'");
    assert_load_error(MINIMAL "events:\n"
                              "  address: udp:localhost:8125\n",
                      7,
                      "events address 'udp:localhost:8125' is not valid: 'localhost' is not an "
                      "IP address; use an IP address (e.g. 127.0.0.1:8080 or [::1]:8080) or "
                      "unix:/path");
    assert_load_error(MINIMAL "events:\n"
                              "  address: udp:127.0.0.1:8125\n"
                              "  prefix: a:b\n",
                      8, "events prefix must be made of A-Z a-z 0-9 _ . -, got 'a:b'");
    assert_load_error(MINIMAL "events:\n"
                              "  address: udp:127.0.0.1:8125\n"
                              "  max_packet_bytes: 100\n",
                      8, "events max_packet_bytes must be at least 512, got 100");
    assert_load_error(MINIMAL "events:\n"
                              "  address: udp:127.0.0.1:8125\n"
                              "  tags: {env: \"a,b\"}\n",
                      8,
                      "events tag value must be 1 to 200 printable characters without "
                      "spaces or any of : | @ , #, got 'a,b'");
}

static void test_access_log_keys(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL);
    assert_false(cfg->access_log.is_on);
    sl_config_free(cfg);
    cfg = load_ok(MINIMAL "access_log:\n"
                          "  path: /var/log/sluice/access.log\n");
    assert_true(cfg->access_log.is_on);
    assert_string_equal(cfg->access_log.path, "/var/log/sluice/access.log");
    assert_int_equal(cfg->access_log.sample, 1);
    assert_false(cfg->access_log.always_log_shed);
    assert_int_equal(cfg->access_log.buffer_bytes, 262144);
    assert_int_equal(cfg->access_log.flush_interval_ms, 1000);
    sl_config_free(cfg);
    cfg = load_ok(MINIMAL "access_log: {path: stderr, sample: 100, always_log_shed: true}\n");
    assert_null(cfg->access_log.path);
    assert_int_equal(cfg->access_log.sample, 100);
    assert_true(cfg->access_log.always_log_shed);
    sl_config_free(cfg);
    assert_load_error(MINIMAL "access_log:\n"
                              "  path: logs/access.log\n",
                      7,
                      "access_log path must be stderr or an absolute file path, got "
                      "'logs/access.log'");
    assert_load_error(MINIMAL "access_log:\n"
                              "  path: stderr\n"
                              "  buffer_bytes: 4096\n",
                      8, "buffer_bytes must be between 32768 and 16777216, got 4096");
}

/* ---- rules: routing by path ---- */

static const struct sl_rule *match_path(const struct sl_config *cfg, const char *path, size_t len)
{
    struct sl_rule_input in = {.method = "GET", .method_len = 3, .path = path, .path_len = len};
    const struct sl_rule *rule = sl_config_match(cfg, &in);
    assert_non_null(rule);
    assert_true(rule >= cfg->rules && rule < cfg->rules + cfg->rule_count);
    return rule;
}

static const struct sl_backend_config *backend_of(const struct sl_config *cfg, const char *path,
                                                  size_t len)
{
    return &cfg->backends[match_path(cfg, path, len)->backend_index];
}

static void test_rule_first_match_and_default(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL "  - name: v2\n"
                                            "    servers: [127.0.0.1:9002]\n"
                                            "  - name: bid\n"
                                            "    servers: [127.0.0.1:9003]\n"
                                            "  - name: fallback\n"
                                            "    servers: [127.0.0.1:9004]\n"
                                            "rules:\n"
                                            "  - path_prefix: /bid/v2\n"
                                            "    backend: v2\n"
                                            "  - path_prefix: /bid\n"
                                            "    backend: bid\n"
                                            "  - path_prefix: /track\n"
                                            "    backend: demo\n"
                                            "default_backend: fallback\n");
    const struct sl_backend_config *demo = &cfg->backends[0], *v2 = &cfg->backends[1],
                                   *bid = &cfg->backends[2], *fallback = &cfg->backends[3];
    struct {
        const char *path;
        size_t len;
        const struct sl_backend_config *want;
    } cases[] = {
        {"/bid/v2/openrtb", 15, v2},
        {"/bid/v2", 7, v2},
        {"/bid/v", 6, bid}, /* matches /bid but not /bid/v2 */
        {"/bid", 4, bid},
        {"/bidder", 7, bid}, /* byte prefix, not path segments */
        {"/bid/v2", 4, bid}, /* only path_len bytes count */
        {"/bi", 3, fallback},
        {"/track?x=1", 10, demo},
        {"/tr?ack", 7, fallback}, /* the query is not part of the path */
        {"/TRACK", 6, fallback},  /* case matters */
        {"/", 1, fallback},
        {"", 0, fallback},
        {NULL, 0, fallback}, /* no :path at all */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_ptr_equal(backend_of(cfg, cases[i].path, cases[i].len), cases[i].want);
    /* the catch-all is the last rule */
    assert_int_equal(cfg->rule_count, 4);
    assert_ptr_equal(match_path(cfg, "/", 1), &cfg->rules[3]);
    assert_matches_everything(&cfg->rules[3]);
    sl_config_free(cfg);
}

static void test_rule_catch_all_and_first_backend(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL "  - name: other\n"
                                            "    servers: [127.0.0.1:9002]\n"
                                            "rules:\n"
                                            "  - path_prefix: /x\n"
                                            "    backend: other\n"
                                            "  - path_prefix: /\n"
                                            "    backend: other\n"
                                            "  - method: OPTIONS\n" /* no path: not hidden by / */
                                            "    backend: demo\n");
    /* without default_backend, requests no rule matches go to the first backend */
    assert_ptr_equal(cfg->default_backend, &cfg->backends[0]);
    assert_ptr_equal(backend_of(cfg, "/anything", 9), &cfg->backends[1]);
    assert_ptr_equal(backend_of(cfg, "*", 1), &cfg->backends[0]);
    assert_ptr_equal(match_path(cfg, "*", 1), &cfg->rules[3]);
    sl_config_free(cfg);
}

static void test_error_cannot_open(void **state)
{
    struct sl_config *cfg = NULL;
    char err[512], expected[512];
    char path[160];
    snprintf(path, sizeof(path), "%s/missing.yaml", cfg_dir);
    assert_int_equal(sl_config_load(path, &cfg, err, sizeof(err)), -1);
    snprintf(expected, sizeof(expected), "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, expected);
    assert_null(cfg);

    assert_int_equal(sl_config_load(cfg_dir, &cfg, err, sizeof(err)), -1);
    snprintf(expected, sizeof(expected), "%s: cannot read: Is a directory", cfg_dir);
    assert_string_equal(err, expected);
}

static void test_error_yaml_syntax(void **state)
{
    assert_load_error("listeners\n"
                      "  - address: 127.0.0.1:8080\n",
                      2, "YAML syntax error: mapping values are not allowed in this context");
    assert_load_error(MINIMAL "rules: [{path_prefix: /, backend: demo}\n", 6,
                      "YAML syntax error: did not find expected ',' or ']' (while parsing a "
                      "flow sequence at line 6)");
    assert_load_error("listeners:\n"
                      "\t- address: 127.0.0.1:8080\n",
                      2,
                      "YAML syntax error: found character that cannot start any token (while "
                      "scanning for the next token at line 2); YAML indents with spaces, not "
                      "tabs");
    assert_load_error("listeners:\n"
                      "  - address: [::1]:8080\n",
                      2,
                      "YAML syntax error: did not find expected node content (while parsing a "
                      "flow node at line 2); an IPv6 address must be quoted, e.g. "
                      "\"[::1]:8080\"");
    assert_load_error("log_level: info\n"
                      "drain_timeout_ms: \xff\n",
                      2, "YAML syntax error: invalid leading UTF-8 octet");
}

static void test_error_empty_and_not_a_mapping(void **state)
{
    assert_load_error("", 1,
                      "the file holds no settings; it needs at least listeners and "
                      "backends");
    assert_load_error("# only a comment\n", 1,
                      "the file holds no settings; it needs at least listeners and backends");
    assert_load_error("- listeners\n", 1,
                      "the config must be a mapping of keys to values, got a sequence");
    assert_load_error(MINIMAL "---\n" MINIMAL, 6,
                      "a second YAML document starts here; put all settings in one");
}

static void test_error_anchors_and_aliases(void **state)
{
    assert_load_error("listeners:\n"
                      "  - address: &a 127.0.0.1:8080\n",
                      2, "anchors (&a) are not supported; write the value out in full");
    assert_load_error("listeners:\n"
                      "  - address: *a\n",
                      2, "aliases (*a) are not supported; write the value out in full");
}

static void test_error_unknown_key(void **state)
{
    assert_load_error("listeners:\n"
                      "  - adress: 127.0.0.1:8080\n",
                      2, "unknown key 'adress' in listener (expected: name, address, tls)");
    assert_load_error(MINIMAL "log-level: debug\n", 6,
                      "unknown key 'log-level' in the config (expected: " TOP_KEYS ")");
    assert_load_error(
        MINIMAL "    timeout_ms: 5\n", 6,
        "unknown key 'timeout_ms' in backend (expected: name, servers, "
        "protocol, connect_timeout_ms, response_timeout_ms, max_connections, "
        "keepalive_idle_timeout_ms, eject_after_failures, eject_ms, health_check_path, "
        "health_check_interval_ms, retry_non_idempotent, limiter, "
        "max_inflight, min_inflight, limiter_tolerance_percent, limiter_probe_interval_ms, "
        "queue_size, queue_target_ms, queue_interval_ms)");
    assert_load_error(MINIMAL "    protocol: h2\n", 6,
                      "protocol must be http/1.1 or h2c, got 'h2'");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "    tls: {cert: a.pem}\n",
                      3, "unknown key 'cert' in tls (expected: certificate, key)");
    /* the routes of older versions */
    assert_load_error(MINIMAL "routes:\n"
                              "  - {prefix: /, backend: demo}\n",
                      6, "unknown key 'routes' in the config (expected: " TOP_KEYS ")");
    assert_load_error(MINIMAL "rules:\n"
                              "  - prefix: /\n",
                      7,
                      "unknown key 'prefix' in rule (expected: method, path, path_prefix, "
                      "path_regex, authority, headers, client, listener, class, backend)");
    assert_load_error(MINIMAL "[a]: 1\n", 6,
                      "a key in the config must be a word, got a sequence (expected: " TOP_KEYS
                      ")");
}

static void test_error_duplicate_key(void **state)
{
    assert_load_error("drain_timeout_ms: 5\n" MINIMAL "drain_timeout_ms: 6\n", 7,
                      "duplicate key 'drain_timeout_ms' in the config (first set at line 1)");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "    address: 127.0.0.1:8081\n",
                      3, "duplicate key 'address' in listener (first set at line 2)");
    assert_load_error(MINIMAL "    servers: unix:/tmp/b.sock\n", 6,
                      "duplicate key 'servers' in backend (first set at line 5)");
}

static void test_error_wrong_type(void **state)
{
    assert_load_error(MINIMAL "drain_timeout_ms: ten\n", 6,
                      "drain_timeout_ms must be a whole number, got 'ten'");
    assert_load_error(MINIMAL "drain_timeout_ms: -1\n", 6,
                      "drain_timeout_ms must be a whole number, got '-1'");
    assert_load_error(MINIMAL "drain_timeout_ms: 1.5\n", 6,
                      "drain_timeout_ms must be a whole number, got '1.5'");
    assert_load_error(MINIMAL "drain_timeout_ms: 0x10\n", 6,
                      "drain_timeout_ms must be a whole number, got '0x10'");
    assert_load_error(MINIMAL "drain_timeout_ms: \"\"\n", 6,
                      "drain_timeout_ms must be a whole number, got ''");
    assert_load_error(MINIMAL "drain_timeout_ms:\n", 6,
                      "drain_timeout_ms must be a whole number, got an empty value");
    assert_load_error(MINIMAL "drain_timeout_ms: [1]\n", 6,
                      "drain_timeout_ms must be a whole number, got a sequence");
    assert_load_error(MINIMAL "    max_connections: {n: 1}\n", 6,
                      "max_connections must be a whole number, got a mapping");
    assert_load_error(MINIMAL "default_backend: [demo]\n", 6,
                      "default_backend must be a backend name, got a sequence");
    assert_load_error(MINIMAL "rules: /bid\n", 6,
                      "rules must be a sequence of mappings, got '/bid'");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_prefix: {a: b}\n",
                      7,
                      "path_prefix must be a path starting with '/' or a sequence of them, "
                      "got a mapping");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_prefix: []\n",
                      7,
                      "path_prefix must be a path starting with '/' or a sequence of them, "
                      "got a sequence");
    assert_load_error("listeners: 127.0.0.1:8080\n", 1,
                      "listeners must be a sequence of mappings, got '127.0.0.1:8080'");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "backends:\n"
                      "  - name: demo\n"
                      "    servers: unix:/tmp/b.sock\n",
                      5, "servers must be a sequence of addresses, got 'unix:/tmp/b.sock'");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "backends:\n"
                      "  - name: demo\n"
                      "    servers: [[unix:/tmp/b.sock]]\n",
                      5,
                      "servers entry must be an address (IP:port, [IPv6]:port or unix:/path), "
                      "got a sequence");
    /* a long value is shortened and control characters are not echoed */
    assert_load_error(MINIMAL "drain_timeout_ms: \"a\\tb"
                              "cdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"
                              "mnopqrstuvwxyz\"\n",
                      6,
                      "drain_timeout_ms must be a whole number, got 'a?bcdefghijklmnopqrstuvwxyz"
                      "abcdefghijklmnopqrstuvwxyzabcdefghijk...'");
}

static void test_error_sequence_for_mapping(void **state)
{
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8443\n"
                      "    tls: [cert.pem, key.pem]\n",
                      3, "tls must be a mapping, got a sequence");
    assert_load_error("listeners:\n"
                      "  - [address, 127.0.0.1:8080]\n",
                      2, "each listeners entry must be a mapping, got a sequence");
    assert_load_error("listeners:\n"
                      "  - 127.0.0.1:8080\n",
                      2, "each listeners entry must be a mapping, got '127.0.0.1:8080'");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8443\n"
                      "    tls:\n",
                      3, "tls must be a mapping, got an empty value");
}

static void test_error_range(void **state)
{
    assert_load_error(MINIMAL "    limiter_tolerance_percent: 99\n", 6,
                      "limiter_tolerance_percent must be between 100 and 1000, got 99");
    assert_load_error(MINIMAL "    limiter_probe_interval_ms: 999\n", 6,
                      "limiter_probe_interval_ms must be between 1000 and 86400000, got 999");
    assert_load_error(MINIMAL "    max_connections: 0\n", 6,
                      "max_connections must be between 1 and 65535, got 0");
    assert_load_error(MINIMAL "    max_connections: 65536\n", 6,
                      "max_connections must be between 1 and 65535, got 65536");
    assert_load_error(MINIMAL "    connect_timeout_ms: 600001\n", 6,
                      "connect_timeout_ms must be between 1 and 600000, got 600001");
    assert_load_error(MINIMAL "    response_timeout_ms: 0\n", 6,
                      "response_timeout_ms must be between 1 and 3600000, got 0");
    assert_load_error(MINIMAL "    keepalive_idle_timeout_ms: 3600001\n", 6,
                      "keepalive_idle_timeout_ms must be between 0 and 3600000, got 3600001");
    assert_load_error(MINIMAL "drain_timeout_ms: 3600001\n", 6,
                      "drain_timeout_ms must be between 0 and 3600000, got 3600001");
    assert_load_error(MINIMAL "client_idle_timeout_ms: 99\n", 6,
                      "client_idle_timeout_ms must be between 100 and 3600000, got 99");
    assert_load_error(MINIMAL "max_concurrent_streams: 0\n", 6,
                      "max_concurrent_streams must be between 1 and 65535, got 0");
    assert_load_error(MINIMAL "stream_window_bytes: 16383\n", 6,
                      "stream_window_bytes must be between 16384 and 16777216, got 16383");
    assert_load_error(MINIMAL "response_buffer_bytes: 4095\n", 6,
                      "response_buffer_bytes must be between 4096 and 16777216, got 4095");
    assert_load_error(MINIMAL "max_request_header_bytes: 1048577\n", 6,
                      "max_request_header_bytes must be between 1024 and 1048576, got 1048577");
    /* far past uint64: refused as out of range, never wrapped around */
    assert_load_error(MINIMAL "drain_timeout_ms: 184467440737095516160000000000\n", 6,
                      "drain_timeout_ms must be between 0 and 3600000, got "
                      "184467440737095516160000000000");
    assert_load_error(MINIMAL "drain_timeout_ms: 4294967296\n", 6,
                      "drain_timeout_ms must be between 0 and 3600000, got 4294967296");
}

static void test_error_missing_key(void **state)
{
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "backends:\n"
                      "  - name: demo\n"
                      "    max_connections: 4\n",
                      4, "backend is missing required key 'servers'");
    assert_load_error("backends:\n"
                      "  - name: demo\n"
                      "    servers: [unix:/tmp/sluice-demo.sock]\n",
                      1, "the config is missing required key 'listeners'");
    assert_load_error("# comment first\n"
                      "listeners:\n"
                      "  - address: 127.0.0.1:8080\n",
                      2, "the config is missing required key 'backends'");
    assert_load_error("listeners:\n"
                      "  - tls: {certificate: cert.pem, key: key.pem}\n",
                      2, "listener is missing required key 'address'");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8443\n"
                      "    tls:\n"
                      "      certificate: cert.pem\n",
                      4, "tls is missing required key 'key'");
}

static void test_error_empty_lists(void **state)
{
    assert_load_error("listeners: []\n"
                      "backends:\n"
                      "  - {name: demo, servers: [unix:/tmp/a.sock]}\n",
                      1, "listeners must have at least 1 entry");
    assert_load_error("listeners:\n"
                      "backends:\n"
                      "  - {name: demo, servers: [unix:/tmp/a.sock]}\n",
                      1, "listeners must have at least 1 entry");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "backends: []\n",
                      3, "backends must have at least 1 entry");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "backends:\n"
                      "  - name: demo\n"
                      "    servers: []\n",
                      5, "servers must list at least 1 address");
}

static void test_error_dangling_backend(void **state)
{
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_prefix: /bid\n"
                              "    backend: bidders\n",
                      8, "rule backend 'bidders' is not defined (defined: demo)");
    assert_load_error(MINIMAL "  - name: b2\n"
                              "    servers: [127.0.0.1:1]\n"
                              "default_backend: Demo\n",
                      8, "default_backend 'Demo' is not defined (defined: demo, b2)");
}

static void test_error_duplicate_backend_name(void **state)
{
    assert_load_error(MINIMAL "  - name: demo\n"
                              "    servers: [127.0.0.1:9000]\n",
                      6, "duplicate backend name 'demo' (first defined at line 4)");
}

static void test_health_check_keys(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL);
    assert_int_equal(cfg->backends[0].health_check_path.len, 0);
    assert_int_equal(cfg->backends[0].health_check_interval_ms, 1000);
    sl_config_free(cfg);
    cfg = load_ok(MINIMAL "    health_check_path: /healthz?deep=1\n"
                          "    health_check_interval_ms: 250\n");
    assert_string_equal(cfg->backends[0].health_check_path.text, "/healthz?deep=1");
    assert_int_equal(cfg->backends[0].health_check_interval_ms, 250);
    sl_config_free(cfg);
    const char *why =
        "health_check_path must start with '/' and hold no space or control character";
    assert_load_error(MINIMAL "    health_check_path: healthz\n", 6, why);
    assert_load_error(MINIMAL "    health_check_path: \"/a b\"\n", 6, why);
    assert_load_error(MINIMAL "    health_check_path: \"/a\\r\\nX: y\"\n", 6, why);
    assert_load_error(MINIMAL "    health_check_interval_ms: 99\n", 6,
                      "health_check_interval_ms must be between 100 and 3600000, got 99");
}

static void test_error_bad_names_and_prefixes(void **state)
{
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "backends:\n"
                      "  - name: my backend\n"
                      "    servers: [unix:/tmp/a.sock]\n",
                      4,
                      "backend name must be 1 to 64 characters from A-Z a-z 0-9 _ . -, got "
                      "'my backend'");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "backends:\n"
                      "  - name: ''\n"
                      "    servers: [unix:/tmp/a.sock]\n",
                      4, "backend name must be 1 to 64 characters from A-Z a-z 0-9 _ . -, got ''");
    assert_load_error(
        "listeners:\n"
        "  - address: 127.0.0.1:8080\n"
        "backends:\n"
        "  - name: a123456789a123456789a123456789a123456789a123456789a123456789abcde\n"
        "    servers: [unix:/tmp/a.sock]\n",
        4,
        "backend name must be 1 to 64 characters from A-Z a-z 0-9 _ . -, got "
        "'a123456789a123456789a123456789a123456789a123456789a123456789abcd...'");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_prefix: bid\n"
                              "    backend: demo\n",
                      7, "path_prefix must start with '/', got 'bid'");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_prefix: [/a, b]\n",
                      7, "path_prefix must start with '/', got 'b'");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path:\n"
                              "      - /a\n"
                              "      - \"\"\n",
                      9, "path must be a path starting with '/' or a sequence of them, got ''");
    assert_load_error(MINIMAL "rules:\n"
                              "  - path_prefix: \"/a\\0b\"\n"
                              "    backend: demo\n",
                      7, "path_prefix must not contain a NUL character");
}

static void test_error_bad_address(void **state)
{
    assert_load_error("listeners:\n"
                      "  - address: localhost:80\n",
                      2,
                      "listener address 'localhost:80' is not valid: 'localhost' is not an IP "
                      "address; use an IP address (e.g. 127.0.0.1:8080 or [::1]:8080) or "
                      "unix:/path");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "backends:\n"
                      "  - name: demo\n"
                      "    servers:\n"
                      "      - 127.0.0.1:9000\n"
                      "      - 127.0.0.1:99999\n",
                      7,
                      "servers entry '127.0.0.1:99999' is not valid: port 99999 is out of range "
                      "(1-65535)");
    assert_load_error("listeners:\n"
                      "  - address: unix:sluice.sock\n",
                      2,
                      "listener address 'unix:sluice.sock' is not valid: unix socket path "
                      "'sluice.sock' must be absolute (start with '/'), e.g. unix:/run/app.sock");
    /* 120 bytes of path: too long; the value is quoted back shortened */
    char yaml[256], reason[256];
    snprintf(yaml, sizeof(yaml), "listeners:\n  - address: unix:/%0119d\n", 0);
    snprintf(reason, sizeof(reason),
             "listener address 'unix:/%058d...' is not valid: unix socket path is 120 bytes "
             "long; at most 107 bytes fit",
             0);
    assert_load_error(yaml, 2, reason);
    assert_load_error("listeners:\n"
                      "  - address:\n",
                      2,
                      "listener address must be an address (IP:port, [IPv6]:port or "
                      "unix:/path), got an empty value");
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8080\n"
                      "  - address: 127.0.0.1:08080\n",
                      3,
                      "listener address '127.0.0.1:08080' is already used by the listener at "
                      "line 2");
}

static void test_error_tls_file(void **state)
{
    char yaml[512], reason[512];
    snprintf(reason, sizeof(reason),
             "tls certificate '%s/missing.pem' cannot be read: No such file or directory", cfg_dir);
    assert_load_error("listeners:\n"
                      "  - address: 127.0.0.1:8443\n"
                      "    tls:\n"
                      "      certificate: missing.pem\n"
                      "      key: key.pem\n",
                      4, reason);
    snprintf(yaml, sizeof(yaml),
             "listeners:\n"
             "  - address: 127.0.0.1:8443\n"
             "    tls:\n"
             "      certificate: %s\n"
             "      key: /nonexistent/key.pem\n",
             cert_path);
    assert_load_error(yaml, 5,
                      "tls key '/nonexistent/key.pem' cannot be read: No such file or directory");
}

static void test_error_log_level(void **state)
{
    assert_load_error("log_level: verbose\n" MINIMAL, 1,
                      "log_level must be one of error, warn, info, debug, got 'verbose'");
    assert_load_error("log_level: 3\n" MINIMAL, 1,
                      "log_level must be one of error, warn, info, debug, got '3'");
}

static void test_error_nesting(void **state)
{
    char yaml[256] = MINIMAL "rules: ";
    size_t at = strlen(yaml);
    for (int i = 0; i < 40; i++)
        yaml[at++] = '[';
    for (int i = 0; i < 40; i++)
        yaml[at++] = ']';
    yaml[at] = '\0';
    assert_load_error(yaml, 6, "values are nested more than 32 levels deep");
}

static void test_error_message_truncated(void **state)
{
    struct sl_config *cfg = NULL;
    char err[16];
    memset(err, 'x', sizeof(err));
    assert_int_equal(load("log_level: nope\n", &cfg, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_memory_equal(err, cfg_path, sizeof(err) - 1);
    assert_int_equal(load("log_level: nope\n", &cfg, NULL, 0), -1);
    assert_null(cfg);
}

/* ---- the files shipped in conf/ ---- */

static void test_shipped_default_config(void **state)
{
#ifdef SL_SOURCE_DIR
    struct sl_config *cfg = NULL;
    char err[512] = "";
    int rc = sl_config_load(SL_SOURCE_DIR "/conf/sluice.yaml", &cfg, err, sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    /* the annotated file spells out every default; they must be the loader's */
    assert_defaults(cfg);
    assert_int_equal(cfg->listener_count, 1);
    assert_string_equal(cfg->listeners[0].addr.text, "127.0.0.1:8080");
    assert_int_equal(cfg->backend_count, 1);
    assert_string_equal(cfg->backends[0].name, "demo");
    assert_int_equal(cfg->backends[0].server_count, 1);
    assert_string_equal(cfg->backends[0].servers[0].text, "unix:/tmp/sluice-demo.sock");
    assert_int_equal(cfg->rule_count, 2);
    assert_int_equal(cfg->rules[0].path_prefix_count, 1);
    assert_string_equal(cfg->rules[0].path_prefixes[0].text, "/");
    assert_int_equal(cfg->rules[0].backend_index, 0);
    assert_int_equal(cfg->rules[0].class_index, 0);
    assert_ptr_equal(cfg->default_backend, &cfg->backends[0]);
    sl_config_free(cfg);
#else
    skip();
#endif
}

static void test_shipped_multi_backend_example(void **state)
{
#ifdef SL_SOURCE_DIR
    struct sl_config *cfg = NULL;
    char err[512] = "";
    int rc =
        sl_config_load(SL_SOURCE_DIR "/conf/examples/multi-backend.yaml", &cfg, err, sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->backend_count, 2);
    assert_string_equal(cfg->backends[0].name, "bidders");
    assert_string_equal(cfg->backends[1].name, "analytics");
    assert_ptr_equal(backend_of(cfg, "/bid/openrtb", 12), &cfg->backends[0]);
    assert_ptr_equal(backend_of(cfg, "/track/imp", 10), &cfg->backends[1]);
    assert_ptr_equal(backend_of(cfg, "/other", 6), &cfg->backends[0]);
    sl_config_free(cfg);
#else
    skip();
#endif
}

/* ---- failing allocations ----
 * Linked with -Wl,--wrap=malloc, every malloc of the loader and the arena
 * (libyaml's own are not wrapped) can be made to fail in turn; without the
 * flag __real_malloc stays NULL and the test is skipped. */

void *__real_malloc(size_t size) __attribute__((weak));
void *__wrap_malloc(size_t size);

static long malloc_fail_at = -1; /* fail the n-th malloc from now; -1: never */

void *__wrap_malloc(size_t size)
{
    if (malloc_fail_at >= 0 && malloc_fail_at-- == 0)
        return NULL;
    return __real_malloc(size);
}

static void test_failing_allocations(void **state)
{
    if (__real_malloc == NULL)
        skip();
    /* every kind of allocation the loader makes: classes and their shed
     * answers, each matcher of a rule, compiled patterns (malloc'ed by
     * sl_pattern_compile, not the arena) */
    char yaml[16384];
    size_t at = (size_t)snprintf(
        yaml, sizeof(yaml),
        "listeners:\n"
        "  - {address: 127.0.0.1:8080, name: public}\n"
        "  - {address: 127.0.0.1:8081, name: internal}\n"
        "backends:\n"
        "  - name: demo\n"
        "    servers: [unix:/tmp/sluice-demo.sock, 127.0.0.1:9000]\n"
        "    limiter: adaptive\n"
        "classes:\n"
        "  - name: critical\n"
        "    sheddable: false\n"
        "    shed: {status: 204, headers: {X-Reason: overload, Retry-After: '1'}}\n"
        "  - name: bulk\n"
        "    shed: {body: \"try later\\n\"}\n"
        "default_class: bulk\n"
        "budget_header: X-Request-Timeout-Ms\n"
        "forward_budget_header: X-Budget\n"
        "rules:\n"
        "  - method: [POST, PUT]\n"
        "    path: [/openrtb, /openrtb2]\n"
        "    authority: bid.example.com\n"
        "    headers:\n"
        "      - {name: X-Priority, equals: high}\n"
        "      - {name: User-Agent, matches: '^curl/[0-9.]+$'}\n"
        "      - {name: X-Debug, absent: true}\n"
        "    client: [10.0.0.0/8, \"2001:db8::/32\"]\n"
        "    listener: [public, internal]\n"
        "    class: critical\n"
        "  - path_regex: '^/v[0-9]+/(bid|win)$'\n"
        "    class: critical\n");
    /* enough rules and a long file that the arena and the read buffer grow */
    for (int i = 0; i < 100 && at < sizeof(yaml) - 128; i++) {
        at +=
            (size_t)snprintf(yaml + at, sizeof(yaml) - at,
                             i % 10 == 0 ? "  - {path_prefix: /rule-number-%02d, path_regex: "
                                           "'^/[a-z-]+[0-9]*$', backend: demo}\n"
                                         : "  - {path_prefix: /rule-number-%02d, backend: demo}\n",
                             i);
    }
    char expected[512];
    snprintf(expected, sizeof(expected), "%s: out of memory while loading the config", cfg_path);
    write_file(cfg_path, yaml);
    int failures = 0;
    for (long n = 0;; n++) {
        struct sl_config *cfg = NULL;
        char err[512] = "";
        malloc_fail_at = n;
        int rc = sl_config_load(cfg_path, &cfg, err, sizeof(err));
        malloc_fail_at = -1;
        if (rc == 0) {
            assert_int_equal(cfg->rule_count, 103);
            assert_int_equal(cfg->class_count, 2);
            assert_int_equal(cfg->classes[0].shed.header_count, 2);
            assert_non_null(cfg->rules[0].headers[1].pattern);
            assert_non_null(cfg->rules[1].path_pattern);
            assert_non_null(cfg->rules[92].path_pattern);
            assert_null(cfg->rules[93].path_pattern);
            sl_config_free(cfg);
            break;
        }
        assert_int_equal(rc, -1);
        assert_null(cfg);
        assert_string_equal(err, expected);
        failures++;
    }
    /* file buffer (twice), two arenas, arena growth, and two per pattern (13) */
    assert_true(failures >= 5 + 2 * 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_rules_and_limits),
        cmocka_unit_test(test_flow_style_and_quoting),
        cmocka_unit_test(test_h2c_default_inflight_counts_streams),
        cmocka_unit_test(test_events_off_unless_present),
        cmocka_unit_test(test_events_defaults_depend_on_the_address),
        cmocka_unit_test(test_events_errors),
        cmocka_unit_test(test_access_log_keys),
        cmocka_unit_test(test_rule_first_match_and_default),
        cmocka_unit_test(test_rule_catch_all_and_first_backend),
        cmocka_unit_test(test_error_cannot_open),
        cmocka_unit_test(test_error_yaml_syntax),
        cmocka_unit_test(test_error_empty_and_not_a_mapping),
        cmocka_unit_test(test_error_anchors_and_aliases),
        cmocka_unit_test(test_error_unknown_key),
        cmocka_unit_test(test_error_duplicate_key),
        cmocka_unit_test(test_error_wrong_type),
        cmocka_unit_test(test_error_sequence_for_mapping),
        cmocka_unit_test(test_error_range),
        cmocka_unit_test(test_error_missing_key),
        cmocka_unit_test(test_error_empty_lists),
        cmocka_unit_test(test_error_dangling_backend),
        cmocka_unit_test(test_error_duplicate_backend_name),
        cmocka_unit_test(test_health_check_keys),
        cmocka_unit_test(test_error_bad_names_and_prefixes),
        cmocka_unit_test(test_error_bad_address),
        cmocka_unit_test(test_error_tls_file),
        cmocka_unit_test(test_error_log_level),
        cmocka_unit_test(test_error_nesting),
        cmocka_unit_test(test_error_message_truncated),
        cmocka_unit_test(test_shipped_default_config),
        cmocka_unit_test(test_shipped_multi_backend_example),
        cmocka_unit_test(test_failing_allocations),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
