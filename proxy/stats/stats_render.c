/* Renderings of the stats segment (contract in stats_render.h). */
#include "stats_render.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

uint64_t sl_stats_newest_update(const struct sl_stats_segment *seg, unsigned *live)
{
    uint64_t newest = 0;
    *live = 0;
    for (uint32_t i = 0; i < seg->header.worker_slots; i++) {
        const struct sl_stats_worker *w = &seg->workers[i];
        if (w->pid == 0)
            continue;
        (*live)++;
        if (w->updated_unix_ms > newest)
            newest = w->updated_unix_ms;
    }
    return newest;
}

/* The same for JSON: null with no sample, -1 past the last bucket. */
static void print_json_ms(FILE *out, const char *name, const struct sl_histogram *h, double p)
{
    uint64_t us = sl_hist_percentile(h, p);
    if (sl_hist_total(h) == 0)
        fprintf(out, ",\"%s\":null", name);
    else if (us == UINT64_MAX)
        fprintf(out, ",\"%s\":-1", name);
    else
        fprintf(out, ",\"%s\":%.3f", name, (double)us / 1000);
}

/* "<count>":N,"<prefix>p50_ms":...,"<prefix>p99_ms":...,"<prefix>p999_ms":...
 * (bucket upper bounds) */
static void print_json_histogram(FILE *out, const char *count, const char *prefix,
                                 const struct sl_histogram *h)
{
    char name[32];
    fprintf(out, "\"%s\":%" PRIu64, count, sl_hist_total(h));
    snprintf(name, sizeof(name), "%sp50_ms", prefix);
    print_json_ms(out, name, h, 50);
    snprintf(name, sizeof(name), "%sp99_ms", prefix);
    print_json_ms(out, name, h, 99);
    snprintf(name, sizeof(name), "%sp999_ms", prefix);
    print_json_ms(out, name, h, 99.9);
}

static void print_json_latency(FILE *out, const struct sl_histogram *h)
{
    print_json_histogram(out, "responses", "", h);
}

/* Names are [A-Za-z0-9_.-] (config.c), so they need no JSON escaping. */
static void print_json_class(FILE *out, const struct sl_stats_header *h, uint32_t c,
                             const struct sl_stats_counts *n, bool is_last)
{
    fprintf(out,
            "{\"name\":\"%s\",\"received\":%" PRIu64 ",\"admitted\":%" PRIu64
            ",\"cancelled\":%" PRIu64 ",\"queued\":%" PRIu64 ",\"backlog_ms\":%.1f,\"shed\":{",
            h->class_names[c], n->received, n->admitted, n->cancelled, n->queued,
            n->backlog_us / 1000.0);
    for (int r = 0; r < SL_SHED_REASON_COUNT; r++) {
        fprintf(out, "\"%s\":%" PRIu64 "%s", sl_shed_reason_name((enum sl_shed_reason)r),
                n->shed[r], r + 1 < SL_SHED_REASON_COUNT ? "," : "");
    }
    fprintf(out, "},\"responses\":{");
    for (int s = 0; s < 5; s++)
        fprintf(out, "\"%dxx\":%" PRIu64 "%s", s + 1, n->responses[s], s < 4 ? "," : "");
    fprintf(out, "}}%s", is_last ? "" : ",");
}

/* Each used slot's own gauges: which worker carries what. */
static void print_json_workers(FILE *out, const struct sl_stats_segment *seg)
{
    bool is_first = true;
    for (uint32_t i = 0; i < seg->header.worker_slots; i++) {
        const struct sl_stats_worker *w = &seg->workers[i];
        if (w->pid == 0)
            continue;
        fprintf(out,
                "%s{\"slot\":%u,\"pid\":%" PRIu64 ",\"started_unix_ms\":%" PRIu64
                ",\"updated_unix_ms\":%" PRIu64 ",\"connections_open\":%" PRIu64
                ",\"streams_open\":%" PRIu64 ",\"overload_level\":%" PRIu64 "}",
                is_first ? "" : ",", i, w->pid, w->started_unix_ms, w->updated_unix_ms,
                w->connections_open, w->streams_open, w->overload_level);
        is_first = false;
    }
}

