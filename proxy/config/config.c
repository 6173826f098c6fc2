/* Loading the YAML config.
 *
 * Two passes. First config_yaml.c reads the file into a small tree (struct
 * sl_yaml_node) in a scratch arena, which is where anchors, aliases, nesting
 * depth and YAML syntax are refused. Then each mapping is checked against its
 * key table (config_keys.h). This file holds the tables of the core (listeners,
 * backends, limits); config_policy.c those of classes, rules and overload.
 *
 * Everything the config keeps is allocated from cfg->arena; the tree and the
 * file text are freed before sl_config_load() returns. */
/* memmem is a GNU extension */
#define _GNU_SOURCE
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config_events.h"
#include "config_keys.h"
#include "config_policy.h"
#include "config_yaml.h"

/* ---- checks across keys and entries ---- */

static int check_listener(struct loader *ld, const struct sl_yaml_node *seq, void *items,
                          size_t index)
{
    const struct sl_listener_config *listeners = items;
    const struct sl_addr *addr = &listeners[index].addr;
    for (size_t i = 0; i < index; i++) {
        const struct sl_addr *other = &listeners[i].addr;
        /* sl_addr_parse zeroes the storage, so equal addresses are equal bytes */
        if (other->len == addr->len && memcmp(&other->ss, &addr->ss, addr->len) == 0) {
            return sl_config_fail(
                ld, sl_config_find(sl_config_nth(seq, index), "address")->line,
                "listener address '%s' is already used by the listener at line %u", addr->text,
                sl_config_find(sl_config_nth(seq, i), "address")->line);
        }
        const char *name = listeners[index].name;
        if (name != NULL && listeners[i].name != NULL && strcmp(name, listeners[i].name) == 0) {
            return sl_config_fail(ld, sl_config_find(sl_config_nth(seq, index), "name")->line,
                                  "duplicate listener name '%s' (first defined at line %u)", name,
                                  sl_config_find(sl_config_nth(seq, i), "name")->line);
        }
    }
    return 0;
}

/* A path that can go as it is into a request line or :path. */
static bool is_request_target(const struct sl_string *path)
{
    if (path->text[0] != '/')
        return false;
    for (size_t i = 0; i < path->len; i++) {
        unsigned char c = (unsigned char)path->text[i];
        if (c <= ' ' || c == 0x7f)
            return false;
    }
    return true;
}

static int check_backend(struct loader *ld, const struct sl_yaml_node *seq, void *items,
                         size_t index)
{
    struct sl_backend_config *backends = items;
    backends[index].index = index;
    const struct sl_string *path = &backends[index].health_check_path;
    if (path->len > 0 && !is_request_target(path)) {
        return sl_config_fail(ld,
                              sl_config_find(sl_config_nth(seq, index), "health_check_path")->line,
                              "health_check_path must start with '/' and hold no space or control "
                              "character");
    }
    for (size_t i = 0; i < index; i++) {
        if (strcmp(backends[i].name, backends[index].name) == 0) {
            return sl_config_fail(ld, sl_config_find(sl_config_nth(seq, index), "name")->line,
                                  "duplicate backend name '%s' (first defined at line %u)",
                                  backends[index].name,
                                  sl_config_find(sl_config_nth(seq, i), "name")->line);
        }
    }
    return 0;
}

/* "auto" (0: one per online CPU, counted at start) or 1..256. */
static int parse_workers(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                         char *target)
{
    uint32_t n = 0;
    bool is_auto = value->kind == SL_YAML_SCALAR && strcmp(value->text, "auto") == 0;
    if (!is_auto) {
        char *end;
        unsigned long parsed =
            value->kind == SL_YAML_SCALAR && value->len > 0 ? strtoul(value->text, &end, 10) : 0;
        if (value->kind != SL_YAML_SCALAR || value->len == 0 || *end != '\0' ||
            value->text[0] < '0' || value->text[0] > '9' || parsed < 1 || parsed > 256)
            return sl_config_fail_type(ld, key, value);
        n = (uint32_t)parsed;
    }
    memcpy(target + key->offset, &n, sizeof(n));
    return 0;
}

