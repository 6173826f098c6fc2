/* The stats segment: a file that workers map shared and write their figures
 * into, and that readers (sluicectl, later the admin server) map read-only.
 *
 * Layout, version 8 (every field a fixed size, no pointers, so that any
 * process maps it as is):
 *   struct sl_stats_header       magic, version, sizes, backend and class names
 *   struct sl_stats_worker [n]   one slot per worker, written only by it
 * Writers use plain stores on naturally aligned 64-bit words (single writer per
 * slot), so a reader sees each word whole; figures of one slot read at once may
 * be a few events apart, which sums and rates tolerate. A reader checks magic,
 * version and size before trusting anything else; a new layout bumps the
 * version. */
#ifndef SL_STATS_H
#define SL_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "class.h"
#include "histogram.h"

#define SL_STATS_MAGIC 0x534c5354u /* "SLST" */
#define SL_STATS_VERSION 8u
#define SL_STATS_MAX_BACKENDS 64
#define SL_STATS_NAME_BYTES 72      /* a 64-byte name (config.c) and its NUL */
#define SL_STATS_LISTENERS 64       /* = SL_MAX_LISTENERS (config.h) */
#define SL_STATS_LISTENER_BYTES 128 /* a listener's name, else its address */
#define SL_STATS_CONN_ROWS 1024     /* live connections per worker shown */
#define SL_STATS_PEER_BYTES 128     /* >= SL_ADDR_TEXT_MAX */

struct sl_config;

/* What admission decided, per backend and class: received = admitted + shed
 * (every reason) + cancelled + queued. The last two are gauges, refreshed with
 * the backend's. */
struct sl_stats_counts {
    uint64_t received;
    uint64_t admitted;
    uint64_t shed[SL_SHED_REASON_COUNT];
    uint64_t cancelled;    /* the client gave up while the request was queued */
    uint64_t responses[5]; /* answers sent, by status class: [0] 1xx ... [4] 5xx */
    uint64_t queued;       /* waiting now */
    uint64_t backlog_us;   /* the predicted time to drain them; summed: the worst worker's */
};

/* Per backend: gauges refreshed every overload sample (50 ms), and failures
 * counted as they happen. */
struct sl_stats_backend {
    uint64_t inflight;
    uint64_t queued;
    uint64_t limit;
    uint64_t knee;            /* adaptive: the highest limit known good; 0: not known */
    uint64_t no_load_us;      /* adaptive: the last probe's latency; summed: the worst */
    uint64_t probing;         /* adaptive: 1 while it probes; summed: the workers probing */
    uint64_t connect_errors;  /* refused, unreachable, connect timeout */
    uint64_t timeouts;        /* no answer within response_timeout_ms */
    uint64_t failures;        /* broken mid-exchange or an unparsable answer */
    uint64_t servers_ejected; /* out of rotation now (passive health); summed: the worst worker's */
    uint64_t ejections;       /* servers taken out of rotation so far */
    uint64_t health_checks_failed; /* probes of ejected servers that did not pass */
};

/* A client connection's protocol; 0 is no protocol (a free row). */
enum sl_stats_protocol {
    SL_PROTO_H2C = 1,       /* HTTP/2 cleartext (prior knowledge or Upgrade) */
    SL_PROTO_H2_TLS = 2,    /* HTTP/2 over TLS (ALPN h2) */
    SL_PROTO_HTTP1 = 3,     /* HTTP/1.x cleartext */
    SL_PROTO_HTTP1_TLS = 4, /* HTTP/1.x over TLS */
};
#define SL_PROTO_SLOTS 5 /* arrays indexed by enum sl_stats_protocol */

/* One live client connection. Written only by its worker, bracketed by
 * sl_stats_conn_begin/end (a sequence counter, odd while a change is under
 * way), so a reader (sl_stats_conn_read) never takes a half-written row. */
struct sl_stats_conn {
    uint64_t seq;
    uint64_t id; /* the worker's connection id; 0: the row is free */
    char peer[SL_STATS_PEER_BYTES];
    char tls_version[16]; /* "TLSv1.3"; empty for cleartext */
    uint32_t listener_index;
    uint32_t protocol; /* enum sl_stats_protocol */
    uint64_t streams_open;
    uint64_t requests; /* streams closed */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t opened_unix_ms;
    uint64_t active_unix_ms; /* last bytes read */
};

