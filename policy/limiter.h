/* A backend's concurrency limit: how many requests may be in flight to it.
 *
 * Static: the limit is max_inflight, always.
 * Adaptive: a latency-gradient limiter in the spirit of Netflix's Gradient2 and
 * Envoy's adaptive concurrency. It keeps a no-load latency (a slowly forgetting
 * minimum of recent sample windows) and a short-term latency (the mean of the
 * current window). At the end of each window the limit is multiplied by
 * clamp(tolerance * no_load / short_term, 0.5, 1.0); when that factor is 1
 * (latency within tolerance) a headroom of sqrt(limit) is added; the result is
 * smoothed and clamped to [min_inflight, max_inflight]: the limit grows while
 * latency stays near its minimum and shrinks when it rises.
 * A window in which the limit was not approached (peak in flight below half the
 * limit) does not grow the limit, so an idle backend is not granted a huge one.
 *
 * Pure: time comes in as now_ns; no allocation. The struct is public only so
 * that it can be embedded; touch it only through these functions. */
#ifndef SL_LIMITER_H
#define SL_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

enum sl_limiter_kind { SL_LIMITER_STATIC, SL_LIMITER_ADAPTIVE };

struct sl_limiter_config {
    enum sl_limiter_kind kind;
    uint32_t max_inflight;     /* static: the limit; adaptive: the ceiling (>= min) */
    uint32_t min_inflight;     /* adaptive: the floor, >= 1 */
    uint32_t initial_inflight; /* adaptive: the starting limit, in [min, max] */
    uint64_t window_ns;        /* adaptive: length of a sample window, > 0 */
};

struct sl_limiter {
    struct sl_limiter_config cfg;
    double limit; /* adaptive: fractional, reported rounded down */
    uint64_t window_start_ns;
    uint64_t window_sum_ns; /* latency samples in the current window */
    uint32_t window_samples;
    uint32_t window_peak_inflight;
    double no_load_ns;         /* 0 until the first full window */
    uint32_t no_load_inflight; /* peak in flight of the window that set no_load_ns */
    uint64_t next_cut_ns;      /* a drop may cut the limit from this time on */
};

/* cfg is copied. now_ns starts the first window. */
void sl_limiter_init(struct sl_limiter *lim, const struct sl_limiter_config *cfg, uint64_t now_ns);

/* The current limit, >= 1. */
uint32_t sl_limiter_limit(const struct sl_limiter *lim);

/* One finished request: latency_ns from sending it upstream to its response's
 * end (or head), inflight the count in flight when it was sent (this one
 * included). A failed or timed-out request passes is_drop: the limit is cut
 * as for a latency rise (multiplied by 0.9, then clamped), at most once per
 * window_ns however many drops arrive, and latency_ns is ignored. Static
 * limiters ignore samples. */
void sl_limiter_on_sample(struct sl_limiter *lim, uint64_t now_ns, uint64_t latency_ns,
                          uint32_t inflight, bool is_drop);

#endif
