#include "gate.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "request.h"
#include "sl_assert.h"
#include "plane.h"

static struct sl_request *request_of(struct sl_admission_entry *entry)
{
    return (struct sl_request *)((char *)entry - offsetof(struct sl_request, admission));
}

static void on_dispatch(evutil_socket_t fd, short what, void *arg)
{
    struct sl_gate *gate = arg;
    for (;;) {
        struct sl_admission_entry *entry;
        enum sl_shed_reason reason;
        enum sl_verdict v = sl_admission_next(&gate->admission, sl_clock_ns(), &entry, &reason);
        if (v == SL_QUEUE)
            return;
        if (v == SL_ADMIT)
            sl_request_on_admitted(request_of(entry));
        else
            sl_request_shed(request_of(entry), reason);
    }
}

struct sl_gate *sl_gate_new(struct sl_plane *p, const struct sl_backend_config *backend,
                            uint64_t now_ns)
{
    struct sl_gate *gate = calloc(1, sizeof(*gate));
    if (gate == NULL)
        return NULL;
    gate->backend = backend;
    gate->counts = p->stats->counts[backend->index];
    gate->dispatch = event_new(p->base, -1, 0, on_dispatch, gate);
    if (gate->dispatch == NULL) {
        free(gate);
        return NULL;
    }
    const struct sl_config *cfg = p->cfg;
    bool is_adaptive = backend->limiter == SL_LIMITER_ADAPTIVE;
    struct sl_admission_config ac = {
        .classes = cfg->class_policies,
        .class_count = cfg->class_count,
        .limiter = {.kind = backend->limiter,
                    .max_inflight = backend->max_inflight,
                    .min_inflight = is_adaptive ? backend->min_inflight : 1, /* static: no floor */
                    .window_ns = (uint64_t)backend->queue_interval_ms * 1000000,
                    .tolerance = backend->limiter_tolerance_percent / 100.0,
                    .probe_interval_ns = (uint64_t)backend->limiter_probe_interval_ms * 1000000},
        .queue_size = backend->queue_size,
        .queue_target_ns = (uint64_t)backend->queue_target_ms * 1000000,
        .queue_interval_ns = (uint64_t)backend->queue_interval_ms * 1000000,
    };
    sl_admission_init(&gate->admission, &ac, now_ns);
    return gate;
}

void sl_gate_free(struct sl_gate *gate)
{
    if (gate == NULL)
        return;
    SL_ASSERT(gate->admission.queued == 0 && gate->admission.inflight == 0);
    event_free(gate->dispatch);
    free(gate);
}

void sl_gate_schedule_dispatch(struct sl_gate *gate)
{
    if (gate->admission.queued > 0)
        event_active(gate->dispatch, 0, 0);
}

void sl_gate_log_counts(const struct sl_gate *gate, const struct sl_config *cfg)
{
    for (size_t i = 0; i < cfg->class_count; i++) {
        const struct sl_stats_counts *c = &gate->counts[i];
        if (c->received == 0)
            continue;
        char shed[256];
        size_t at = 0;
        for (int r = 0; r < SL_SHED_REASON_COUNT && at < sizeof(shed); r++) {
            int n = snprintf(shed + at, sizeof(shed) - at, " shed_%s=%llu",
                             sl_shed_reason_name((enum sl_shed_reason)r),
                             (unsigned long long)c->shed[r]);
            at += n > 0 ? (size_t)n : 0;
        }
        SL_INFO("counts backend=%s class=%s received=%llu admitted=%llu%s cancelled=%llu",
                gate->backend->name, cfg->classes[i].name, (unsigned long long)c->received,
                (unsigned long long)c->admitted, shed, (unsigned long long)c->cancelled);
    }
}

/* Only the gauges: the failure counts are the request's to write. */
void sl_gate_publish(const struct sl_gate *gate, struct sl_stats_backend *g)
{
    const struct sl_admission *adm = &gate->admission;
    g->inflight = adm->inflight;
    g->queued = adm->queued;
    g->limit = sl_admission_limit(adm);
    g->knee = sl_limiter_knee(&adm->limiter);
    g->no_load_us = sl_limiter_no_load_ns(&adm->limiter) / 1000;
    g->probing = sl_limiter_is_probing(&adm->limiter);
    for (size_t k = 0; k < adm->cfg.class_count; k++) {
        gate->counts[k].queued = adm->queued_by_class[k];
        gate->counts[k].backlog_us = sl_admission_backlog_ns(adm, k) / 1000;
    }
}
