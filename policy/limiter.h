/* A backend's concurrency limit: how many requests may be in flight to it.
 *
 * Static: the limit is max_inflight, always.
 *
 * Adaptive: a latency-gradient limiter that finds the knee from below, in the
 * spirit of Envoy's adaptive concurrency filter. It learns the backend's
 * no-load latency in a probe: one sample window at the floor (min_inflight),
 * counting only requests sent while no more than the floor were in flight
 * (critical classes may keep their slots meanwhile: see
 * sl_limiter_unsheddable_limit). Then, window by window (window_ns, and at
 * least a few samples), it compares the window's mean latency with
 * tolerance x no-load:
 *   - within it, in a window that reached the limit: the limit is known good
 *     (the knee is at least that high) and grows, doubling until the first
 *     rise (slow start), then by sqrt(limit)/5 a window, at least 1;
 *   - above it, at a limit above the knee: that limit is bad, and the limit
 *     goes back to the knee (such a trial window ends as soon as it has two
 *     samples per slot above tolerance: while it lasts, requests queue
 *     inside the backend); growth stays below the bad limit for as many
 *     windows as that limit (at most ten), twice as long each time the same
 *     limit is found bad again (up to probe_interval_ns), so the limit sits
 *     at the knee instead of circling it, while a window slow by chance
 *     costs at most a second, less where the limit is low and a slot more
 *     is a large share of the capacity;
 *   - above it anywhere else (latency rose where it was not known to: the
 *     backend slowed down, or lost capacity), in a window where the limit
 *     held some request back: the knee is forgotten and the limit cut by
 *     tolerance x no-load / latency (at most by half); after a few such
 *     windows in a row a probe re-learns the no-load latency. If it rose, the
 *     backend only slowed down: the limit returns to where it stood before
 *     the cuts and slow start resumes from there, the knee back within a
 *     second or so. If not, the rise was a queue, and the cut limit stays.
 *     With nothing held back, nothing waited for the limit and a lower one
 *     would only make requests wait in sluice: the rise changes nothing.
 * A probe also runs every probe_interval_ns. Every probe forgets the knee,
 * and one that finds the no-load latency changed past the tolerance also
 * forgets the bad limit. A
 * failed or timed-out request cuts the limit by a tenth, at most once per
 * window. The limit stays within [min_inflight, max_inflight].
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
    uint32_t max_inflight;      /* static: the limit; adaptive: the ceiling (>= min) */
    uint32_t min_inflight;      /* adaptive: the floor and the probes' limit, >= 1 */
    uint64_t window_ns;         /* adaptive: length of a sample window, > 0 */
    double tolerance;           /* adaptive: latency over no-load that is still fine, >= 1 */
    uint64_t probe_interval_ns; /* adaptive: from the end of a probe to the next */
};

struct sl_limiter {
    struct sl_limiter_config cfg;
    double limit; /* adaptive: fractional, reported rounded down */
    uint64_t window_start_ns;
    uint64_t window_sum_ns; /* latency samples in the current window */
    uint32_t window_samples;
    uint32_t window_peak_inflight;
    bool was_held_back;   /* a request could not start at once in this window */
    bool is_probing;      /* the limit is the floor until the window ends */
    bool is_probe_strict; /* past its grace: unsheddable classes at the floor too */
    uint64_t probe_grace_until_ns;
    bool is_slow_start;       /* doubling: no rise seen since the first probe */
    double limit_after_probe; /* what the probe gives back */
    double limit_if_slower;   /* ... if it finds the no-load latency risen */
    uint64_t next_probe_ns;
    uint64_t no_load_ns;   /* the last probe's mean latency; 0 before the first */
    uint32_t knee;         /* highest limit seen within tolerance since the probe; 0: none */
    uint32_t bad;          /* the last limit above the knee seen above tolerance; 0: none */
    uint64_t bad_until_ns; /* growth stays below bad until then */
    uint64_t bad_hold_ns;  /* how long bad was last held */
    uint32_t rises;        /* windows in a row above tolerance at or below the knee */
    double limit_before_rises;
    uint64_t next_cut_ns; /* a drop may cut the limit from this time on */
};

/* cfg is copied. now_ns starts the first probe. */
void sl_limiter_init(struct sl_limiter *lim, const struct sl_limiter_config *cfg, uint64_t now_ns);

/* The current limit, >= 1. */
uint32_t sl_limiter_limit(const struct sl_limiter *lim);

/* A request could not start at once, held back by the limit (or a reserve
 * within it): it queued, or admission shed it. A window in which
 * none was does not cut the limit for a rise at or below the knee. */
void sl_limiter_on_held_back(struct sl_limiter *lim);

/* The limit for classes never shed at the door: during a probe, the limit
 * the probe gives back, for its first five windows; then, if it still lacks
 * its samples, the floor like every class. Outside probes, the limit. A
 * probe so costs critical traffic nothing while sheddable traffic lets it
 * see an idle backend, and steady critical traffic cannot keep it from
 * ending. */
uint32_t sl_limiter_unsheddable_limit(const struct sl_limiter *lim);

/* For stats: the knee (0 while not known), the no-load latency (0 before the
 * first probe's end), and whether a probe is running. Static: 0, 0, false. */
uint32_t sl_limiter_knee(const struct sl_limiter *lim);
uint64_t sl_limiter_no_load_ns(const struct sl_limiter *lim);
bool sl_limiter_is_probing(const struct sl_limiter *lim);

/* One finished request: latency_ns from sending it upstream to its response's
 * end (or head), inflight the count in flight when it was sent (this one
 * included). A failed or timed-out request passes is_drop: the limit is cut
 * by a tenth (during a probe, the limit it gives back), at most once per
 * window_ns however many drops arrive, and latency_ns is ignored. Static
 * limiters ignore samples. */
void sl_limiter_on_sample(struct sl_limiter *lim, uint64_t now_ns, uint64_t latency_ns,
                          uint32_t inflight, bool is_drop);

#endif