/* ,"key":{"h2c":N,"h2":N,"http1":N,"http1_tls":N} */
static void json_by_protocol(FILE *out, const char *key, const uint64_t *counts)
{
    fprintf(out, ",\"%s\":{", key);
    for (uint32_t p = 1; p < SL_PROTO_SLOTS; p++)
        fprintf(out, "%s\"%s\":%" PRIu64, p > 1 ? "," : "", sl_stats_protocol_name(p), counts[p]);
    fprintf(out, "}");
}

static void prometheus_by_protocol(FILE *out, const char *name, const uint64_t *counts)
{
    for (uint32_t p = 1; p < SL_PROTO_SLOTS; p++)
        fprintf(out, "%s{protocol=\"%s\"} %" PRIu64 "\n", name, sl_stats_protocol_name(p),
                counts[p]);
}

void sl_stats_render_json(FILE *out, const struct sl_stats_segment *seg,
                          const struct sl_stats_worker *t)
{
    const struct sl_stats_header *h = &seg->header;
    unsigned live;
    uint64_t updated = sl_stats_newest_update(seg, &live);
    fprintf(out,
            "{\"workers\":%u,\"updated_unix_ms\":%" PRIu64 ",\"connections_open\":%" PRIu64
            ",\"streams_open\":%" PRIu64 ",\"overload_level\":%" PRIu64 ",\"bytes_in\":%" PRIu64
            ",\"bytes_out\":%" PRIu64,
            live, updated, t->connections_open, t->streams_open, t->overload_level, t->bytes_in,
            t->bytes_out);
    json_by_protocol(out, "accepted", t->accepted);
    json_by_protocol(out, "requests_by_protocol", t->requests);
    fprintf(out,
            ",\"requests_malformed\":%" PRIu64 ",\"h2_glitch_closes\":%" PRIu64
            ",\"connection_limit_hits\":%" PRIu64 ",\"bodies_too_large\":%" PRIu64
            ",\"heads_too_large\":%" PRIu64 ",\"response_pauses\":%" PRIu64,
            t->requests_malformed, t->h2_glitch_closes, t->connection_limit_hits,
            t->bodies_too_large, t->heads_too_large, t->response_pauses);
    fprintf(out,
            ",\"events_sent\":%" PRIu64 ",\"events_dropped\":%" PRIu64
            ",\"access_log_lines\":%" PRIu64 ",\"access_log_dropped\":%" PRIu64,
            t->events_sent, t->events_dropped, t->access_log_lines, t->access_log_dropped);
    fprintf(out, ",\"per_worker\":[");
    print_json_workers(out, seg);
    fprintf(out, "],\"backends\":[");
    for (uint32_t b = 0; b < h->backend_count; b++) {
        const struct sl_stats_backend *g = &t->backends[b];
        fprintf(out,
                "{\"name\":\"%s\",\"inflight\":%" PRIu64 ",\"queued\":%" PRIu64
                ",\"limit\":%" PRIu64 ",\"knee\":%" PRIu64 ",\"no_load_ms\":%.3f"
                ",\"probing\":%" PRIu64 ",\"connect_errors\":%" PRIu64 ",\"timeouts\":%" PRIu64
                ",\"failures\":%" PRIu64 ",\"servers_ejected\":%" PRIu64 ",\"ejections\":%" PRIu64
                ",\"health_checks_failed\":%" PRIu64 ",",
                h->backend_names[b], g->inflight, g->queued, g->limit, g->knee,
                g->no_load_us / 1000.0, g->probing, g->connect_errors, g->timeouts, g->failures,
                g->servers_ejected, g->ejections, g->health_checks_failed);
        print_json_latency(out, &t->latency_by_backend[b]);
        fprintf(out, ",\"classes\":[");
        for (uint32_t c = 0; c < h->class_count; c++)
            print_json_class(out, h, c, &t->counts[b][c], c + 1 == h->class_count);
        fprintf(out, "]}%s", b + 1 < h->backend_count ? "," : "");
    }
    fprintf(out, "],\"classes\":[");
    for (uint32_t c = 0; c < h->class_count; c++) {
        fprintf(out, "{\"name\":\"%s\",", h->class_names[c]);
        print_json_latency(out, &t->latency_by_class[c]);
        fprintf(out, ",");
        print_json_histogram(out, "shed_answers", "shed_", &t->shed_latency_by_class[c]);
        fprintf(out, "}%s", c + 1 < h->class_count ? "," : "");
    }
    fprintf(out, "]}\n");
}

