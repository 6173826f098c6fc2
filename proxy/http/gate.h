/* A backend's admission in one worker: policy/admission.h driven by the event
 * loop, and the counts of what it decided.
 *
 * Owned by the plane, one per backend. Requests are linked in through the
 * sl_admission_entry embedded in them while they are queued or in flight, and
 * request.c makes every decision visible through the counts. Freed slots are
 * handed out by a deferred event, so that a request finishing inside an
 * upstream callback never starts another one from that callback. */
#ifndef SL_GATE_H
#define SL_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"
#include "class.h"
#include "stats.h"

struct event;
struct sl_backend_config;
struct sl_config;
struct sl_plane;

struct sl_gate {
    struct sl_admission admission;
    const struct sl_backend_config *backend;
    struct event *dispatch;         /* runs sl_admission_next on the next loop turn */
    struct sl_stats_counts *counts; /* per class: the worker's stats slot (borrowed) */
};

/* NULL when out of memory. The plane's stats slot must be set. */
struct sl_gate *sl_gate_new(struct sl_plane *p, const struct sl_backend_config *backend,
                            uint64_t now_ns);

/* The gate must hold no request (every request is freed first). */
void sl_gate_free(struct sl_gate *gate);

/* A slot may be free: hand it out on the next loop turn. */
void sl_gate_schedule_dispatch(struct sl_gate *gate);

/* One INFO line per class that saw requests: what was received, admitted, shed
 * (by reason) and cancelled. */
void sl_gate_log_counts(const struct sl_gate *gate, const struct sl_config *cfg);

/* Writes the gate's gauges into g (in flight, queued, the limiter's), and
 * each class's queued and backlog into its counts. */
void sl_gate_publish(const struct sl_gate *gate, struct sl_stats_backend *g);

#endif
