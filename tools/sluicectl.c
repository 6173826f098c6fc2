/* sluicectl: the operator's view of a running sluice.
 *
 *   sluicectl stats [--json] (-c CONFIG | -s SEGMENT)
 *   sluicectl top (-c CONFIG | -s SEGMENT)
 *   sluicectl connections [--json] (-c CONFIG | -s SEGMENT)
 *   sluicectl reload -c CONFIG
 *   sluicectl check -c CONFIG
 *
 * It reads the stats segment (proxy/stats/stats.h) directly, so it works whether or
 * not anything else in sluice answers, and never touches the workers. */
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "config_check.h"
#include "stats.h"
#include "sluicectl_top.h"
#include "stats_render.h"

static void print_usage(FILE *out)
{
    fprintf(out, "usage: sluicectl stats [--json] (-c CONFIG | -s SEGMENT)\n"
                 "       sluicectl top (-c CONFIG | -s SEGMENT)\n"
                 "       sluicectl connections [--json] (-c CONFIG | -s SEGMENT)\n"
                 "       sluicectl reload -c CONFIG\n"
                 "       sluicectl check -c CONFIG\n"
                 "  stats        counts per backend and class, shed reasons, backend gauges\n"
                 "  top          the same live, per second, full screen (q quits)\n"
                 "  connections  the live client connections of every worker\n"
                 "  reload       make the running sluice (CONFIG's pid_file) reload\n"
                 "  check        check CONFIG as sluice -t does\n"
                 "  -c CONFIG    read the segment named by CONFIG's stats_path\n"
                 "  -s SEGMENT   read the segment file directly\n"
                 "  --json       print JSON instead of tables\n");
}

