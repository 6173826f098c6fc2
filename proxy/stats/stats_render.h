/* The stats segment rendered for readers: JSON (sluicectl --json, the admin
 * server's /stats) and the Prometheus text exposition format (/metrics).
 * Both read a summed slot (sl_stats_sum) and the segment's header for names;
 * names are [A-Za-z0-9_.-] (config.c), so neither format needs escaping. */
#ifndef SL_STATS_RENDER_H
#define SL_STATS_RENDER_H

#include <stdint.h>
#include <stdio.h>

#include "stats.h"

/* The newest gauge refresh over the used slots, and how many slots are used. */
uint64_t sl_stats_newest_update(const struct sl_stats_segment *seg, unsigned *live);

/* One JSON object and a newline: workers, gauges, and per backend its gauges,
 * latency and per-class counts, then per class its latency. Latencies are
 * {"responses", "p50_ms", "p99_ms", "p999_ms"}: bucket upper bounds, null
 * with no sample, -1 past the last bucket. */
void sl_stats_render_json(FILE *out, const struct sl_stats_segment *seg,
                          const struct sl_stats_worker *total);

/* Which live connections to show; NULL or 0 fields match everything. */
struct sl_conn_filter {
    const char *listener; /* its name (or address), exactly */
    const char *peer;     /* a substring of the peer address */
    uint64_t min_streams; /* streams open now, at least */
};

/* The live connections of every worker that pass filter, as one JSON object
 * and a newline: {"connections": [{worker, id, peer, listener, protocol, tls,
 * streams, requests, bytes_in, bytes_out, age_s, idle_s}], "untracked": N}. */
void sl_stats_render_connections(FILE *out, const struct sl_stats_segment *seg,
                                 const struct sl_conn_filter *filter, uint64_t now_unix_ms);

/* Calls visit for every live connection row (a consistent copy) that passes
 * filter; for readers that lay the table out themselves. */
typedef void (*sl_conn_visit_fn)(void *ctx, unsigned worker, const struct sl_stats_conn *row);
void sl_stats_each_connection(const struct sl_stats_segment *seg,
                              const struct sl_conn_filter *filter, sl_conn_visit_fn visit,
                              void *ctx);

/* Prometheus text format 0.0.4: every family with HELP and TYPE, counters
 * with _total, latencies as histograms in seconds (_bucket with cumulative
 * counts at power-of-two microsecond bounds, +Inf, _sum, _count). */
void sl_stats_render_prometheus(FILE *out, const struct sl_stats_segment *seg,
                                const struct sl_stats_worker *total);

#endif