/* ---- Prometheus ---- */

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter with no labels. */
static void scalar_counter(FILE *out, const char *name, const char *help, uint64_t value)
{
    family(out, name, "counter", help);
    fprintf(out, "%s %" PRIu64 "\n", name, value);
}

/* One series per backend and class, of the uint64_t at offset in the counts. */
static void class_family(FILE *out, const struct sl_stats_segment *seg,
                         const struct sl_stats_worker *t, const char *name, const char *type,
                         const char *help, size_t offset)
{
    const struct sl_stats_header *h = &seg->header;
    family(out, name, type, help);
    for (uint32_t b = 0; b < h->backend_count; b++) {
        for (uint32_t c = 0; c < h->class_count; c++) {
            const char *counts = (const char *)&t->counts[b][c];
            fprintf(out, "%s{backend=\"%s\",class=\"%s\"} %" PRIu64 "\n", name, h->backend_names[b],
                    h->class_names[c], *(const uint64_t *)(counts + offset));
        }
    }
}

static void counts_family(FILE *out, const struct sl_stats_segment *seg,
                          const struct sl_stats_worker *t, const char *name, const char *help,
                          size_t offset)
{
    class_family(out, seg, t, name, "counter", help, offset);
}

static void class_gauge(FILE *out, const struct sl_stats_segment *seg,
                        const struct sl_stats_worker *t, const char *name, const char *help,
                        size_t offset)
{
    class_family(out, seg, t, name, "gauge", help, offset);
}

static void shed_family(FILE *out, const struct sl_stats_segment *seg,
                        const struct sl_stats_worker *t)
{
    const struct sl_stats_header *h = &seg->header;
    family(out, "sluice_requests_shed_total", "counter",
           "Requests answered by their class's shed answer, by reason.");
    for (uint32_t b = 0; b < h->backend_count; b++) {
        for (uint32_t c = 0; c < h->class_count; c++) {
            for (int r = 0; r < SL_SHED_REASON_COUNT; r++) {
                fprintf(out,
                        "sluice_requests_shed_total{backend=\"%s\",class=\"%s\",reason=\"%s\"} "
                        "%" PRIu64 "\n",
                        h->backend_names[b], h->class_names[c],
                        sl_shed_reason_name((enum sl_shed_reason)r), t->counts[b][c].shed[r]);
            }
        }
    }
}

static void responses_family(FILE *out, const struct sl_stats_segment *seg,
                             const struct sl_stats_worker *t)
{
    const struct sl_stats_header *h = &seg->header;
    family(out, "sluice_responses_total", "counter",
           "Answers sent to clients (proxied or sluice's own), by status class.");
    for (uint32_t b = 0; b < h->backend_count; b++) {
        for (uint32_t c = 0; c < h->class_count; c++) {
            for (int s = 0; s < 5; s++) {
                fprintf(out,
                        "sluice_responses_total{backend=\"%s\",class=\"%s\",code=\"%dxx\"} "
                        "%" PRIu64 "\n",
                        h->backend_names[b], h->class_names[c], s + 1,
                        t->counts[b][c].responses[s]);
            }
        }
    }
}

static void backend_family(FILE *out, const struct sl_stats_segment *seg,
                           const struct sl_stats_worker *t, const char *name, const char *type,
                           const char *help, size_t offset)
{
    const struct sl_stats_header *h = &seg->header;
    family(out, name, type, help);
    for (uint32_t b = 0; b < h->backend_count; b++) {
        const char *g = (const char *)&t->backends[b];
        fprintf(out, "%s{backend=\"%s\"} %" PRIu64 "\n", name, h->backend_names[b],
                *(const uint64_t *)(g + offset));
    }
}

static void backend_gauge(FILE *out, const struct sl_stats_segment *seg,
                          const struct sl_stats_worker *t, const char *name, const char *help,
                          size_t offset)
{
    backend_family(out, seg, t, name, "gauge", help, offset);
}