struct sl_stats_worker {
    uint64_t pid; /* 0: the slot is unused */
    uint64_t started_unix_ms;
    uint64_t updated_unix_ms; /* last gauge refresh: a reader can tell a stalled worker */
    uint64_t connections_open;
    uint64_t streams_open;
    uint64_t overload_level;
    uint64_t accepted[SL_PROTO_SLOTS]; /* client connections, by enum sl_stats_protocol */
    uint64_t requests[SL_PROTO_SLOTS]; /* requests finished, by the same */
    uint64_t requests_malformed;       /* h1 heads refused (400/408/431); malformed h2 */
    uint64_t bytes_in;                 /* read from clients */
    uint64_t bytes_out;                /* written to clients */
    uint64_t events_sent;              /* lines the event sink sent (events.h) */
    uint64_t events_dropped;           /* lines it could not send */
    uint64_t access_log_lines;         /* written to the access log (access_log.h) */
    uint64_t access_log_dropped;       /* that could not be written */
    uint64_t h2_glitch_closes;         /* clients sent GOAWAY ENHANCE_YOUR_CALM (front_h2.c) */
    uint64_t connection_limit_hits;    /* times max_client_connections stopped accepting */
    uint64_t bodies_too_large;         /* answered 413: over their class's max_body_bytes */
    uint64_t heads_too_large;          /* answered 431: over max_request_header_bytes */
    uint64_t response_pauses;          /* backend reads paused: a client slower than it */
    struct sl_stats_backend backends[SL_STATS_MAX_BACKENDS];
    struct sl_stats_counts counts[SL_STATS_MAX_BACKENDS][SL_CLASS_MAX];
    /* from the request's arrival to the end of a proxied response, in µs */
    struct sl_histogram latency_by_class[SL_CLASS_MAX];
    struct sl_histogram latency_by_backend[SL_STATS_MAX_BACKENDS];
    /* from the request's arrival to the end of sluice's own answer to it when
     * shed (a status or REFUSED_STREAM), in µs: what a shed client waited */
    struct sl_histogram shed_latency_by_class[SL_CLASS_MAX];
    uint64_t conns_untracked; /* connections accepted while every row was taken */
    struct sl_stats_conn conns[SL_STATS_CONN_ROWS];
};

struct sl_stats_header {
    uint32_t magic;
    uint32_t version;
    uint64_t size; /* of the whole segment, in bytes */
    uint32_t worker_slots;
    uint32_t backend_count;
    uint32_t class_count;
    uint32_t listener_count;
    char backend_names[SL_STATS_MAX_BACKENDS][SL_STATS_NAME_BYTES];
    char class_names[SL_CLASS_MAX][SL_STATS_NAME_BYTES];
    char listener_names[SL_STATS_LISTENERS][SL_STATS_LISTENER_BYTES];
};

struct sl_stats_segment {
    struct sl_stats_header header;
    struct sl_stats_worker workers[];
};

/* "h2c", "h2", "http1" or "http1_tls"; "?" for anything else. */
const char *sl_stats_protocol_name(uint32_t protocol);

/* A connection row's protocol for people: the name, and the TLS version once
 * known ("h2/TLSv1.3"). */
const char *sl_stats_conn_protocol(const struct sl_stats_conn *row, char *buf, size_t len);

/* Bytes of a segment with worker_slots slots. */
size_t sl_stats_size(unsigned worker_slots);

/* Creates (or replaces) the file at path, sized for worker_slots, maps it
 * shared and writes the header from cfg (which must have at most
 * SL_STATS_MAX_BACKENDS backends). With path NULL the segment is anonymous
 * shared memory: the same figures for the admin server (and for processes
 * forked later), with no file. Returns 0 and *out (unmap with
 * sl_stats_unmap), or -1 with a sentence in err. */
int sl_stats_create(const char *path, const struct sl_config *cfg, unsigned worker_slots,
                    struct sl_stats_segment **out, char *err, size_t err_len);

/* Maps an existing segment read-only and checks its header. Returns 0 and
 * *out, or -1 with a sentence in err (no file, not a segment, another
 * version, truncated). */
int sl_stats_open(const char *path, const struct sl_stats_segment **out, char *err, size_t err_len);

void sl_stats_unmap(const struct sl_stats_segment *seg);

/* A free row of w's table for a new connection (searched from *hint, which
 * is updated), or NULL when all are taken (counted in conns_untracked). */
struct sl_stats_conn *sl_stats_conn_claim(struct sl_stats_worker *w, uint32_t *hint);

/* The writer brackets every change of a row with these. */
void sl_stats_conn_begin(struct sl_stats_conn *row);
void sl_stats_conn_end(struct sl_stats_conn *row);

/* Empties the connection table and the gauges of a slot about to be taken
 * over by a new worker: the rows of one that died would never be released
 * (and a row it died writing would stay odd). Counters are kept. */
void sl_stats_slot_reset(struct sl_stats_worker *w);

/* Frees the row of a closed connection. */
void sl_stats_conn_release(struct sl_stats_conn *row);

/* Copies a row as of one moment; false when it is free or kept changing. */
bool sl_stats_conn_read(const struct sl_stats_conn *row, struct sl_stats_conn *out);

/* Adds the figures of every used slot into *total (zeroed first). */
void sl_stats_sum(const struct sl_stats_segment *seg, struct sl_stats_worker *total);

#endif