/* Files that other processes are pointed at (the stats segment, the pid
 * file) are created from the working directory of the moment: an absolute path
 * is the only one they can be found by reliably. */
static int parse_absolute_path(struct loader *ld, const struct key *key,
                               const struct sl_yaml_node *value, char *target)
{
    const char *text;
    if (sl_config_string(ld, key, value, &text) < 0)
        return -1;
    if (text[0] != '/' || value->len >= 4096)
        return sl_config_fail_type(ld, key, value);
    const char *copy = sl_arena_strndup(ld->cfg->arena, text, value->len);
    if (copy == NULL)
        return sl_config_fail_oom(ld);
    memcpy(target + key->offset, &copy, sizeof(copy));
    return 0;
}

static bool is_loopback(const struct sl_addr *addr)
{
    if (addr->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&addr->ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&addr->ss)->sin6_addr);
    return false;
}

static int parse_admin_address(struct loader *ld, const struct key *key,
                               const struct sl_yaml_node *value, char *target)
{
    const char *text;
    if (sl_config_string(ld, key, value, &text) < 0)
        return -1;
    struct sl_addr *addr = sl_config_alloc_zero(ld, ld->cfg->arena, sizeof(*addr));
    if (addr == NULL)
        return -1;
    char reason[256];
    if (sl_addr_parse(text, addr, reason, sizeof(reason)) < 0)
        return sl_config_fail(ld, value->line, "admin_address '%s' is not valid: %s", text, reason);
    memcpy(target + key->offset, &addr, sizeof(addr));
    return 0;
}

#define ADMIN_TOKEN_MIN_BYTES 16

/* The admin listener stays on loopback unless the operator says otherwise,
 * and then only behind a token. */
static int check_admin(struct loader *ld, const struct sl_yaml_node *root)
{
    const struct sl_config *cfg = ld->cfg;
    const struct sl_yaml_node *token = sl_config_find(root, "admin_token");
    if (token != NULL && cfg->admin_token.len < ADMIN_TOKEN_MIN_BYTES) {
        return sl_config_fail(ld, token->line, "admin_token must be at least %d characters",
                              ADMIN_TOKEN_MIN_BYTES);
    }
    if (cfg->admin_allow_remote && token == NULL) {
        return sl_config_fail(ld, sl_config_find(root, "admin_allow_remote")->line,
                              "admin_allow_remote needs an admin_token");
    }
    if (cfg->admin_address != NULL && !is_loopback(cfg->admin_address) &&
        !cfg->admin_allow_remote) {
        return sl_config_fail(ld, sl_config_find(root, "admin_address")->line,
                              "admin_address '%s' is not a loopback address (127.0.0.0/8 or "
                              "[::1]); to serve it remotely set admin_allow_remote: true and an "
                              "admin_token",
                              cfg->admin_address->text);
    }
    return 0;
}

/* ---- the tables ---- */

/* The tables keep one row per key, as tables; clang-format would spread them out. */
/* clang-format off */

static const struct key tls_keys[] = {
    {.name = "certificate", .label = "tls certificate", .type = KEY_FILE, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_listener_config, tls_certificate),
     .doc = "PEM certificate chain file; relative paths start at the config file's directory"},
    {.name = "key", .label = "tls key", .type = KEY_FILE, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_listener_config, tls_key),
     .doc = "PEM private key file for the certificate"},
};

static const struct kind tls_kind = {
    .noun = "tls", .keys = tls_keys, .key_count = COUNT(tls_keys),
    .target_size = sizeof(struct sl_listener_config),
};

static const struct key listener_keys[] = {
    {.name = "name", .label = "listener name", .type = KEY_NAME, .def_text = "none",
     .offset = offsetof(struct sl_listener_config, name),
     .doc = "name that rules' listener matchers refer to, [A-Za-z0-9_.-]{1,64}"},
    {.name = "address", .label = "listener address", .type = KEY_ADDR, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_listener_config, addr),
     .doc = "where to accept connections: IP:port, [IPv6]:port or unix:/path"},
    {.name = "tls", .type = KEY_MAPPING, .sub = &tls_kind,
     .def_text = "none (cleartext h2c and HTTP/1.1)",
     .doc = "serve TLS with ALPN h2 and http/1.1"},
};

