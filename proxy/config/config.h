/* The configuration: parsed once from YAML into immutable structs.
 *
 * A struct sl_config owns all its memory (one arena) and is never modified after
 * sl_config_load() returns, so it can be shared read-only by everything that
 * holds a pointer to it. Every key is documented in docs/config.md and
 * annotated in conf/sluice.yaml. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "class.h"
#include "limiter.h"
#include "log.h"
#include "rules.h"

#define SL_MAX_LISTENERS 64
#define SL_MAX_BACKENDS 64

struct sl_arena;
struct sl_config_pattern;

struct sl_listener_config {
    const char *name; /* for rules to refer to; NULL when unnamed */
    struct sl_addr addr;
    const char *tls_certificate; /* PEM path; NULL for cleartext (h2c) */
    const char *tls_key;         /* PEM path; set exactly when tls_certificate is */
};

/* What a backend's servers speak. */
enum sl_backend_protocol {
    SL_BACKEND_HTTP1, /* HTTP/1.1 keep-alive, one request per connection at a time */
    SL_BACKEND_H2C,   /* cleartext HTTP/2 with prior knowledge, streams multiplexed */
};

struct sl_backend_config {
    const char *name;
    enum sl_backend_protocol protocol;
    struct sl_addr *servers;
    size_t server_count; /* >= 1 */
    uint32_t connect_timeout_ms;
    uint32_t response_timeout_ms; /* request sent → response head; silence within a
                                   * response; waiting for a free connection */
    uint32_t max_connections;     /* per server */
    uint32_t keepalive_idle_timeout_ms;
    bool retry_non_idempotent;     /* retry a POST or PATCH whose kept-alive connection broke */
    uint32_t eject_after_failures; /* passive health: failures in a row; 0: never */
    uint32_t eject_ms;             /* the first ejection's length */
    struct sl_string health_check_path; /* active health checks of ejected servers; len 0: none */
    uint32_t health_check_interval_ms;
    /* admission (policy/admission.h) */
    enum sl_limiter_kind limiter;
    uint32_t max_inflight;              /* static: the limit; adaptive: the ceiling. Never 0: a
                                         * file without it gets max_connections * server_count */
    uint32_t min_inflight;              /* adaptive: the floor and the probes' limit */
    uint32_t limiter_tolerance_percent; /* adaptive: latency over no-load still fine */
    uint32_t limiter_probe_interval_ms; /* adaptive: between two no-load probes */
    uint32_t queue_size;
    uint32_t queue_target_ms;
    uint32_t queue_interval_ms;
    size_t index; /* in sl_config.backends */
};

struct sl_header_field {
    struct sl_string name; /* lowercase */
    struct sl_string value;
};

/* How a shed request is answered. */
struct sl_shed_answer {
    uint32_t status;
    struct sl_header_field *headers;
    size_t header_count;
    struct sl_string body;
    bool is_refuse_stream; /* HTTP/2: RST_STREAM REFUSED_STREAM instead of a response */
};

struct sl_class_config {
    const char *name;
    uint32_t deadline_ms;    /* arrival to response; 0: none */
    uint32_t max_queue_ms;   /* longest wait in a backend's queue */
    uint32_t max_backlog_ms; /* sheddable: longest predicted wait that may still queue */
    uint32_t reserve_percent;
    uint32_t max_body_bytes; /* 0: no limit; larger bodies get 413 */
    bool is_sheddable;
    struct sl_shed_answer shed;
    size_t index; /* in sl_config.classes: the priority, 0 highest */
};

/* Thresholds of sluice's own overload level (policy/overload.h). */
struct sl_overload_config_ms {
    uint32_t max_loop_lag_ms;
    uint32_t max_connections;
    uint32_t max_streams;
    uint32_t recover_percent;
    uint32_t step_ms;
};

/* Where sluice's events go (stats/events.h); is_on only with an events mapping. */
struct sl_events_config {
    bool is_on;
    struct sl_addr address;       /* UDP (IP:port) or a Unix datagram socket */
    struct sl_string prefix;      /* of every name: "sluice" unless set */
    uint32_t flush_interval_ms;   /* figures are combined over this, then sent */
    uint32_t max_packet_bytes;    /* per datagram: 1432 for UDP, 8192 for Unix unless set */
    bool is_dogstatsd;            /* tags and |d distributions instead of dotted names */
    struct sl_header_field *tags; /* DogStatsD tags on every line */
    size_t tag_count;
};

