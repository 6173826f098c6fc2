/* sluicectl top: a full-screen view of the stats segment, refreshed every
 * second, like top. Figures are per second over the last refresh: two
 * snapshots of the summed slots a second apart, and their difference (counts
 * and latency histograms alike, so the p99 shown is the last second's). */
#include "sluicectl_top.h"

#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stats_render.h"

#define REFRESH_MS 1000

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t shed_sum(const struct sl_stats_counts *c)
{
    uint64_t n = 0;
    for (int r = 0; r < SL_SHED_REASON_COUNT; r++)
        n += c->shed[r];
    return n;
}

/* Counts of class c over every backend. */
static struct sl_stats_counts class_counts(const struct sl_stats_worker *t, uint32_t backends,
                                           uint32_t c)
{
    struct sl_stats_counts sum;
    memset(&sum, 0, sizeof(sum));
    for (uint32_t b = 0; b < backends; b++) {
        sum.received += t->counts[b][c].received;
        sum.admitted += t->counts[b][c].admitted;
        sum.cancelled += t->counts[b][c].cancelled;
        for (int r = 0; r < SL_SHED_REASON_COUNT; r++)
            sum.shed[r] += t->counts[b][c].shed[r];
        sum.queued += t->counts[b][c].queued;
        if (t->counts[b][c].backlog_us > sum.backlog_us)
            sum.backlog_us = t->counts[b][c].backlog_us;
    }
    return sum;
}

/* The last interval's p99 in ms, from the difference of two histograms; -1
 * without samples. */
static double interval_p99_ms(const struct sl_histogram *now, const struct sl_histogram *before)
{
    struct sl_histogram delta;
    memset(&delta, 0, sizeof(delta));
    for (size_t i = 0; i < SL_HIST_BUCKETS; i++)
        delta.counts[i] = now->counts[i] - before->counts[i];
    if (sl_hist_total(&delta) == 0)
        return -1;
    uint64_t us = sl_hist_percentile(&delta, 99);
    return us == UINT64_MAX ? (double)SL_HIST_OVERFLOW_US / 1000 : (double)us / 1000;
}

/* Two decimals below 1 ms: a shed answer's p99 is a fraction of one. */
static void print_p99(double ms)
{
    if (ms < 0)
        printf(" %9s", "-");
    else
        printf(ms < 1 ? " %9.2f" : " %9.1f", ms);
}

/* The reason behind most of the interval's sheds, or "". */
static const char *main_reason(const struct sl_stats_counts *now,
                               const struct sl_stats_counts *before)
{
    uint64_t most = 0;
    const char *name = "";
    for (int r = 0; r < SL_SHED_REASON_COUNT; r++) {
        uint64_t n = now->shed[r] - before->shed[r];
        if (n > most) {
            most = n;
            name = sl_shed_reason_name((enum sl_shed_reason)r);
        }
    }
    return name;
}

static void draw_classes(const struct sl_stats_header *h, const struct sl_stats_worker *now,
                         const struct sl_stats_worker *before, double seconds)
{
    printf("\n%-16s %10s %10s %8s %-14s %9s %9s %7s %10s\n", "CLASS", "req/s", "admitted/s",
           "shed %", "mostly", "p99 ms", "shed p99", "queued", "backlog ms");
    for (uint32_t c = 0; c < h->class_count; c++) {
        struct sl_stats_counts a = class_counts(now, h->backend_count, c);
        struct sl_stats_counts b = class_counts(before, h->backend_count, c);
        uint64_t received = a.received - b.received, shed = shed_sum(&a) - shed_sum(&b);
        printf("%-16.16s %10.0f %10.0f %7.1f%% %-14s", h->class_names[c], received / seconds,
               (a.admitted - b.admitted) / seconds, received ? 100.0 * shed / received : 0.0,
               main_reason(&a, &b));
        print_p99(interval_p99_ms(&now->latency_by_class[c], &before->latency_by_class[c]));
        print_p99(
            interval_p99_ms(&now->shed_latency_by_class[c], &before->shed_latency_by_class[c]));
        printf(" %7" PRIu64 " %10.1f\n", a.queued, a.backlog_us / 1000.0);
    }
}

static void draw_backends(const struct sl_stats_header *h, const struct sl_stats_worker *now,
                          const struct sl_stats_worker *before)
{
    printf("\n%-16s %10s %10s %10s %6s %9s %9s\n", "BACKEND", "in flight", "queued", "limit",
           "knee", "no-load", "p99 ms");
    for (uint32_t b = 0; b < h->backend_count; b++) {
        const struct sl_stats_backend *g = &now->backends[b];
        printf("%-16.16s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %6" PRIu64 " %9.2f",
               h->backend_names[b], g->inflight, g->queued, g->limit, g->knee,
               g->no_load_us / 1000.0);
        print_p99(interval_p99_ms(&now->latency_by_backend[b], &before->latency_by_backend[b]));
        printf("\n");
    }
}

#define BUSIEST 5

/* The BUSIEST connections by streams open, then bytes moved. */
struct busiest {
    struct sl_stats_conn rows[BUSIEST];
    unsigned workers[BUSIEST];
    unsigned count;
};