static const struct kind listener_kind = {
    .noun = "listener", .keys = listener_keys, .key_count = COUNT(listener_keys),
    .target_size = sizeof(struct sl_listener_config), .check = check_listener,
};

/* In enum sl_backend_protocol order. */
static const char *const backend_protocols[] = {"http/1.1", "h2c"};
_Static_assert(SL_BACKEND_HTTP1 == 0 && SL_BACKEND_H2C == 1, "backend_protocols order");
_Static_assert(sizeof(enum sl_backend_protocol) == sizeof(int), "a choice is stored as an int");

static int parse_backend_protocol(struct loader *ld, const struct key *key,
                                  const struct sl_yaml_node *value, char *target)
{
    return sl_config_parse_choice(ld, key, value, target, backend_protocols,
                                  sizeof(backend_protocols) / sizeof(backend_protocols[0]));
}

static const struct key backend_keys[] = {
    {.name = "name", .label = "backend name", .type = KEY_NAME, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_backend_config, name),
     .doc = "unique name that rules refer to, [A-Za-z0-9_.-]{1,64}"},
    {.name = "servers", .type = KEY_ADDR_LIST, .is_required = true, .min = 1,
     .def_text = "none", .offset = offsetof(struct sl_backend_config, servers),
     .count_offset = offsetof(struct sl_backend_config, server_count),
     .doc = "addresses of the backend's servers: IP:port, [IPv6]:port or unix:/path"},
    {.name = "protocol", .type = KEY_CUSTOM, .parse = parse_backend_protocol,
     .what = "http/1.1 or h2c", .def_text = "http/1.1",
     .offset = offsetof(struct sl_backend_config, protocol),
     .doc = "what the servers speak: http/1.1 (keep-alive, one request per connection at a "
            "time) or h2c (cleartext HTTP/2, many streams per connection)"},
    UINT_KEY(struct sl_backend_config, connect_timeout_ms, 1000, 1, 600000,
             "time to establish a connection to a server"),
    UINT_KEY(struct sl_backend_config, response_timeout_ms, 10000, 1, 3600000,
             "time to the response head once the request is sent, the longest silence within a "
             "response, the longest a backend may read none of the request, and the longest "
             "wait for a free connection"),
    UINT_KEY(struct sl_backend_config, max_connections, 128, 1, 65535,
             "connections open at once to each server"),
    UINT_KEY(struct sl_backend_config, keepalive_idle_timeout_ms, 60000, 0, 3600000,
             "how long an idle connection is kept open; 0 closes it as soon as it is idle"),
    UINT_KEY(struct sl_backend_config, eject_after_failures, 5, 0, 1000,
             "failed exchanges in a row (connect errors, timeouts, broken or unparsable "
             "responses) that take a server out of rotation; 0: never"),
    UINT_KEY(struct sl_backend_config, eject_ms, 10000, 100, 3600000,
             "how long an ejected server stays out; doubled each time its first request back "
             "fails, up to 16 times. Not used with health_check_path"),
    {.name = "health_check_path", .type = KEY_STRING, .max = 1024, .def_text = "none",
     .offset = offsetof(struct sl_backend_config, health_check_path),
     .doc = "active health checks: an ejected server gets a GET of this path (starting with "
            "'/') every health_check_interval_ms, and is back in rotation at its first 2xx "
            "answer, not after eject_ms"},
    UINT_KEY(struct sl_backend_config, health_check_interval_ms, 1000, 100, 3600000,
             "time between two health checks of an ejected server; each must answer within it"),
    {.name = "retry_non_idempotent", .type = KEY_BOOL, .def = false, .def_text = "false",
     .offset = offsetof(struct sl_backend_config, retry_non_idempotent),
     .doc = "also retry a POST, PATCH or other non-idempotent request whose kept-alive "
            "connection broke before any response byte (the backend may have processed it)"},
    {.name = "limiter", .type = KEY_CUSTOM, .parse = sl_config_parse_limiter,
     .what = "static or adaptive", .def_text = "static",
     .offset = offsetof(struct sl_backend_config, limiter),
     .doc = "static: at most max_inflight requests in flight; adaptive: a limit that finds the "
            "concurrency past which throughput stops growing (the knee), from below, within "
            "min_inflight..max_inflight"},
    UINT_KEY(struct sl_backend_config, max_inflight, 0, 0, 1000000,
             "requests in flight to the backend at most (the adaptive limiter's ceiling); 0 "
             "means max_connections times the number of servers"),
    UINT_KEY(struct sl_backend_config, min_inflight, 1, 1, 1000000,
             "the adaptive limiter's floor, and its limit while it probes the no-load latency"),
    UINT_KEY(struct sl_backend_config, limiter_tolerance_percent, 110, 100, 1000,
             "the adaptive limiter takes a window's mean latency up to this percentage of the "
             "knee's latency (of the no-load latency, before a knee is known) as no rise"),
    UINT_KEY(struct sl_backend_config, limiter_probe_interval_ms, 30000, 1000, 86400000,
             "time from one no-load probe of the adaptive limiter to the next"),
    UINT_KEY(struct sl_backend_config, queue_size, 1024, 0, 1000000,
             "requests waiting for the backend at most, over all classes"),
    UINT_KEY(struct sl_backend_config, queue_target_ms, 5, 1, 60000,
             "queueing time above which, sustained for queue_interval_ms, the queue serves "
             "newest first"),
    UINT_KEY(struct sl_backend_config, queue_interval_ms, 100, 1, 60000,
             "how long queueing must stay above queue_target_ms before the switch"),
};