/* The access log (stats/access_log.h); is_on only with an access_log mapping. */
struct sl_access_log_config {
    bool is_on;
    const char *path;      /* absolute; NULL: stderr */
    uint32_t sample;       /* one request in sample gets a line */
    bool always_log_shed;  /* every shed request gets one too */
    uint32_t buffer_bytes; /* per worker, written when full */
    uint32_t flush_interval_ms;
};

struct sl_config {
    const char *path; /* the file it was loaded from */
    enum sl_log_level log_level;
    uint32_t workers;         /* worker processes; 0: one per online CPU ("auto") */
    bool worker_cpu_affinity; /* pin worker i to the i-th allowed CPU (modulo) */
    uint32_t drain_timeout_ms;
    uint32_t client_idle_timeout_ms;      /* a connection with no open stream, or a stream
                                           * whose client stopped sending or reading */
    uint32_t max_client_connections;      /* per worker; a full worker stops accepting */
    uint32_t client_header_timeout_ms;    /* a head (or handshake) from its first byte */
    uint32_t client_glitch_limit;         /* HTTP/2 frames that do no work, decayed; 0: off */
    uint32_t max_concurrent_streams;      /* per HTTP/2 connection */
    uint32_t response_header_table_bytes; /* HPACK encoder table towards clients */
    uint32_t stream_window_bytes;         /* HTTP/2 receive window per stream */
    uint32_t response_buffer_bytes;       /* response bytes buffered per stream */
    uint32_t max_request_header_bytes;    /* RFC 9113 §6.5.2 size; larger gets 431 */
    uint32_t max_response_header_bytes;   /* the same size of a backend's head; larger: 502 */
    struct sl_listener_config *listeners;
    size_t listener_count; /* >= 1 */
    struct sl_backend_config *backends;
    size_t backend_count;            /* >= 1 */
    struct sl_class_config *classes; /* highest priority first; >= 1 (an implicit
                                      * "default" class when the file has none) */
    size_t class_count;
    struct sl_class_policy *class_policies; /* classes as policy/ sees them */
    unsigned shed_levels;                   /* sheddable classes: the top overload level */
    const struct sl_class_config *default_class;
    struct sl_rule *rules; /* the file's rules, then a catch-all for the defaults */
    size_t rule_count;     /* including the catch-all, so >= 1 */
    const struct sl_backend_config *default_backend;
    struct sl_string budget_header;         /* a request's own budget in ms; len 0: off */
    struct sl_string forward_budget_header; /* the remaining budget, sent upstream */
    bool decision_header; /* x-sluice-decision on responses: class and shed reason */
    struct sl_overload_config_ms overload;
    struct sl_events_config events;
    struct sl_access_log_config access_log;
    const char *stats_path;              /* the stats segment's file; NULL: none */
    const char *pid_file;                /* the master's pid, for sluice -s; NULL: none */
    const struct sl_addr *admin_address; /* NULL: no admin listener; loopback unless
                                          * admin_allow_remote */
    bool admin_allow_remote;
    struct sl_string admin_token; /* len 0: none (then loopback only) */
    const char *source;           /* the file as loaded, admin_token redacted, for /config */
    size_t source_len;
    struct sl_config_pattern *patterns; /* compiled patterns, freed with the config */
    struct sl_arena *arena;
};

/* Loads and validates path. On success returns 0 and a config the caller owns
 * (free with sl_config_free). On failure returns -1 and writes
 * "FILE:LINE: reason" into err (the reason names the key and says what was
 * expected); *out is left untouched. */
int sl_config_load(const char *path, struct sl_config **out, char *err, size_t err_len);

void sl_config_free(struct sl_config *cfg);

/* The first rule that matches in (the catch-all if no other does). Never NULL. */
const struct sl_rule *sl_config_match(const struct sl_config *cfg, const struct sl_rule_input *in);

#endif
