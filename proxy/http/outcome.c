#include "outcome.h"

#include "clock.h"
#include "config.h"
#include "events.h"
#include "plane.h"
#include "stats.h"

void sl_outcome_code(const struct sl_outcome *o, char out[3])
{
    static const char causes[] = "-CcSsPRK";
    static const char phases[] = "-RQCHDL";
    out[0] = causes[o->cause];
    out[1] = phases[o->phase];
    out[2] = '\0';
}

static void count_failure(struct sl_stats_backend *b, const struct sl_outcome *o)
{
    if (o->cause == SL_CAUSE_UPSTREAM && o->phase == SL_PHASE_CONNECT)
        b->connect_errors++;
    else if (o->cause == SL_CAUSE_UPSTREAM_TIMEOUT)
        b->timeouts++;
    else if (o->cause == SL_CAUSE_UPSTREAM)
        b->failures++;
}

void sl_outcome_publish(struct sl_plane *p, const struct sl_outcome *o)
{
    struct sl_stats_worker *stats = p->stats;
    stats->requests[o->protocol < SL_PROTO_SLOTS ? o->protocol : 0]++;
    if (o->backend == NULL) /* 431 and 501 come before the rules: no backend to count under */
        return;
    size_t b = o->backend->index;
    if (o->status >= 100 && o->status < 600)
        stats->counts[b][o->class_index].responses[o->status / 100 - 1]++;
    if (o->response_end_ns != 0) {
        uint64_t latency_us = (o->response_end_ns - o->arrival_ns) / 1000;
        sl_hist_record(&stats->latency_by_class[o->class_index], latency_us);
        sl_hist_record(&stats->latency_by_backend[b], latency_us);
        if (p->events != NULL)
            sl_events_sample(p->events, o->class_index, b, latency_us);
    }
    if (o->is_shed) /* its answer ends with the request: now */
        sl_hist_record(&stats->shed_latency_by_class[o->class_index],
                       (sl_clock_ns() - o->arrival_ns) / 1000);
    count_failure(&stats->backends[b], o);
}