static const struct kind backend_kind = {
    .noun = "backend", .keys = backend_keys, .key_count = COUNT(backend_keys),
    .target_size = sizeof(struct sl_backend_config), .check = check_backend,
};

/* Order matters: backends and classes come before the keys that name them. */
static const struct key top_keys[] = {
    {.name = "log_level", .type = KEY_LOG_LEVEL, .def = SL_LOG_INFO, .def_text = "info",
     .offset = offsetof(struct sl_config, log_level),
     .doc = "least severe level logged: error, warn, info or debug"},
    {.name = "workers", .type = KEY_CUSTOM, .parse = parse_workers,
     .what = "auto or a whole number from 1 to 256", .def_text = "1",
     .offset = offsetof(struct sl_config, workers),
     .doc = "worker processes, each with its own event loop on the same sockets; auto: one "
            "per online CPU"},
    {.name = "worker_cpu_affinity", .type = KEY_BOOL, .def = false, .def_text = "false",
     .offset = offsetof(struct sl_config, worker_cpu_affinity),
     .doc = "pin each worker to its own CPU (worker i to the i-th CPU the master may use, "
            "wrapping around)"},
    UINT_KEY(struct sl_config, drain_timeout_ms, 10000, 0, 3600000,
             "how long a draining worker (shutdown or reload) serves its open connections, new "
             "requests on them included; each closes once idle for a second"),
    UINT_KEY(struct sl_config, client_idle_timeout_ms, 60000, 100, 3600000,
             "time a client connection may stay open with no stream, the next HTTP/1.1 request "
             "may take to begin, and a stream may stall its exchange"),
    UINT_KEY(struct sl_config, max_client_connections, 10000, 1, 1000000,
             "client connections a worker holds at most; a full worker stops accepting (the "
             "others, or the backlog, take new connections) until one closes"),
    UINT_KEY(struct sl_config, client_header_timeout_ms, 10000, 100, 3600000,
             "time a request head may take from its first byte to its end (HTTP/2: HEADERS to "
             "the last CONTINUATION), and a TLS handshake or an HTTP/2 preface from its first "
             "byte; slow heads (slowloris) are cut off there"),
    UINT_KEY(struct sl_config, client_glitch_limit, 1000, 0, 1000000,
             "HTTP/2 frames a client connection may send that do no work (PING, SETTINGS, "
             "PRIORITY, empty DATA, WINDOW_UPDATE with nothing to credit, resets of unanswered "
             "streams, invalid frames), halved every second; above it, GOAWAY "
             "ENHANCE_YOUR_CALM; 0: no limit"),
    UINT_KEY(struct sl_config, max_concurrent_streams, 256, 1, 65535,
             "SETTINGS_MAX_CONCURRENT_STREAMS per HTTP/2 connection"),
    UINT_KEY(struct sl_config, response_header_table_bytes, 4096, 0, 65536,
             "HPACK dynamic table the HTTP/2 encoder uses for the response headers sent to each "
             "client, fields whose value changes from response to response left out; 0: none, "
             "each field goes as a literal (names from the static table)"),
    UINT_KEY(struct sl_config, stream_window_bytes, 262144, 16384, 16777216,
             "HTTP/2 receive window per stream: request-body bytes buffered per stream at most "
             "(HTTP/1.1: reading pauses there)"),
    UINT_KEY(struct sl_config, response_buffer_bytes, 65536, 4096, 16777216,
             "response-body bytes buffered per stream before reading from the backend pauses"),
    UINT_KEY(struct sl_config, max_request_header_bytes, 65536, 1024, 1048576,
             "request header size (RFC 9113 §6.5.2; HTTP/1.1: the head's bytes); larger heads "
             "get 431"),
    UINT_KEY(struct sl_config, max_response_header_bytes, 65536, 1024, 1048576,
             "response header size from a backend (names, values and 32 per field); a larger "
             "head is a bad response: 502"),
    {.name = "listeners", .type = KEY_LIST, .is_required = true, .min = 1,
     .max = SL_MAX_LISTENERS, .def_text = "none",
     .offset = offsetof(struct sl_config, listeners),
     .count_offset = offsetof(struct sl_config, listener_count), .sub = &listener_kind,
     .doc = "where sluice accepts connections; at least one"},
    {.name = "backends", .type = KEY_LIST, .is_required = true, .min = 1,
     .max = SL_MAX_BACKENDS, .def_text = "none",
     .offset = offsetof(struct sl_config, backends),
     .count_offset = offsetof(struct sl_config, backend_count), .sub = &backend_kind,
     .doc = "groups of servers that requests are proxied to; at least one, at most 64"},
    {.name = "classes", .type = KEY_LIST, .min = 0, .max = SL_CLASS_MAX,
     .def_text = "one class, default",
     .offset = offsetof(struct sl_config, classes),
     .count_offset = offsetof(struct sl_config, class_count), .sub = &sl_config_class_kind,
     .doc = "priority classes, most important first; at most 16"},
    {.name = "default_class", .type = KEY_CUSTOM, .parse = sl_config_parse_class_ref,
     .what = "a class name", .def_text = "the only class; required with several",
     .offset = offsetof(struct sl_config, default_class),
     .doc = "class of requests that no rule gives one"},
    {.name = "default_backend", .type = KEY_BACKEND, .def_text = "the first backend",
     .offset = offsetof(struct sl_config, default_backend),
     .doc = "backend for requests that no rule gives one"},
    {.name = "rules", .type = KEY_LIST, .min = 0, .def_text = "none",
     .offset = offsetof(struct sl_config, rules),
     .count_offset = offsetof(struct sl_config, rule_count), .sub = &sl_config_rule_kind,
     .doc = "which class and backend a request gets; the first rule that matches wins"},
    {.name = "budget_header", .type = KEY_CUSTOM, .parse = sl_config_parse_header_name,
     .what = "a header name", .def_text = "none",
     .offset = offsetof(struct sl_config, budget_header),
     .doc = "request header in which a client may give its own time budget in milliseconds, "
            "capped by its class's deadline_ms"},
    {.name = "forward_budget_header", .type = KEY_CUSTOM, .parse = sl_config_parse_header_name,
     .what = "a header name", .def_text = "x-sluice-budget-ms", .offset = offsetof(struct sl_config, forward_budget_header),
     .doc = "header that tells the backend how many milliseconds of the budget are left; "
            "sent when the request has a deadline; empty: never sent"},
    {.name = "decision_header", .type = KEY_BOOL, .def = false, .def_text = "false",
     .offset = offsetof(struct sl_config, decision_header),
     .doc = "add x-sluice-decision (the class, and the shed reason) to every response"},
    {.name = "pid_file", .type = KEY_CUSTOM, .parse = parse_absolute_path,
     .what = "an absolute file path", .def_text = "none",
     .offset = offsetof(struct sl_config, pid_file),
     .doc = "file the master writes its pid to, for sluice -s reload|stop and sluicectl "
            "reload; removed at exit"},
    {.name = "stats_path", .type = KEY_CUSTOM, .parse = parse_absolute_path,
     .what = "an absolute file path", .def_text = "none (no segment)",
     .offset = offsetof(struct sl_config, stats_path),
     .doc = "file of the shared-memory stats segment that sluicectl reads (e.g. under "
            "/dev/shm); replaced at start"},
    {.name = "admin_address", .type = KEY_CUSTOM, .parse = parse_admin_address,
     .what = "an IP:port", .def_text = "none (no admin listener)",
     .offset = offsetof(struct sl_config, admin_address),
     .doc = "address of the admin listener (the dashboard, /stats, /connections, /metrics, "
            "/config); loopback unless admin_allow_remote"},
    {.name = "admin_allow_remote", .type = KEY_BOOL, .def = false, .def_text = "false",
     .offset = offsetof(struct sl_config, admin_allow_remote),
     .doc = "allow a non-loopback admin_address; needs admin_token"},
    {.name = "admin_token", .type = KEY_STRING, .max = 256, .def_text = "none",
     .offset = offsetof(struct sl_config, admin_token),
     .doc = "secret every admin request must carry (Authorization: Bearer TOKEN, or ?token= "
            "for a browser); at least 16 characters; redacted in /config"},
    {.name = "overload", .type = KEY_MAPPING, .sub = &sl_config_overload_kind,
     .def_text = "see its keys",
     .doc = "when sluice itself is overloaded, shed the least important classes at the door"},
    {.name = "events", .type = KEY_MAPPING, .sub = &sl_config_events_kind,
     .def_text = "none (no events sent)",
     .doc = "send per-class counts, latencies and shed decisions to a statsd-compatible "
            "aggregator"},
    {.name = "access_log", .type = KEY_MAPPING, .sub = &sl_config_access_log_kind,
     .def_text = "none (no access log)",
     .doc = "one JSON line per request (or per sample-th request)"},
};

