/* The event sink: each worker sends its figures to a statsd-compatible
 * aggregator (statsd, Telegraf, the Datadog agent, Vector) every
 * flush_interval_ms, over a non-blocking datagram socket (UDP or Unix).
 *
 * Nothing is sent per request. The counters are the worker's stats slot read as
 * deltas since the last flush (requests by class, backend and status class; shed
 * requests by reason; backend connect errors, timeouts and failures), so they
 * agree with /stats by construction; the gauges are the slot's (per backend in
 * flight, queued and limit; the worker's connections and overload level). Only
 * latencies are taken per request, into a fixed reservoir per class and backend
 * (SL_EVENTS_SAMPLES values, each kept with equal chance), sent with @rate so
 * that the aggregator counts every request.
 *
 * A datagram the socket refuses (aggregator down, buffer full) is dropped and
 * its lines counted in the slot's events_dropped; a Unix socket whose receiver
 * went away is connected again at the next flush. Traffic never waits. */
#ifndef SL_EVENTS_H
#define SL_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define SL_EVENTS_SAMPLES 32 /* latency values kept per class and backend per flush */

struct event_base;
struct sl_config;
struct sl_events;
struct sl_stats_worker;

/* Starts the sink of cfg->events (which must be on) for the worker whose slot
 * is given; index names it in the worker gauges. Returns NULL when out of
 * memory. The socket is opened at the first flush. */
struct sl_events *sl_events_new(struct event_base *base, const struct sl_config *cfg,
                                struct sl_stats_worker *slot, unsigned index);

/* Sends what the last interval gathered, then frees the sink. NULL is a no-op. */
void sl_events_free(struct sl_events *ev);

/* One complete proxied response: its latency from arrival, in µs. */
void sl_events_sample(struct sl_events *ev, unsigned class_index, size_t backend_index,
                      uint64_t latency_us);

/* Gathers and sends now (the flush timer's work; for tests). */
void sl_events_flush(struct sl_events *ev);

#endif