static void backend_counter(FILE *out, const struct sl_stats_segment *seg,
                            const struct sl_stats_worker *t, const char *name, const char *help,
                            size_t offset)
{
    backend_family(out, seg, t, name, "counter", help, offset);
}

static void histogram_series(FILE *out, const char *name, const char *label, const char *value,
                             const struct sl_histogram *hist)
{
    struct sl_hist_le buckets[SL_HIST_PROM_BOUNDS];
    size_t n = sl_hist_prometheus_buckets(hist, buckets);
    for (size_t i = 0; i < n; i++) {
        if (buckets[i].le_us == UINT64_MAX)
            fprintf(out, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, label, value,
                    buckets[i].count);
        else
            fprintf(out, "%s_bucket{%s=\"%s\",le=\"%.6f\"} %" PRIu64 "\n", name, label, value,
                    (double)buckets[i].le_us / 1e6, buckets[i].count);
    }
    /* _count from the buckets, so that it equals the +Inf bucket (histogram.h) */
    fprintf(out, "%s_sum{%s=\"%s\"} %.6f\n%s_count{%s=\"%s\"} %" PRIu64 "\n", name, label, value,
            (double)__atomic_load_n(&hist->sum_us, __ATOMIC_RELAXED) / 1e6, name, label, value,
            sl_hist_total(hist));
}

static void gauge(FILE *out, const char *name, const char *help, uint64_t value)
{
    family(out, name, "gauge", help);
    fprintf(out, "%s %" PRIu64 "\n", name, value);
}