static const struct kind top_kind = {
    .noun = "the config", .keys = top_keys, .key_count = COUNT(top_keys),
    .target_size = sizeof(struct sl_config),
};
/* clang-format on */

_Static_assert(COUNT(top_keys) <= KEYS_MAX, "raise KEYS_MAX");
_Static_assert(COUNT(listener_keys) <= KEYS_MAX, "raise KEYS_MAX");
_Static_assert(COUNT(backend_keys) <= KEYS_MAX, "raise KEYS_MAX");

/* ---- the contract ---- */

static int apply_root(struct loader *ld, const struct sl_yaml_node *root)
{
    if (root == NULL || (root->kind == SL_YAML_SCALAR && root->is_null)) {
        return sl_config_fail(
            ld, root == NULL ? 1 : root->line,
            "the file holds no settings; it needs at least listeners and backends");
    }
    if (root->kind != SL_YAML_MAPPING) {
        char got[QUOTE_MAX_BYTES + 8];
        return sl_config_fail(ld, root->line,
                              "the config must be a mapping of keys to values, got %s",
                              sl_config_describe(root, got, sizeof(got)));
    }
    struct sl_config *cfg = ld->cfg;
    if (sl_config_apply_kind(ld, &top_kind, root, cfg) < 0)
        return -1;
    if (cfg->default_backend == NULL)
        cfg->default_backend = &cfg->backends[0];
    if (sl_config_find(root, "workers") == NULL)
        cfg->workers = 1;
    if (check_admin(ld, root) < 0 || sl_config_resolve_events(ld, root) < 0)
        return -1;
    return sl_config_resolve_policy(ld, root);
}

