#include "events.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "events_line.h"
#include "stats.h"
#include "timeval_ms.h"

struct reservoir {
    uint32_t seen;                  /* responses this interval */
    uint32_t us[SL_EVENTS_SAMPLES]; /* min(seen, SL_EVENTS_SAMPLES) of their latencies */
};

/* Owned by its worker. Borrows cfg and slot, which outlive it. */
struct sl_events {
    const struct sl_config *cfg;
    const struct sl_events_config *ecfg;
    struct sl_stats_worker *slot;
    char worker_name[16];
    int fd; /* -1: not connected; tried again at the next flush */
    struct event *timer;
    struct sl_stats_counts *last_counts;    /* [backend][class]: the slot at the last flush */
    struct sl_stats_backend *last_backends; /* [backend] */
    struct reservoir *reservoirs;           /* [backend][class] */
    uint32_t random;
    struct sl_events_packer packer;
    bool is_started; /* everything above is allocated */
};

/* A name's labels: parts of the dotted name, or DogStatsD tags. */
struct label {
    const char *name;
    const char *value;
};

static size_t pair_index(const struct sl_events *ev, size_t backend, unsigned class_index)
{
    return backend * ev->cfg->class_count + class_index;
}

/* --- the socket --- */

static void connect_socket(struct sl_events *ev)
{
    const struct sl_addr *addr = &ev->ecfg->address;
    int fd = socket(addr->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0) {
        close(fd);
        return;
    }
    ev->fd = fd;
}

/* A Unix socket whose receiver went away is useless; a UDP one only reports
 * an earlier datagram's ICMP error and goes on working. */
static bool is_connection_lost(int err)
{
    return err == ECONNREFUSED || err == ENOTCONN || err == ENOENT || err == EPIPE;
}