static bool is_busier(const struct sl_stats_conn *a, const struct sl_stats_conn *b)
{
    if (a->streams_open != b->streams_open)
        return a->streams_open > b->streams_open;
    return a->bytes_in + a->bytes_out > b->bytes_in + b->bytes_out;
}

static void keep_if_busy(void *ctx, unsigned worker, const struct sl_stats_conn *row)
{
    struct busiest *top = ctx;
    unsigned at = top->count < BUSIEST ? top->count++ : BUSIEST;
    if (at == BUSIEST) {
        if (!is_busier(row, &top->rows[BUSIEST - 1]))
            return;
        at = BUSIEST - 1;
    }
    while (at > 0 && is_busier(row, &top->rows[at - 1])) { /* insertion, kept sorted */
        top->rows[at] = top->rows[at - 1];
        top->workers[at] = top->workers[at - 1];
        at--;
    }
    top->rows[at] = *row;
    top->workers[at] = worker;
}

static void draw_connections(const struct sl_stats_segment *seg)
{
    struct busiest top = {.count = 0};
    sl_stats_each_connection(seg, NULL, keep_if_busy, &top);
    char protocol[32];
    printf("\n%-24s %6s %-14s %8s %10s %12s %12s\n", "BUSIEST CONNECTIONS", "worker", "protocol",
           "streams", "requests", "bytes in", "bytes out");
    for (unsigned i = 0; i < top.count; i++) {
        const struct sl_stats_conn *c = &top.rows[i];
        printf("%-24.24s %6u %-14s %8" PRIu64 " %10" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n",
               c->peer, top.workers[i], sl_stats_conn_protocol(c, protocol, sizeof(protocol)),
               c->streams_open, c->requests, c->bytes_in, c->bytes_out);
    }
}

static void draw(const struct sl_stats_segment *seg, const struct sl_stats_worker *now,
                 const struct sl_stats_worker *before, double seconds, const char *path)
{
    unsigned live;
    sl_stats_newest_update(seg, &live);
    printf("\033[H\033[J"); /* home, clear: one frame */
    printf("sluice top - %s - %u worker%s - q quits\n", path, live, live == 1 ? "" : "s");
    printf("connections %" PRIu64 "  streams %" PRIu64 "  overload level %" PRIu64 "\n",
           now->connections_open, now->streams_open, now->overload_level);
    draw_classes(&seg->header, now, before, seconds);
    draw_backends(&seg->header, now, before);
    draw_connections(seg);
    fflush(stdout);
}

/* Waits until the deadline; true as soon as q or Ctrl-C is pressed (or stdin
 * closes). Other keys are read and ignored, so the interval stays a second. */
static bool wants_quit(uint64_t deadline_ms)
{
    for (uint64_t now = monotonic_ms(); now < deadline_ms; now = monotonic_ms()) {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        if (poll(&pfd, 1, (int)(deadline_ms - now)) <= 0)
            continue;
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n <= 0 || c == 'q' || c == 'Q' || c == 3 /* Ctrl-C: no signal in raw mode */)
            return true;
    }
    return false;
}

/* A reload replaces the segment's file: follow it to the new one. Returns
 * true when *seg changed (its figures do not continue the old ones). */
static bool follow_reload(const struct sl_stats_segment **seg, const char *path, ino_t *inode)
{
    struct stat st;
    if (stat(path, &st) != 0 || st.st_ino == *inode)
        return false;
    const struct sl_stats_segment *fresh;
    char err[512];
    if (sl_stats_open(path, &fresh, err, sizeof(err)) != 0)
        return false; /* being replaced right now: try again next second */
    sl_stats_unmap(*seg);
    *seg = fresh;
    *inode = st.st_ino;
    return true;
}

int sl_top_run(const struct sl_stats_segment **segment, const char *path)
{
    const struct sl_stats_segment *seg = *segment;
    struct stat st;
    ino_t inode = stat(path, &st) == 0 ? st.st_ino : 0;
    struct sl_stats_worker *now = malloc(sizeof(*now)), *before = malloc(sizeof(*before));
    if (now == NULL || before == NULL) {
        free(now);
        free(before);
        fprintf(stderr, "sluicectl: out of memory\n");
        return 1;
    }
    struct termios saved, raw;
    bool is_tty = tcgetattr(STDIN_FILENO, &saved) == 0;
    if (is_tty) { /* keys without Enter, no echo, Ctrl-C as a key */
        raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG);
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    printf("\033[?25l"); /* hide the cursor */
    sl_stats_sum(seg, before);
    uint64_t then = monotonic_ms();
    while (!wants_quit(then + REFRESH_MS)) {
        if (follow_reload(&seg, path, &inode)) { /* start over from the new figures */
            sl_stats_sum(seg, before);
            then = monotonic_ms();
            continue;
        }
        sl_stats_sum(seg, now);
        uint64_t at = monotonic_ms();
        draw(seg, now, before, (double)(at - then) / 1000, path);
        struct sl_stats_worker *swap = before;
        before = now;
        now = swap;
        then = at;
    }
    printf("\033[?25h\n");
    if (is_tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    free(now);
    free(before);
    *segment = seg;
    return 0;
}