/* The file as loaded, for /config, with every occurrence of the admin token
 * replaced. A token written with escapes or folded over lines would not occur
 * as such in the text: it is refused, so the secret never shows. */
static int keep_source(struct loader *ld, const struct sl_yaml_text *text,
                       const struct sl_yaml_node *root)
{
    static const char mask[] = "<redacted>";
    struct sl_config *cfg = ld->cfg;
    const struct sl_string *token = &cfg->admin_token;
    if (token->len > 0 && memmem(text->bytes, text->len, token->text, token->len) == NULL) {
        return sl_config_fail(ld, sl_config_find(root, "admin_token")->line,
                              "admin_token must be written as it is, on one line, without "
                              "escapes (so that /config can hide it)");
    }
    size_t room = text->len + 1;
    if (token->len > 0 && token->len < sizeof(mask))
        room += text->len / token->len * (sizeof(mask) - token->len);
    char *copy = sl_arena_alloc(cfg->arena, room);
    if (copy == NULL)
        return sl_config_fail_oom(ld);
    size_t at = 0;
    for (size_t i = 0; i < text->len;) {
        if (token->len > 0 && i + token->len <= text->len &&
            memcmp(text->bytes + i, token->text, token->len) == 0) {
            memcpy(copy + at, mask, sizeof(mask) - 1);
            at += sizeof(mask) - 1;
            i += token->len;
        } else {
            copy[at++] = text->bytes[i++];
        }
    }
    copy[at] = '\0';
    cfg->source = copy;
    cfg->source_len = at;
    return 0;
}

