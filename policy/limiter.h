/* A backend's concurrency limit: how many requests may be in flight to it.
 *
 * Static: the limit is max_inflight, always.
 *
 * Adaptive: a limiter that finds the knee (the concurrency past which the
 * backend's throughput stops growing) from below, in the spirit of Envoy's
 * adaptive concurrency filter. It learns the backend's no-load latency in a
 * probe: one sample window at the floor (min_inflight), counting only
 * requests sent while no more than the floor were in flight (critical
 * classes may keep their slots meanwhile: see sl_limiter_unsheddable_limit).
 * Then it judges each sample window (window_ns, and at least a few samples)
 * by its mean latency:
 *   - before a knee is known, against tolerance x no-load; at or below the
 *     knee, against tolerance x the knee's own latency (a smoothed mean of
 *     the windows there);
 *   - above the knee, in a window that reached the limit (a trial; one
 *     that did not is judged as at the knee), by the throughput it shows
 *     (Little's law: in flight / mean latency): it must be that of a
 *     backend with a third of the step more workers than the knee's, and
 *     its latency within tolerance x the knee's. A step past the backend's
 *     knee gains nothing, whatever the backend's size; a latency rise that
 *     comes with more throughput (a CPU shared with the backend) passes
 *     unless it is a queue inside the backend (see TRIAL_GAIN_SHARE).
 * Then:
 *   - a fine window that reached the limit makes it the knee if above it,
 *     and the limit grows: doubling until the first rise (slow start), then
 *     by an eighth a window, at least 1;
 *   - a failed trial marks its limit bad: the limit goes back to the knee
 *     (such a trial window ends as soon as it has two samples per slot and
 *     fails: while it lasts, requests queue inside the backend). While the
 *     bad limit is held (as many windows as that limit, at most ten, twice
 *     as long each time the same limit is found bad again, up to
 *     probe_interval_ns), trials bisect between the knee and it, down to a
 *     step of a sixteenth of the knee (at least 1); then the next trial is
 *     the bad limit itself. So the limit sits at the knee instead of
 *     circling it, while a window slow by chance costs at most a second;
 *   - a window not fine anywhere else (latency rose where it was not known
 *     to: the backend slowed down, or lost capacity), in a window where the
 *     limit held some request back, the second such window in a row (one
 *     alone is taken as chance, and changes nothing, slow start included):
 *     the knee is forgotten and the limit cut by tolerance x reference /
 *     latency (at most by half); at the third in a row a probe re-learns
 *     the no-load latency. If it rose, the
 *     backend only slowed down: the limit returns to where it stood before
 *     the cuts and slow start resumes from there, the knee back within a
 *     second or so. If not, the rise was a queue, and the cut limit stays.
 *     With nothing held back, nothing waited for the limit and a lower one
 *     would only make requests wait in sluice: the rise changes nothing.
 * A probe also runs every probe_interval_ns; one that finds the no-load
 * latency changed past the tolerance forgets the knee and the bad limit. A
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
    double tolerance;           /* adaptive: a latency rise still taken as none, >= 1 */
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
    uint32_t knee;         /* highest limit found fine; 0: none */
    double knee_ns;        /* the mean latency of windows at the knee, smoothed */
    bool is_knee_measured; /* knee_ns is; else the bound a cut to the knee left */
    uint32_t bad;          /* the last limit above the knee whose trial failed; 0: none */
    uint64_t bad_until_ns; /* growth stays below bad until then */
    uint64_t bad_hold_ns;  /* how long bad was last held */
    uint32_t rises;        /* windows in a row not fine at or below the knee */
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