void sl_stats_render_prometheus(FILE *out, const struct sl_stats_segment *seg,
                                const struct sl_stats_worker *t)
{
    const struct sl_stats_header *h = &seg->header;
    unsigned live;
    sl_stats_newest_update(seg, &live);
    gauge(out, "sluice_workers", "Worker processes with a stats slot.", live);
    gauge(out, "sluice_connections_open", "Client connections open now.", t->connections_open);
    gauge(out, "sluice_streams_open", "Client streams open now.", t->streams_open);
    gauge(out, "sluice_overload_level",
          "Overload level of the most loaded worker: the number of classes shed at the door.",
          t->overload_level);
    counts_family(out, seg, t, "sluice_requests_received_total",
                  "Requests given to a backend's admission, by class.",
                  offsetof(struct sl_stats_counts, received));
    counts_family(out, seg, t, "sluice_requests_admitted_total",
                  "Requests admitted to a backend, by class.",
                  offsetof(struct sl_stats_counts, admitted));
    shed_family(out, seg, t);
    responses_family(out, seg, t);
    scalar_counter(out, "sluice_client_bytes_received_total", "Bytes read from client connections.",
                   t->bytes_in);
    scalar_counter(out, "sluice_client_bytes_sent_total", "Bytes written to client connections.",
                   t->bytes_out);
    counts_family(out, seg, t, "sluice_requests_cancelled_total",
                  "Queued requests whose client gave up.",
                  offsetof(struct sl_stats_counts, cancelled));
    backend_gauge(out, seg, t, "sluice_backend_inflight", "Requests in flight to the backend.",
                  offsetof(struct sl_stats_backend, inflight));
    backend_gauge(out, seg, t, "sluice_backend_queued", "Requests waiting for admission.",
                  offsetof(struct sl_stats_backend, queued));
    backend_gauge(out, seg, t, "sluice_backend_limit", "The backend's concurrency limit now.",
                  offsetof(struct sl_stats_backend, limit));
    backend_gauge(out, seg, t, "sluice_backend_knee",
                  "The adaptive limiter's highest limit known good; 0: not known.",
                  offsetof(struct sl_stats_backend, knee));
    backend_gauge(out, seg, t, "sluice_backend_no_load_microseconds",
                  "The adaptive limiter's no-load latency, from its last probe.",
                  offsetof(struct sl_stats_backend, no_load_us));
    backend_gauge(out, seg, t, "sluice_backend_probing",
                  "Workers whose adaptive limiter is probing the no-load latency.",
                  offsetof(struct sl_stats_backend, probing));
    class_gauge(out, seg, t, "sluice_class_queued", "Requests of the class waiting for admission.",
                offsetof(struct sl_stats_counts, queued));
    class_gauge(out, seg, t, "sluice_class_backlog_microseconds",
                "The predicted time to drain the class's queue (the worst worker's).",
                offsetof(struct sl_stats_counts, backlog_us));
    backend_counter(out, seg, t, "sluice_backend_connect_errors_total",
                    "Connections to the backend refused, unreachable or timed out.",
                    offsetof(struct sl_stats_backend, connect_errors));
    backend_counter(out, seg, t, "sluice_backend_timeouts_total",
                    "Requests the backend did not answer within response_timeout_ms.",
                    offsetof(struct sl_stats_backend, timeouts));
    backend_counter(out, seg, t, "sluice_backend_failures_total",
                    "Exchanges broken mid-way or answered with garbage.",
                    offsetof(struct sl_stats_backend, failures));
    backend_gauge(out, seg, t, "sluice_backend_servers_ejected",
                  "Servers out of rotation now for failing in a row (the worst worker's).",
                  offsetof(struct sl_stats_backend, servers_ejected));
    backend_counter(out, seg, t, "sluice_backend_ejections_total",
                    "Times a server was taken out of rotation.",
                    offsetof(struct sl_stats_backend, ejections));
    backend_counter(out, seg, t, "sluice_backend_health_checks_failed_total",
                    "Health checks of ejected servers that did not pass.",
                    offsetof(struct sl_stats_backend, health_checks_failed));
    family(out, "sluice_connections_accepted_total", "counter",
           "Client connections accepted, by protocol.");
    prometheus_by_protocol(out, "sluice_connections_accepted_total", t->accepted);
    family(out, "sluice_requests_by_protocol_total", "counter",
           "Requests finished, by the client connection's protocol.");
    prometheus_by_protocol(out, "sluice_requests_by_protocol_total", t->requests);
    scalar_counter(out, "sluice_requests_malformed_total",
                   "HTTP/1.1 request heads refused before they were read (400, 408, 431), and "
                   "HTTP/2 requests reset as malformed (PROTOCOL_ERROR).",
                   t->requests_malformed);
    scalar_counter(
        out, "sluice_response_pauses_total",
        "Times reading a backend paused: response_buffer_bytes waited for a slow client.",
        t->response_pauses);
    scalar_counter(out, "sluice_bodies_too_large_total",
                   "Requests answered 413: a body over its class's max_body_bytes.",
                   t->bodies_too_large);
    scalar_counter(out, "sluice_heads_too_large_total",
                   "Requests answered 431: a head over max_request_header_bytes, either protocol.",
                   t->heads_too_large);
    scalar_counter(out, "sluice_connection_limit_hits_total",
                   "Times a worker held max_client_connections and stopped accepting.",
                   t->connection_limit_hits);
    scalar_counter(out, "sluice_h2_glitch_closes_total",
                   "HTTP/2 connections closed with ENHANCE_YOUR_CALM: frames that did no work "
                   "went over client_glitch_limit.",
                   t->h2_glitch_closes);
    scalar_counter(out, "sluice_events_sent_total", "Lines the event sink sent to the aggregator.",
                   t->events_sent);
    scalar_counter(out, "sluice_events_dropped_total",
                   "Lines the event sink dropped: the aggregator's socket refused them.",
                   t->events_dropped);
    scalar_counter(out, "sluice_access_log_lines_total", "Lines written to the access log.",
                   t->access_log_lines);
    scalar_counter(out, "sluice_access_log_dropped_total",
                   "Access log lines that could not be written.", t->access_log_dropped);
    family(out, "sluice_response_latency_seconds", "histogram",
           "Arrival to the end of a proxied response, by class.");
    for (uint32_t c = 0; c < h->class_count; c++)
        histogram_series(out, "sluice_response_latency_seconds", "class", h->class_names[c],
                         &t->latency_by_class[c]);
    family(out, "sluice_shed_answer_latency_seconds", "histogram",
           "Arrival to the end of sluice's own answer to a shed request, by class.");
    for (uint32_t c = 0; c < h->class_count; c++)
        histogram_series(out, "sluice_shed_answer_latency_seconds", "class", h->class_names[c],
                         &t->shed_latency_by_class[c]);
    family(out, "sluice_backend_response_latency_seconds", "histogram",
           "Arrival to the end of a proxied response, by backend.");
    for (uint32_t b = 0; b < h->backend_count; b++)
        histogram_series(out, "sluice_backend_response_latency_seconds", "backend",
                         h->backend_names[b], &t->latency_by_backend[b]);
}