static int send_datagram(void *arg, const char *data, size_t len)
{
    struct sl_events *ev = arg;
    if (ev->fd < 0)
        return -1;
    if (send(ev->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
        return 0;
    if (sl_addr_is_unix(&ev->ecfg->address) && is_connection_lost(errno)) {
        close(ev->fd);
        ev->fd = -1;
    }
    return -1;
}

/* --- lines --- */

static void emit(struct sl_events *ev, const char *group, const struct label *labels, size_t n,
                 const char *metric, double value, const char *type, double rate)
{
    const struct sl_events_config *e = ev->ecfg;
    struct sl_events_line line;
    sl_events_line_start(&line, e->prefix.text, e->prefix.len, group);
    if (!e->is_dogstatsd) {
        for (size_t i = 0; i < n; i++)
            sl_events_line_part(&line, labels[i].value);
    }
    if (metric != NULL)
        sl_events_line_part(&line, metric);
    sl_events_line_value(&line, value, type, rate);
    if (e->is_dogstatsd) {
        for (size_t i = 0; i < n; i++)
            sl_events_line_tag(&line, labels[i].name, labels[i].value);
        for (size_t i = 0; i < e->tag_count; i++)
            sl_events_line_tag(&line, e->tags[i].name.text, e->tags[i].value.text);
    }
    sl_events_pack(&ev->packer, &line);
}

static void emit_delta(struct sl_events *ev, const char *group, const struct label *labels,
                       size_t n, const char *metric, uint64_t now, uint64_t *last)
{
    uint64_t delta = now - *last;
    *last = now;
    if (delta > 0)
        emit(ev, group, labels, n, metric, (double)delta, "c", 1.0);
}

static const char *const status_classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

static void emit_requests(struct sl_events *ev, size_t b, unsigned c)
{
    const struct sl_config *cfg = ev->cfg;
    struct sl_stats_counts *now = &ev->slot->counts[b][c];
    struct sl_stats_counts *last = &ev->last_counts[pair_index(ev, b, c)];
    struct label labels[3] = {
        {"class", cfg->classes[c].name},
        {"backend", cfg->backends[b].name},
        {"status", NULL},
    };
    for (int s = 0; s < 5; s++) {
        labels[2].value = status_classes[s];
        emit_delta(ev, "requests", labels, 3, NULL, now->responses[s], &last->responses[s]);
    }
    labels[2].name = "reason";
    for (int r = 0; r < SL_SHED_REASON_COUNT; r++) {
        labels[2].value = sl_shed_reason_name((enum sl_shed_reason)r);
        emit_delta(ev, "shed", labels, 3, NULL, now->shed[r], &last->shed[r]);
    }
}

static void emit_backend(struct sl_events *ev, size_t b)
{
    const struct sl_stats_backend *now = &ev->slot->backends[b];
    struct sl_stats_backend *last = &ev->last_backends[b];
    struct label label = {"backend", ev->cfg->backends[b].name};
    emit_delta(ev, "backend", &label, 1, "connect_errors", now->connect_errors,
               &last->connect_errors);
    emit_delta(ev, "backend", &label, 1, "timeouts", now->timeouts, &last->timeouts);
    emit_delta(ev, "backend", &label, 1, "failures", now->failures, &last->failures);
    emit(ev, "backend", &label, 1, "inflight", (double)now->inflight, "g", 1.0);
    emit(ev, "backend", &label, 1, "queued", (double)now->queued, "g", 1.0);
    emit(ev, "backend", &label, 1, "limit", (double)now->limit, "g", 1.0);
}

static void emit_worker(struct sl_events *ev)
{
    struct label label = {"worker", ev->worker_name};
    emit(ev, "worker", &label, 1, "connections", (double)ev->slot->connections_open, "g", 1.0);
    emit(ev, "worker", &label, 1, "overload_level", (double)ev->slot->overload_level, "g", 1.0);
}

/* Each kept value stands for seen / kept responses: @rate tells the aggregator. */
static void emit_latencies(struct sl_events *ev, size_t b, unsigned c)
{
    struct reservoir *r = &ev->reservoirs[pair_index(ev, b, c)];
    if (r->seen == 0)
        return;
    uint32_t kept = r->seen < SL_EVENTS_SAMPLES ? r->seen : SL_EVENTS_SAMPLES;
    double rate = (double)kept / (double)r->seen;
    struct label labels[2] = {
        {"class", ev->cfg->classes[c].name},
        {"backend", ev->cfg->backends[b].name},
    };
    const char *type = ev->ecfg->is_dogstatsd ? "d" : "ms";
    for (uint32_t i = 0; i < kept; i++)
        emit(ev, "latency", labels, 2, NULL, r->us[i] / 1000.0, type, rate);
    r->seen = 0;
}

void sl_events_flush(struct sl_events *ev)
{
    if (ev->fd < 0)
        connect_socket(ev);
    const struct sl_config *cfg = ev->cfg;
    for (size_t b = 0; b < cfg->backend_count; b++) {
        for (unsigned c = 0; c < cfg->class_count; c++) {
            emit_requests(ev, b, c);
            emit_latencies(ev, b, c);
        }
        emit_backend(ev, b);
    }
    emit_worker(ev);
    sl_events_pack_flush(&ev->packer);
    ev->slot->events_sent = ev->packer.sent_lines;
    ev->slot->events_dropped = ev->packer.dropped_lines;
}

/* --- the hot path: one draw and one store --- */

static uint32_t next_random(struct sl_events *ev)
{
    uint32_t x = ev->random;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ev->random = x;
    return x;
}

/* Algorithm R: the kth response replaces a kept value with chance SAMPLES / k. */
void sl_events_sample(struct sl_events *ev, unsigned class_index, size_t backend_index,
                      uint64_t latency_us)
{
    struct reservoir *r = &ev->reservoirs[pair_index(ev, backend_index, class_index)];
    uint32_t us = latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_us;
    if (r->seen < SL_EVENTS_SAMPLES) {
        r->us[r->seen++] = us;
        return;
    }
    if (r->seen < UINT32_MAX)
        r->seen++;
    uint32_t slot = next_random(ev) % r->seen;
    if (slot < SL_EVENTS_SAMPLES)
        r->us[slot] = us;
}

/* --- lifetime --- */

static void on_send_timer(evutil_socket_t fd, short what, void *arg)
{
    sl_events_flush(arg);
}

/* The counters start where the slot is: a restarted worker's slot keeps its
 * totals, which were sent already. */
static int start_from_slot(struct sl_events *ev)
{
    const struct sl_config *cfg = ev->cfg;
    size_t pairs = cfg->backend_count * cfg->class_count;
    ev->last_counts = calloc(pairs, sizeof(*ev->last_counts));
    ev->last_backends = calloc(cfg->backend_count, sizeof(*ev->last_backends));
    ev->reservoirs = calloc(pairs, sizeof(*ev->reservoirs));
    ev->packer.buf = malloc(ev->ecfg->max_packet_bytes);
    if (!ev->last_counts || !ev->last_backends || !ev->reservoirs || !ev->packer.buf)
        return -1;
    for (size_t b = 0; b < cfg->backend_count; b++) {
        ev->last_backends[b] = ev->slot->backends[b];
        for (unsigned c = 0; c < cfg->class_count; c++)
            ev->last_counts[pair_index(ev, b, c)] = ev->slot->counts[b][c];
    }
    ev->packer.sent_lines = ev->slot->events_sent;
    ev->packer.dropped_lines = ev->slot->events_dropped;
    ev->is_started = true;
    return 0;
}

struct sl_events *sl_events_new(struct event_base *base, const struct sl_config *cfg,
                                struct sl_stats_worker *slot, unsigned index)
{
    struct sl_events *ev = calloc(1, sizeof(*ev));
    if (ev == NULL)
        return NULL;
    ev->cfg = cfg;
    ev->ecfg = &cfg->events;
    ev->slot = slot;
    ev->fd = -1;
    ev->random = 2463534242u ^ (index * 2654435761u);
    snprintf(ev->worker_name, sizeof(ev->worker_name), "%u", index);
    ev->packer = (struct sl_events_packer){
        .cap = cfg->events.max_packet_bytes,
        .send = send_datagram,
        .arg = ev,
    };
    ev->timer = event_new(base, -1, EV_PERSIST, on_send_timer, ev);
    struct timeval tv = sl_timeval_ms(cfg->events.flush_interval_ms);
    if (start_from_slot(ev) < 0 || ev->timer == NULL || event_add(ev->timer, &tv) != 0) {
        sl_events_free(ev);
        return NULL;
    }
    return ev;
}

void sl_events_free(struct sl_events *ev)
{
    if (ev == NULL)
        return;
    if (ev->is_started)
        sl_events_flush(ev);
    if (ev->timer)
        event_free(ev->timer);
    if (ev->fd >= 0)
        close(ev->fd);
    free(ev->packer.buf);
    free(ev->reservoirs);
    free(ev->last_backends);
    free(ev->last_counts);
    free(ev);
}
