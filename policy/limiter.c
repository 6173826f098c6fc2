/* Window life: a window opens at window_start_ns and collects samples until
 * one arrives at or after window_start_ns + window_ns with at least
 * MIN_WINDOW_SAMPLES latency samples in it; that sample closes it, the limit is
 * recomputed once, and the next window opens at that sample's now_ns. A window
 * with too few samples stays open rather than decide on noise. A trial (a
 * limit above the knee) may close sooner, on its first sample that makes it
 * clearly bad: TRIAL_SAMPLES_PER_SLOT samples per slot, their mean failing
 * the trial.
 *
 * A window judges the requests sent in it (latency_ns before the sample's
 * now_ns): one that opened with a new limit must not count requests sent at
 * the old one, which would blend the two and pass a limit above the knee. A
 * probe is a window like the others, except that the limit is the floor and
 * only requests sent while at most the floor were in flight count.
 *
 * Drops are not latency samples: a timeout's latency is the timeout and a
 * refused connection's is near zero, and either would skew the window mean
 * or the no-load latency. They still count towards the window's peak in
 * flight. */
#include "limiter.h"

#define MIN_WINDOW_SAMPLES 5u
#define MIN_GRADIENT 0.5
/* Growth past slow start, per window: an eighth of the limit, and at least
 * one slot. A step must promise a gain that a window's noise cannot fake (a
 * trial passes on a third of it, see TRIAL_GAIN_SHARE), and a limit cut low
 * by noise is back within a few windows. */
#define GROWTH 0.125
/* A trial of a limit above the knee passes if the throughput it shows
 * (Little's law: in flight / mean latency) is that of a backend with at least
 * a third of the step more workers than the knee, taking the knee's
 * throughput as the knee's worth. So a step from a knee already past the
 * backend's (no gain: requests only wait longer in its queue) fails,
 * whatever the backend's size, while a rise in latency that comes with more
 * throughput passes: a CPU shared with the backend, or a backend whose
 * workers idle between a response and sluice's next request (on gunicorn
 * with 8 workers, 9 in flight gave 8% more than 8). A third, not more: a
 * step of one at 7 on such a backend gained half of what it would on an
 * ideal one, and noise must not decide that.
 * The trial's latency must also stay within the tolerance of the knee's:
 * the idle-gap gain comes from a request always waiting in the backend's
 * queue, and a critical request sent after it waits there too. With 4
 * workers, 5 in flight gains the same 8% but costs every request some 15%
 * more latency (a quarter of a service time, less the gap); with 8, 9 costs
 * an eighth less the gap, a few percent, and passes. */
#define TRIAL_GAIN_SHARE (1.0 / 3)
/* A doubling may overshoot the knee by no more than this share of the limit
 * (and half a slot): what it passes on becomes the knee, and no later trial
 * moves a knee down. */
#define DOUBLING_SLACK_SHARE 0.0625
#define DOUBLING_SLACK_MIN 0.5
/* The smallest step a trial above the knee takes, as a share of it (at least
 * one slot): a smaller one promises a gain within a window's noise, and a
 * trial passed by chance would raise the knee for good. */
#define MIN_TRIAL_SHARE 0.0625
/* A window at the knee moves the knee's latency a quarter of the way to its
 * own mean: one noisy window does not set the bar for the next trials. */
#define KNEE_SMOOTHING 0.25
#define DROP_FACTOR 0.9
/* Windows in a row not fine at or below the knee before a cut, and before a
 * probe. One window slow by chance is common on a busy host (a pause of a few
 * tens of ms in a 100 ms window at 4 workers puts its mean past the
 * tolerance): cutting on it halved the limit mid-flood in one run out of two
 * on gunicorn, and the critical requests queued for the slots it took. A
 * slower backend shows in the next window too, so following one costs a
 * window more. */
#define RISES_BEFORE_CUT 2u
#define RISES_BEFORE_PROBE 3u
/* A limit found bad is not tried again for as many windows as the limit
 * itself, up to this many, and twice as long each time it is found bad
 * again, up to probe_interval_ns. Held back from a limit L, the backend
 * loses 1/L of its capacity if the mark came from a window slow by chance:
 * scaling the first hold with L keeps that loss near one window's worth
 * (a knee of 1 relearned on a noisy host is back at 4 in about a second,
 * not three), while a real knee is retried ever more rarely. */
#define BAD_HOLD_WINDOWS 10u
/* A trial of a limit above the knee ends as soon as it has this many samples
 * per slot and its mean fails it: each of those windows puts
 * requests into the backend's own queue, where critical ones wait behind
 * them. A trial that looks fine still runs its whole window, so that early
 * samples cannot pass a limit by chance. */
