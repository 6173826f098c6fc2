/* Window life: a window opens at window_start_ns and collects samples until
 * one arrives at or after window_start_ns + window_ns with at least
 * MIN_WINDOW_SAMPLES latency samples in it; that sample closes it, the limit is
 * recomputed once, and the next window opens at that sample's now_ns. A window
 * with too few samples stays open rather than decide on noise.
 *
 * Drops are not latency samples: a timeout's latency is the timeout and a
 * refused connection's is near zero, and either would skew short-term or
 * no-load latency. They still count towards the window's peak in flight. */
#include "limiter.h"

#define MIN_WINDOW_SAMPLES 5u
/* Latency may rise to 1.5x no-load before the limit shrinks: headroom for
 * noise and for the short queue that full utilisation needs. */
#define TOLERANCE 1.5
#define MIN_GRADIENT 0.5
/* New limits are blended in at 20% per window: a few noisy windows do not
 * swing the limit, yet a sustained rise shrinks it by about 10% a window. */
#define SMOOTHING 0.2
/* Forgetting rates of no-load latency per window (update_no_load): a
 * confirmed service-time change is accepted within about a hundred windows,
 * an unconfirmed one within several hundred. */
#define NO_LOAD_DRIFT 0.01
#define NO_LOAD_DRIFT_LOADED 0.001
#define DROP_FACTOR 0.9

static double clamp_double(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* Newton's method from above, where it decreases monotonically until it can
 * no longer improve: policy/ links no libm. */
static double sqrt_newton(double x)
{
    if (x <= 0)
        return 0;
    double y = x > 1 ? x : 1;
    for (;;) {
        double next = 0.5 * (y + x / y);
        if (next >= y)
            return y;
        y = next;
    }
}

static void clamp_limit(struct sl_limiter *lim)
{
    lim->limit =
        clamp_double(lim->limit, (double)lim->cfg.min_inflight, (double)lim->cfg.max_inflight);
}

static void open_window(struct sl_limiter *lim, uint64_t now_ns)
{
    lim->window_start_ns = now_ns;
    lim->window_sum_ns = 0;
    lim->window_samples = 0;
    lim->window_peak_inflight = 0;
}

/* The no-load latency is the lowest window mean, forgotten slowly so that a
 * permanent service-time change is eventually accepted. The catch is that the
 * limiter settles where latency sits just above TOLERANCE x no-load: a window
 * mean is always above no-load there, and forgetting towards it would adopt
 * the limiter's own standing queue and ratchet the limit up without end.
 * Hence two speeds. A window no busier than the one that set no-load shows a
 * rise at a concurrency known to be queue-free: a slower service (or a backend
 * that lost capacity, which this cannot tell apart), followed at
 * NO_LOAD_DRIFT. A busier one may be our own queue: only what exceeds the
 * tolerance band is followed, ten times slower, so that a slowdown first seen
 * under heavy load does not pin the limit low forever.
 *
 * The first window is taken at its word: a limiter that starts far above the
 * knee under full load takes its queue for the no-load latency until a window
 * at lower concurrency shows less. */
static void update_no_load(struct sl_limiter *lim, double short_ns)
{
    if (lim->no_load_ns == 0 || short_ns <= lim->no_load_ns) {
        lim->no_load_ns = short_ns;
        lim->no_load_inflight = lim->window_peak_inflight;
    } else if (lim->window_peak_inflight <= lim->no_load_inflight) {
        lim->no_load_ns += (short_ns - lim->no_load_ns) * NO_LOAD_DRIFT;
    } else if (short_ns / TOLERANCE > lim->no_load_ns) {
        lim->no_load_ns += (short_ns / TOLERANCE - lim->no_load_ns) * NO_LOAD_DRIFT_LOADED;
    }
}

static void close_window(struct sl_limiter *lim)
{
    double short_ns = (double)lim->window_sum_ns / lim->window_samples;

    update_no_load(lim, short_ns);

    double gradient = 1.0;
    if (short_ns > 0)
        gradient = clamp_double(TOLERANCE * lim->no_load_ns / short_ns, MIN_GRADIENT, 1.0);

    double target = lim->limit * gradient;
    /* Only a window that came near the limit says anything about a higher one,
     * and only while latency stays within tolerance: headroom granted while a
     * queue shows would hold the limit above the knee by about sqrt(limit),
     * which on a small backend (a few workers) is a whole extra queue. */
    if (gradient >= 1.0 && 2.0 * lim->window_peak_inflight >= lim->limit)
        target += sqrt_newton(lim->limit);

    lim->limit = lim->limit * (1 - SMOOTHING) + target * SMOOTHING;
    clamp_limit(lim);
}

void sl_limiter_init(struct sl_limiter *lim, const struct sl_limiter_config *cfg, uint64_t now_ns)
{
    lim->cfg = *cfg;
    if (lim->cfg.min_inflight < 1)
        lim->cfg.min_inflight = 1;
    if (lim->cfg.max_inflight < lim->cfg.min_inflight)
        lim->cfg.max_inflight = lim->cfg.min_inflight;
    lim->limit = cfg->kind == SL_LIMITER_STATIC ? lim->cfg.max_inflight : cfg->initial_inflight;
    clamp_limit(lim);
    lim->no_load_ns = 0;
    lim->no_load_inflight = 0;
    lim->next_cut_ns = now_ns;
    open_window(lim, now_ns);
}

uint32_t sl_limiter_limit(const struct sl_limiter *lim)
{
    uint32_t limit = (uint32_t)lim->limit;
    return limit > 0 ? limit : 1;
}

void sl_limiter_on_sample(struct sl_limiter *lim, uint64_t now_ns, uint64_t latency_ns,
                          uint32_t inflight, bool is_drop)
{
    if (lim->cfg.kind == SL_LIMITER_STATIC)
        return;

    if (inflight > lim->window_peak_inflight)
        lim->window_peak_inflight = inflight;

    if (is_drop) {
        /* One cut per window_ns: the timeouts of one incident arrive together
         * and are one congestion signal, not one per request (as TCP cuts its
         * window once per round trip). */
        if (now_ns >= lim->next_cut_ns) {
            lim->limit *= DROP_FACTOR;
            clamp_limit(lim);
            lim->next_cut_ns =
                lim->cfg.window_ns > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + lim->cfg.window_ns;
        }
    } else if (lim->window_samples < UINT32_MAX) {
        lim->window_sum_ns = latency_ns > UINT64_MAX - lim->window_sum_ns
                                 ? UINT64_MAX
                                 : lim->window_sum_ns + latency_ns;
        lim->window_samples++;
    }

    if (now_ns >= lim->window_start_ns && now_ns - lim->window_start_ns >= lim->cfg.window_ns &&
        lim->window_samples >= MIN_WINDOW_SAMPLES) {
        close_window(lim);
        open_window(lim, now_ns);
    }
}