/* ---- connections ---- */

/* Bytes in the well-formed UTF-8 sequence starting at p (RFC 3629), or 0. */
static size_t utf8_length(const unsigned char *p)
{
    size_t len = p[0] >= 0xC2 && p[0] <= 0xDF   ? 2
                 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
                 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
                                                : 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    }
    return len;
}

/* A JSON string: quotes, backslashes and control characters escaped, and a
 * byte that is not UTF-8 (a Unix socket path may hold any) as U+FFFD. */
static void json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0';) {
        size_t len = *p < 0x80 ? 1 : utf8_length(p);
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else if (len == 0)
            fputs("\\ufffd", out);
        else
            fwrite(p, 1, len, out);
        p += len > 0 ? len : 1;
    }
    fputc('"', out);
}

static bool passes(const struct sl_stats_header *h, const struct sl_stats_conn *row,
                   const struct sl_conn_filter *f)
{
    if (f == NULL)
        return true;
    if (f->listener != NULL && (row->listener_index >= h->listener_count ||
                                strcmp(h->listener_names[row->listener_index], f->listener) != 0))
        return false;
    if (f->peer != NULL && strstr(row->peer, f->peer) == NULL)
        return false;
    return row->streams_open >= f->min_streams;
}

void sl_stats_each_connection(const struct sl_stats_segment *seg,
                              const struct sl_conn_filter *filter, sl_conn_visit_fn visit,
                              void *ctx)
{
    const struct sl_stats_header *h = &seg->header;
    for (uint32_t w = 0; w < h->worker_slots; w++) {
        if (seg->workers[w].pid == 0)
            continue;
        for (uint32_t i = 0; i < SL_STATS_CONN_ROWS; i++) {
            struct sl_stats_conn row;
            if (sl_stats_conn_read(&seg->workers[w].conns[i], &row) && passes(h, &row, filter))
                visit(ctx, w, &row);
        }
    }
}

struct json_conns {
    FILE *out;
    const struct sl_stats_header *h;
    uint64_t now_ms;
    unsigned count;
};

static double seconds_between(uint64_t from_ms, uint64_t to_ms)
{
    return to_ms > from_ms ? (double)(to_ms - from_ms) / 1000 : 0;
}

static void json_connection(void *ctx, unsigned worker, const struct sl_stats_conn *row)
{
    struct json_conns *j = ctx;
    FILE *out = j->out;
    fprintf(out, "%s{\"worker\":%u,\"id\":%" PRIu64 ",\"peer\":", j->count++ ? "," : "", worker,
            row->id);
    json_string(out, row->peer);
    fprintf(out, ",\"listener\":");
    json_string(out, row->listener_index < j->h->listener_count
                         ? j->h->listener_names[row->listener_index]
                         : "");
    fprintf(out, ",\"protocol\":\"%s\",\"tls\":", sl_stats_protocol_name(row->protocol));
    if (row->tls_version[0] != '\0')
        json_string(out, row->tls_version);
    else
        fprintf(out, "null");
    fprintf(out,
            ",\"streams\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"bytes_in\":%" PRIu64
            ",\"bytes_out\":%" PRIu64 ",\"age_s\":%.1f,\"idle_s\":%.1f}",
            row->streams_open, row->requests, row->bytes_in, row->bytes_out,
            seconds_between(row->opened_unix_ms, j->now_ms),
            seconds_between(row->active_unix_ms, j->now_ms));
}

void sl_stats_render_connections(FILE *out, const struct sl_stats_segment *seg,
                                 const struct sl_conn_filter *filter, uint64_t now_unix_ms)
{
    struct json_conns j = {.out = out, .h = &seg->header, .now_ms = now_unix_ms};
    uint64_t untracked = 0;
    for (uint32_t w = 0; w < seg->header.worker_slots; w++)
        untracked += seg->workers[w].conns_untracked;
    fprintf(out, "{\"connections\":[");
    sl_stats_each_connection(seg, filter, json_connection, &j);
    fprintf(out, "],\"untracked\":%" PRIu64 "}\n", untracked);
}