/* The segment path from a config file, or NULL with the reason printed. */
static const char *segment_of_config(const char *config_path, struct sl_config **cfg)
{
    char err[1024];
    if (sl_config_load(config_path, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluicectl: %s\n", err);
        return NULL;
    }
    if ((*cfg)->stats_path == NULL) {
        fprintf(stderr, "sluicectl: %s sets no stats_path: sluice keeps no stats segment\n",
                config_path);
        return NULL;
    }
    return (*cfg)->stats_path;
}

static uint64_t shed_total(const struct sl_stats_counts *c)
{
    uint64_t n = 0;
    for (int r = 0; r < SL_SHED_REASON_COUNT; r++)
        n += c->shed[r];
    return n;
}

static double seconds_since(uint64_t unix_ms)
{
    uint64_t now_ms = sl_clock_unix_ms();
    return now_ms > unix_ms ? (double)(now_ms - unix_ms) / 1000 : 0;
}

/* A percentile in ms for tables: "-" with no sample, ">134217" past the last
 * bucket (histogram.h). */
static const char *ms_text(const struct sl_histogram *h, double p, char *buf, size_t len)
{
    uint64_t us = sl_hist_percentile(h, p);
    if (sl_hist_total(h) == 0)
        snprintf(buf, len, "-");
    else if (us == UINT64_MAX)
        snprintf(buf, len, ">%" PRIu64, (SL_HIST_OVERFLOW_US - 1) / 1000);
    else /* two decimals below 1 ms: a shed answer's p99 is a fraction of one */
        snprintf(buf, len, us < 1000 ? "%.2f" : "%.1f", (double)us / 1000);
    return buf;
}

static void print_latency_row(const char *name, const struct sl_histogram *h)
{
    char p50[32], p99[32], p999[32];
    printf("%-16.16s %10" PRIu64 " %10s %10s %10s\n", name, sl_hist_total(h),
           ms_text(h, 50, p50, sizeof(p50)), ms_text(h, 99, p99, sizeof(p99)),
           ms_text(h, 99.9, p999, sizeof(p999)));
}

static void print_tables(const struct sl_stats_segment *seg, const struct sl_stats_worker *t,
                         const char *path)
{
    const struct sl_stats_header *h = &seg->header;
    unsigned live;
    uint64_t updated = sl_stats_newest_update(seg, &live);
    printf("%s: %u worker%s, updated %.1f s ago\n", path, live, live == 1 ? "" : "s",
           seconds_since(updated));
    printf("connections open %" PRIu64 ", streams open %" PRIu64 ", overload level %" PRIu64
           ", events sent %" PRIu64 ", dropped %" PRIu64 "\n\n",
           t->connections_open, t->streams_open, t->overload_level, t->events_sent,
           t->events_dropped);
    printf("%-16s %-12s %10s %10s %10s", "backend", "class", "received", "admitted", "shed");
    for (int r = 0; r < SL_SHED_REASON_COUNT; r++)
        printf(" %13s", sl_shed_reason_name((enum sl_shed_reason)r));
    printf(" %10s\n", "cancelled");
    for (uint32_t b = 0; b < h->backend_count; b++) {
        for (uint32_t c = 0; c < h->class_count; c++) {
            const struct sl_stats_counts *n = &t->counts[b][c];
            printf("%-16.16s %-12.12s %10" PRIu64 " %10" PRIu64 " %10" PRIu64, h->backend_names[b],
                   h->class_names[c], n->received, n->admitted, shed_total(n));
            for (int r = 0; r < SL_SHED_REASON_COUNT; r++)
                printf(" %13" PRIu64, n->shed[r]);
            printf(" %10" PRIu64 "\n", n->cancelled);
        }
    }
    printf("\n%-16s %10s %10s %10s %10s %11s\n", "backend", "in flight", "queued", "limit", "knee",
           "no-load ms");
    for (uint32_t b = 0; b < h->backend_count; b++) {
        const struct sl_stats_backend *g = &t->backends[b];
        printf("%-16.16s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %11.2f\n",
               h->backend_names[b], g->inflight, g->queued, g->limit, g->knee,
               g->no_load_us / 1000.0);
    }
    printf("\nlatency in ms, from arrival to the end of a proxied response\n");
    printf("%-16s %10s %10s %10s %10s\n", "class/backend", "responses", "p50", "p99", "p99.9");
    for (uint32_t c = 0; c < h->class_count; c++)
        print_latency_row(h->class_names[c], &t->latency_by_class[c]);
    for (uint32_t b = 0; b < h->backend_count; b++)
        print_latency_row(h->backend_names[b], &t->latency_by_backend[b]);
    printf("\nlatency in ms, from arrival to the end of a shed request's answer\n");
    printf("%-16s %10s %10s %10s %10s\n", "class", "answers", "p50", "p99", "p99.9");
    for (uint32_t c = 0; c < h->class_count; c++)
        print_latency_row(h->class_names[c], &t->shed_latency_by_class[c]);
}

/* The same check as sluice -t. */
static int check(const char *config_path)
{
    struct sl_config *cfg;
    char err[1024];
    if (sl_config_check(config_path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sl_config_free(cfg);
    printf("configuration ok\n");
    return 0;
}

static int reload(const char *config_path)
{
    char err[1024];
    if (sl_config_signal_master(config_path, SIGHUP, err, sizeof(err)) == 0)
        return 0;
    fprintf(stderr, "sluicectl: %s\n", err);
    return 1;
}

static void print_connection(void *ctx, unsigned worker, const struct sl_stats_conn *row)
{
    const struct sl_stats_header *h = ctx;
    uint64_t now = sl_clock_unix_ms();
    char protocol[32];
    printf("%6u %8" PRIu64 " %-24.24s %-16.16s %-14s %7" PRIu64 " %9" PRIu64 " %11" PRIu64
           " %11" PRIu64 " %8.1f %8.1f\n",
           worker, row->id, row->peer,
           row->listener_index < h->listener_count ? h->listener_names[row->listener_index] : "",
           sl_stats_conn_protocol(row, protocol, sizeof(protocol)), row->streams_open,
           row->requests, row->bytes_in, row->bytes_out,
           now > row->opened_unix_ms ? (double)(now - row->opened_unix_ms) / 1000 : 0.0,
           now > row->active_unix_ms ? (double)(now - row->active_unix_ms) / 1000 : 0.0);
}

static int print_connections(const struct sl_stats_segment *seg, bool is_json)
{
    if (is_json) {
        sl_stats_render_connections(stdout, seg, NULL, sl_clock_unix_ms());
        return 0;
    }
    printf("%6s %8s %-24s %-16s %-14s %7s %9s %11s %11s %8s %8s\n", "worker", "id", "peer",
           "listener", "protocol", "streams", "requests", "bytes in", "bytes out", "age s",
           "idle s");
    sl_stats_each_connection(seg, NULL, print_connection, (void *)&seg->header);
    return 0;
}

static int print_stats(const struct sl_stats_segment *seg, const char *path, bool is_json)
{
    struct sl_stats_worker *total = malloc(sizeof(*total)); /* too big for the stack */
    if (total == NULL) {
        fprintf(stderr, "sluicectl: out of memory\n");
        return 1;
    }
    sl_stats_sum(seg, total);
    if (is_json)
        sl_stats_render_json(stdout, seg, total);
    else
        print_tables(seg, total, path);
    free(total);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *segment_path = NULL;
    bool is_json = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 's':
            segment_path = optarg;
            break;
        case 'j':
            is_json = true;
            break;
        case 'h':
            print_usage(stdout);
            return 0;
        default:
            print_usage(stderr);
            return 2;
        }
    }
    bool is_config_only =
        optind + 1 == argc && config_path != NULL && segment_path == NULL && !is_json;
    if (is_config_only && strcmp(argv[optind], "reload") == 0)
        return reload(config_path);
    if (is_config_only && strcmp(argv[optind], "check") == 0)
        return check(config_path);
    bool is_top = optind + 1 == argc && strcmp(argv[optind], "top") == 0;
    bool is_stats = optind + 1 == argc && strcmp(argv[optind], "stats") == 0;
    bool is_conns = optind + 1 == argc && strcmp(argv[optind], "connections") == 0;
    if ((!is_top && !is_stats && !is_conns) || (is_top && is_json) ||
        (config_path == NULL) == (segment_path == NULL)) {
        print_usage(stderr);
        return 2;
    }
    struct sl_config *cfg = NULL;
    if (config_path != NULL && (segment_path = segment_of_config(config_path, &cfg)) == NULL)
        return 1;
    const struct sl_stats_segment *seg;
    char err[1024];
    int status = 0;
    if (sl_stats_open(segment_path, &seg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluicectl: %s\n", err);
        status = 1;
    } else {
        status = is_top     ? sl_top_run(&seg, segment_path)
                 : is_conns ? print_connections(seg, is_json)
                            : print_stats(seg, segment_path, is_json);
        sl_stats_unmap(seg);
    }
    sl_config_free(cfg);
    return status;
}