#define TRIAL_SAMPLES_PER_SLOT 2u
/* Windows a probe lets unsheddable classes keep the limit it gives back;
 * past them, with its samples still short, it holds every class to the
 * floor, so that steady critical traffic cannot keep it from ending. */
#define PROBE_GRACE_WINDOWS 5u

static double clamp_double(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static double clamped(const struct sl_limiter *lim, double limit)
{
    return clamp_double(limit, (double)lim->cfg.min_inflight, (double)lim->cfg.max_inflight);
}

static void open_window(struct sl_limiter *lim, uint64_t now_ns)
{
    lim->window_start_ns = now_ns;
    lim->window_sum_ns = 0;
    lim->window_samples = 0;
    lim->window_peak_inflight = 0;
    lim->was_held_back = false;
}

/* give_back is the limit after the probe; if_slower the one after a probe
 * that finds the no-load latency risen past the tolerance. */
static void start_probe(struct sl_limiter *lim, double give_back, double if_slower, uint64_t now_ns)
{
    lim->is_probing = true;
    lim->is_probe_strict = false;
    lim->probe_grace_until_ns = add_sat(now_ns, (uint64_t)PROBE_GRACE_WINDOWS * lim->cfg.window_ns);
    lim->limit_after_probe = give_back;
    lim->limit_if_slower = if_slower;
    lim->limit = lim->cfg.min_inflight;
}

/* The probe's mean is the no-load latency. One that moved past the tolerance
 * makes what was known about the knee and the bad limit stale: they are found
 * again at the new latency. */
static void end_probe(struct sl_limiter *lim, double mean_ns, uint64_t now_ns)
{
    double tolerance = lim->cfg.tolerance;
    double before_ns = (double)lim->no_load_ns;
    bool is_slower = before_ns != 0 && mean_ns > tolerance * before_ns;
    bool is_faster = mean_ns * tolerance < before_ns;
    lim->is_probing = false;
    lim->no_load_ns = mean_ns >= 1 ? (uint64_t)mean_ns : 1;
    lim->limit = clamped(lim, is_slower ? lim->limit_if_slower : lim->limit_after_probe);
    if (is_slower)
        lim->is_slow_start = true; /* the knee at the new latency is to be found again */
    if (is_slower || is_faster) {
        lim->knee = 0; /* found at another latency */
        lim->bad = 0;
    }
    lim->rises = 0;
    lim->next_probe_ns = add_sat(now_ns, lim->cfg.probe_interval_ns);
}

/* Below a bad limit, while it is held, the step halves at each trial found
 * bad (a bisection between the knee and the bad limit) until it would be
 * under MIN_TRIAL_SHARE of the knee, and the limit stays at the knee; once the
 * hold is over the next trial is the bad limit itself, so that a limit found
 * bad again is held twice as long. */
static double bad_cap(const struct sl_limiter *lim, uint64_t now_ns)
{
    if (now_ns >= lim->bad_until_ns)
        return lim->bad;
    if (lim->knee == 0 || lim->knee >= lim->bad)
        return lim->bad - 1;
    uint32_t half = (lim->bad - lim->knee) / 2;
    double min_step = MIN_TRIAL_SHARE * lim->knee;
    return half >= 1 && half >= min_step ? lim->knee + half : lim->knee;
}

static double grown(const struct sl_limiter *lim, uint64_t now_ns)
{
    double step = GROWTH * lim->limit;
    double limit = lim->is_slow_start ? 2 * lim->limit : lim->limit + (step > 1 ? step : 1);
    if (lim->bad != 0 && (lim->knee < lim->bad || now_ns < lim->bad_until_ns)) {
        double cap = bad_cap(lim, now_ns);
        if (limit > cap)
            limit = cap > lim->limit ? cap : lim->limit;
    }
    if (lim->knee != 0 && !lim->is_knee_measured && limit > lim->knee)
        limit = lim->knee > lim->limit ? lim->knee : lim->limit; /* no trial against a guess */
    return limit;
}

/* Before a knee is known, latency within tolerance of the no-load one; at or
 * below the knee, within tolerance of the knee's; above it (a trial), that
 * and the throughput of a backend with a third of the step more workers
 * than the knee (a doubling: nearly the whole step). */
static bool is_window_fine(const struct sl_limiter *lim, uint32_t at, double mean_ns)
{
    if (lim->knee == 0)
        return mean_ns <= lim->cfg.tolerance * (double)lim->no_load_ns;
    if (at <= lim->knee)
        return mean_ns <= lim->cfg.tolerance * lim->knee_ns;
    double workers = lim->knee + TRIAL_GAIN_SHARE * (at - lim->knee);
    if (lim->is_slow_start) {
        double slack = DOUBLING_SLACK_SHARE * at;
        if (slack < DOUBLING_SLACK_MIN)
            slack = DOUBLING_SLACK_MIN;
        if (workers < at - slack)
            workers = at - slack;
    }
    return (double)at * lim->knee_ns >= workers * mean_ns &&
           mean_ns <= lim->cfg.tolerance * lim->knee_ns;
}

static void on_window_fine(struct sl_limiter *lim, uint32_t at, double mean_ns, uint64_t now_ns)
{
    lim->rises = 0;
    if (lim->window_peak_inflight < at)
        return; /* the limit was not reached: nothing said about a higher one */
    if (at > lim->knee || (at == lim->knee && !lim->is_knee_measured)) {
        lim->knee = at;
        lim->knee_ns = mean_ns;
        lim->is_knee_measured = true;
    } else if (at == lim->knee) {
        lim->knee_ns += KNEE_SMOOTHING * (mean_ns - lim->knee_ns);
    }
    lim->limit = clamped(lim, grown(lim, now_ns));
}

/* above the knee: back to it, and not at this limit again for a while */
static void mark_bad(struct sl_limiter *lim, uint32_t at, uint64_t now_ns)
{
    uint64_t first_ns =
        (uint64_t)(at < BAD_HOLD_WINDOWS ? at : BAD_HOLD_WINDOWS) * lim->cfg.window_ns;
    if (lim->bad == at && lim->bad_hold_ns != 0)
        lim->bad_hold_ns = lim->bad_hold_ns > UINT64_MAX / 2 ? UINT64_MAX : 2 * lim->bad_hold_ns;
    else
        lim->bad_hold_ns = first_ns;
    if (lim->bad_hold_ns > lim->cfg.probe_interval_ns)
        lim->bad_hold_ns =
            lim->cfg.probe_interval_ns > first_ns ? lim->cfg.probe_interval_ns : first_ns;
    lim->bad = at;
    lim->bad_until_ns = add_sat(now_ns, lim->bad_hold_ns);
}

static void on_window_not_fine(struct sl_limiter *lim, uint32_t at, double mean_ns, uint64_t now_ns)
{
    /* a trial is of a limit reached: below it, the window only saw the
     * concurrency demand brought, as a window at the knee does */
    if (lim->knee != 0 && at > lim->knee && lim->window_peak_inflight >= at) {
        lim->is_slow_start = false;
        mark_bad(lim, at, now_ns);
        lim->rises = 0;
        lim->limit = clamped(lim, lim->knee);
        return;
    }
    if (!lim->was_held_back) {
        /* nothing waited for the limit, so the backend is not queueing
         * behind it (a CPU shared with the backend, say, raises latency at
         * any limit): a lower one would only add a queue in sluice */
        lim->rises = 0;
        return;
    }
    /* a rise where latency was not known to rise: the backend slowed down,
     * or lost capacity and queues; or, a window alone, chance */
    if (lim->rises == 0)
        lim->limit_before_rises = lim->limit;
    if (++lim->rises < RISES_BEFORE_CUT)
        return;
    lim->is_slow_start = false;
    if (lim->rises >= RISES_BEFORE_PROBE) {
        start_probe(lim, lim->limit, lim->limit_before_rises, now_ns);
        return;
    }
    double reference_ns = lim->knee != 0 ? lim->knee_ns : (double)lim->no_load_ns;
    lim->limit = clamped(lim, lim->limit * clamp_double(reference_ns / mean_ns, MIN_GRADIENT, 1.0));
    /* what the knee said holds no more: the cut limit is the knee now, as
     * if the rise was a queue, its latency to be measured (lower than this
     * window's either way) before any trial above it */
    lim->knee = sl_limiter_limit(lim);
    lim->knee_ns = mean_ns;
    lim->is_knee_measured = false;
}

static void close_window(struct sl_limiter *lim, uint64_t now_ns)
{
    double mean_ns = (double)lim->window_sum_ns / lim->window_samples;
    if (lim->is_probing) {
        end_probe(lim, mean_ns, now_ns);
        return;
    }
    uint32_t at = sl_limiter_limit(lim);
    if (is_window_fine(lim, at, mean_ns))
        on_window_fine(lim, at, mean_ns, now_ns);
    else
        on_window_not_fine(lim, at, mean_ns, now_ns);
    if (!lim->is_probing && now_ns >= lim->next_probe_ns)
        start_probe(lim, lim->limit, lim->limit, now_ns);
}

void sl_limiter_init(struct sl_limiter *lim, const struct sl_limiter_config *cfg, uint64_t now_ns)
{
    *lim = (struct sl_limiter){.cfg = *cfg};
    if (lim->cfg.min_inflight < 1)
        lim->cfg.min_inflight = 1;
    if (lim->cfg.max_inflight < lim->cfg.min_inflight)
        lim->cfg.max_inflight = lim->cfg.min_inflight;
    if (!(lim->cfg.tolerance >= 1.0))
        lim->cfg.tolerance = 1.0;
    lim->next_cut_ns = now_ns;
    open_window(lim, now_ns);
    if (cfg->kind == SL_LIMITER_STATIC) {
        lim->limit = lim->cfg.max_inflight;
        return;
    }
    lim->is_slow_start = true;
    start_probe(lim, lim->cfg.min_inflight, lim->cfg.min_inflight, now_ns);
}

uint32_t sl_limiter_limit(const struct sl_limiter *lim)
{
    uint32_t limit = (uint32_t)lim->limit;
    return limit > 0 ? limit : 1;
}

void sl_limiter_on_held_back(struct sl_limiter *lim)
{
    lim->was_held_back = true;
}

uint32_t sl_limiter_unsheddable_limit(const struct sl_limiter *lim)
{
    uint32_t limit = sl_limiter_limit(lim);
    if (!lim->is_probing || lim->is_probe_strict)
        return limit;
    uint32_t back = (uint32_t)lim->limit_after_probe;
    return back > limit ? back : limit;
}

uint32_t sl_limiter_knee(const struct sl_limiter *lim)
{
    return lim->knee;
}

uint64_t sl_limiter_no_load_ns(const struct sl_limiter *lim)
{
    return lim->no_load_ns;
}

bool sl_limiter_is_probing(const struct sl_limiter *lim)
{
    return lim->is_probing;
}

/* One cut per window_ns: the timeouts of one incident arrive together and
 * are one congestion signal, not one per request (as TCP cuts its window
 * once per round trip). */
static void on_drop(struct sl_limiter *lim, uint64_t now_ns)
{
    if (now_ns < lim->next_cut_ns)
        return;
    if (lim->is_probing) {
        lim->limit_after_probe = clamped(lim, lim->limit_after_probe * DROP_FACTOR);
        lim->limit_if_slower = clamped(lim, lim->limit_if_slower * DROP_FACTOR);
    } else
        lim->limit = clamped(lim, lim->limit * DROP_FACTOR);
    lim->next_cut_ns = add_sat(now_ns, lim->cfg.window_ns);
}

static bool is_window_over(const struct sl_limiter *lim, uint64_t now_ns)
{
    return now_ns >= lim->window_start_ns && now_ns - lim->window_start_ns >= lim->cfg.window_ns &&
           lim->window_samples >= MIN_WINDOW_SAMPLES;
}

static bool is_trial_failed(const struct sl_limiter *lim)
{
    uint32_t at = sl_limiter_limit(lim);
    if (lim->is_probing || lim->knee == 0 || at <= lim->knee)
        return false;
    if (lim->window_samples < MIN_WINDOW_SAMPLES ||
        lim->window_samples < (uint64_t)TRIAL_SAMPLES_PER_SLOT * at)
        return false;
    double mean_ns = (double)lim->window_sum_ns / lim->window_samples;
    return !is_window_fine(lim, at, mean_ns);
}

void sl_limiter_on_sample(struct sl_limiter *lim, uint64_t now_ns, uint64_t latency_ns,
                          uint32_t inflight, bool is_drop)
{
    if (lim->cfg.kind == SL_LIMITER_STATIC)
        return;

    if (inflight > lim->window_peak_inflight)
        lim->window_peak_inflight = inflight;
    if (lim->is_probing && now_ns >= lim->probe_grace_until_ns)
        lim->is_probe_strict = true;

    if (is_drop) {
        on_drop(lim, now_ns);
    } else if (lim->window_samples < UINT32_MAX && latency_ns <= now_ns &&
               now_ns - latency_ns >= lim->window_start_ns &&
               (!lim->is_probing || inflight <= lim->cfg.min_inflight)) {
        lim->window_sum_ns = latency_ns > UINT64_MAX - lim->window_sum_ns
                                 ? UINT64_MAX
                                 : lim->window_sum_ns + latency_ns;
        lim->window_samples++;
    }

    if (is_window_over(lim, now_ns) || is_trial_failed(lim)) {
        close_window(lim, now_ns);
        open_window(lim, now_ns);
    }
}