int sl_config_load(const char *path, struct sl_config **out, char *err, size_t err_len)
{
    struct loader ld = {.path = path, .err = err, .err_len = err_len};
    /* the tree and the file text are only needed while the config is built */
    struct sl_arena *scratch = sl_arena_new(16384);
    if (scratch == NULL)
        return sl_config_fail_oom(&ld);
    const struct sl_yaml_node *root;
    struct sl_yaml_text text;
    if (sl_yaml_load(path, scratch, &root, &text, err, err_len) < 0)
        goto fail_tree;
    struct sl_arena *arena = sl_arena_new(4096);
    if (arena == NULL) {
        sl_config_fail_oom(&ld);
        goto fail_arena;
    }
    struct sl_config *cfg = sl_config_alloc_zero(&ld, arena, sizeof(*cfg));
    if (cfg == NULL)
        goto fail_cfg;
    cfg->arena = arena;
    cfg->path = sl_arena_strndup(arena, path, strlen(path));
    if (cfg->path == NULL) {
        sl_config_fail_oom(&ld);
        goto fail_cfg;
    }
    ld.cfg = cfg;
    if (apply_root(&ld, root) < 0 || keep_source(&ld, &text, root) < 0)
        goto fail_cfg;
    *out = cfg;
    sl_arena_free(scratch);
    return 0;

fail_cfg:
    if (cfg != NULL)
        sl_config_free_patterns(cfg);
    sl_arena_free(arena);
fail_arena:
fail_tree:
    sl_arena_free(scratch);
    return -1;
}

void sl_config_free(struct sl_config *cfg)
{
    if (cfg != NULL) {
        sl_config_free_patterns(cfg);
        sl_arena_free(cfg->arena);
    }
}

const struct sl_rule *sl_config_match(const struct sl_config *cfg, const struct sl_rule_input *in)
{
    return &cfg->rules[sl_rules_first_match(cfg->rules, cfg->rule_count - 1, in)];
}
