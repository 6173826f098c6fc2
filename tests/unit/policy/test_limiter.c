#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limiter.h"

#define MS 1000000ull
#define WINDOW_NS (100 * MS)
#define SAMPLES_PER_WINDOW 20u
#define SERVICE_NS (10 * MS)

/* A simulated backend with `workers` workers, each taking service_ns per
 * request: beyond `workers` in flight requests queue, and latency grows in
 * proportion (latency = service * max(1, inflight / workers)). workers == 0
 * means unbounded: latency is service_ns at any load. The client keeps
 * min(demand, limit) requests in flight; demand 0 means "always at the limit".
 * A demand above the limit (or 0) has the limit hold requests back. */
struct sim {
    struct sl_limiter lim;
    uint64_t now_ns;
    uint32_t workers;
    uint64_t service_ns;
    uint32_t demand;
    unsigned jitter_percent;     /* each latency off by up to this, uniformly */
    unsigned contention_percent; /* latency rise per busy worker (a shared CPU) */
    unsigned hidden_gap_percent; /* throughput past the workers gains this much */
    bool is_paced_by_latency;    /* samples per window: in flight x window / latency */
    uint32_t rng;
};

#define PROBE_INTERVAL_NS (30000 * MS) /* 300 windows */

static void sim_init_tolerance(struct sim *s, uint32_t min, uint32_t max, double tolerance)
{
    struct sl_limiter_config cfg = {
        .kind = SL_LIMITER_ADAPTIVE,
        .max_inflight = max,
        .min_inflight = min,
        .window_ns = WINDOW_NS,
        .tolerance = tolerance,
        .probe_interval_ns = PROBE_INTERVAL_NS,
    };
    *s = (struct sim){.now_ns = 1000 * MS, .service_ns = SERVICE_NS, .rng = 2463534242u};
    sl_limiter_init(&s->lim, &cfg, s->now_ns);
}

static void sim_init(struct sim *s, uint32_t min, uint32_t max)
{
    sim_init_tolerance(s, min, max, 1.1);
}

static uint32_t sim_random(struct sim *s)
{
    s->rng ^= s->rng << 13; /* xorshift32 */
    s->rng ^= s->rng >> 17;
    s->rng ^= s->rng << 5;
    return s->rng;
}

static uint64_t sim_latency(struct sim *s, uint32_t inflight)
{
    uint64_t latency_ns = s->service_ns;
    uint32_t busy = s->workers != 0 && inflight > s->workers ? s->workers : inflight;
    latency_ns += latency_ns * s->contention_percent * busy / 100;
    if (s->workers != 0 && inflight > s->workers)
        latency_ns = latency_ns * inflight * 100 / (s->workers * (100 + s->hidden_gap_percent));
    if (latency_ns < s->service_ns)
        latency_ns = s->service_ns;
    if (s->jitter_percent != 0) {
        unsigned span = 2 * s->jitter_percent + 1;
        latency_ns = latency_ns * (100 - s->jitter_percent + sim_random(s) % span) / 100;
    }
    return latency_ns;
}

/* Feeds one window's worth of samples (SAMPLES_PER_WINDOW, or as many as
 * complete in it when paced by latency); the last lands on the window's end. */
static void sim_window(struct sim *s)
{
    uint32_t n = SAMPLES_PER_WINDOW;
    if (s->is_paced_by_latency) {
        uint32_t limit = sl_limiter_limit(&s->lim);
        uint32_t inflight = s->demand != 0 && s->demand < limit ? s->demand : limit;
        n = (uint32_t)(inflight * WINDOW_NS / sim_latency(s, inflight));
        if (n < SAMPLES_PER_WINDOW)
            n = SAMPLES_PER_WINDOW;
    }
    for (uint32_t i = 0; i < n; i++) {
        s->now_ns += WINDOW_NS / n;
        uint32_t inflight = sl_limiter_limit(&s->lim);
        if (s->demand == 0 || s->demand > inflight)
            sl_limiter_on_held_back(&s->lim);
        else
            inflight = s->demand;
        sl_limiter_on_sample(&s->lim, s->now_ns, sim_latency(s, inflight), inflight, false);
    }
}

static void sim_windows(struct sim *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        sim_window(s);
}

static void static_limit_is_max_and_ignores_samples(void **state)
{
    struct sl_limiter_config cfg = {.kind = SL_LIMITER_STATIC, .max_inflight = 64};
    struct sl_limiter lim;
    uint64_t now_ns = 0;
    sl_limiter_init(&lim, &cfg, now_ns);
    assert_int_equal(sl_limiter_limit(&lim), 64);
    for (unsigned i = 0; i < 1000; i++) {
        now_ns += 10 * MS;
        sl_limiter_on_sample(&lim, now_ns, (i % 2) ? 1 : 10000 * MS, 64, i % 3 == 0);
        assert_int_equal(sl_limiter_limit(&lim), 64);
    }
}

/* The first window is a probe at the floor; then the limit doubles while
 * latency stays flat, up to the ceiling, and stays there. */
static void probe_first_then_slow_start_to_max(void **state)
{
    struct sim s;
    sim_init(&s, 1, 200);
    assert_true(sl_limiter_is_probing(&s.lim));
    assert_int_equal(sl_limiter_limit(&s.lim), 1);
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), 0);
    sim_window(&s);
    assert_false(sl_limiter_is_probing(&s.lim));
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), SERVICE_NS);
    uint32_t expected[] = {1, 2, 4, 8, 16, 32, 64, 128, 200, 200};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        assert_int_equal(sl_limiter_limit(&s.lim), expected[i]);
        sim_window(&s);
    }
    sim_windows(&s, 100);
    assert_int_equal(sl_limiter_limit(&s.lim), 200);
}

/* A probe counts only requests sent while at most the floor were in flight:
 * the ones sent before it carry the queue it is there to see past. */
static void probe_counts_only_requests_sent_at_the_floor(void **state)
{
    struct sim s;
    sim_init(&s, 2, 200);
    for (unsigned i = 0; i < 100; i++) {
        s.now_ns += MS;
        sl_limiter_on_sample(&s.lim, s.now_ns, 10 * SERVICE_NS, 3, false);
    }
    assert_true(sl_limiter_is_probing(&s.lim));
    for (unsigned i = 0; i < 5; i++) {
        s.now_ns += MS;
        sl_limiter_on_sample(&s.lim, s.now_ns, SERVICE_NS, 2, false);
    }
    assert_false(sl_limiter_is_probing(&s.lim));
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), SERVICE_NS);
}

/* Once it has had `settle` windows, the limit stays in [lo, hi] for 600
 * windows, but for its probes (one window in 300, at the floor) and its
 * retries of a limit above the knee, each for one window, the first some ten
 * windows after it was found bad, then twenty, forty... so a handful in all. */
static void expect_knee_held(struct sim *s, unsigned settle, uint32_t lo, uint32_t hi)
{
    sim_windows(s, settle);
    unsigned retries = 0;
    for (unsigned w = settle; w < settle + 600; w++) {
        sim_window(s);
        uint32_t limit = sl_limiter_limit(&s->lim);
        if (sl_limiter_is_probing(&s->lim))
            assert_int_equal(limit, s->lim.cfg.min_inflight);
        else if (limit > hi)
            retries++;
        else if (limit < lo)
            fail_msg("window %u: limit %u outside [%u, %u]", w, limit, lo, hi);
    }
    if (retries > 12)
        fail_msg("%u windows above %u", retries, hi);
}

/* Four workers: slow start overshoots to 8, falls back to the knee, tries 5
 * once, and stays at 4. */
static void knee_of_4_workers_is_found_from_below_and_kept(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    expect_knee_held(&s, 15, 4, 4);
    assert_int_equal(sl_limiter_knee(&s.lim), 4);
}

/* 50 workers: a trial above the knee passes if its throughput is that of at
 * least half its step more workers, so the limit stops within a step of 50
 * and does not creep past it: a step from a knee already past the workers
 * gains nothing. With +-20% of noise per request (and as many samples as
 * complete in a window) a trial may pass by chance, but the smallest step,
 * a sixteenth of the knee, keeps that rare. */
static void knee_of_50_workers_is_found_and_kept(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 50;
    expect_knee_held(&s, 30, 48, 52);

    struct sim noisy;
    sim_init(&noisy, 1, 1000);
    noisy.workers = 50;
    noisy.jitter_percent = 20;
    noisy.is_paced_by_latency = true;
    expect_knee_held(&noisy, 30, 46, 54);
}

/* Latency that rises with the load but brings throughput with it (a CPU the
 * backend shares: 3% per busy worker, so 8 in flight take 1.24x the no-load
 * latency, well past the tolerance) does not stop the climb: the limit
 * finds the 8 workers, and the tolerance judges rises against the knee's own
 * latency. */
static void a_rise_that_brings_throughput_does_not_stop_the_climb(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 8;
    s.contention_percent = 3;
    expect_knee_held(&s, 30, 8, 8);
    assert_int_equal(sl_limiter_knee(&s.lim), 8);
}

/* Workers that idle between a response and the next request (gunicorn's sync
 * workers, sluice's own turnaround) give 10% more throughput with a request
 * always waiting in the backend's queue: one past the 4 workers shows it
 * (1.1x the throughput), but every request, a critical one too, then waits
 * some 14% longer than at the knee. Past the tolerance, the trial fails and
 * the limit stays at the workers. With 8 workers and 8% hidden, a step to 9
 * costs only 4% of latency (a request waits an eighth of a service time,
 * less the gap) and passes, and 10 gains nothing more. */
static void a_gain_only_from_a_queue_in_the_backend_needs_flat_latency(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    s.hidden_gap_percent = 10;
    expect_knee_held(&s, 30, 4, 4);
    assert_int_equal(sl_limiter_knee(&s.lim), 4);

    struct sim large;
    sim_init(&large, 1, 1000);
    large.workers = 8;
    large.hidden_gap_percent = 8;
    expect_knee_held(&large, 30, 9, 9);
    assert_int_equal(sl_limiter_knee(&large.lim), 9);
}

/* 66 workers: slow start passes 64 and fails 128, so the knee is 64; the
 * next trial, 64 + an eighth, fails at 72. While 72 is held (ten windows)
 * the next trial goes halfway (68, which passes and is the knee) and then
 * no further: half of what is left (2) is under a sixteenth of the knee, a
 * gain within noise. So the limit stays at 68 until the hold ends, 72 is
 * tried again, fails, and is held twice as long. */
static void trials_below_a_held_bad_limit_bisect_then_stay(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 66;
    uint32_t limits[32];
    for (unsigned w = 0; w < 32; w++) {
        sim_window(&s);
        limits[w] = sl_limiter_limit(&s.lim);
    }
    unsigned w = 0;
    while (w < 32 && limits[w] != 128)
        w++;
    assert_true(w + 24 < 32);
    assert_int_equal(limits[++w], 64);
    assert_int_equal(limits[++w], 72);
    assert_int_equal(limits[++w], 64);
    assert_int_equal(limits[++w], 68); /* halfway to the bad 72 */
    unsigned first_hold = 0;
    while (limits[++w] == 68)
        first_hold++;
    assert_int_equal(limits[w], 72);   /* the hold is over: the bad limit again */
    assert_in_range(first_hold, 7, 9); /* what is left of ten windows */
    for (unsigned i = 1; i <= 10 && w + i < 32; i++)
        assert_int_equal(limits[w + i], 68); /* held longer: twice ten */
    assert_int_equal(sl_limiter_knee(&s.lim), 68);
}

/* A cut for a rise leaves a knee whose latency is only bounded (the cut
 * window's, queue included): no trial goes above it until a window at it
 * has measured it. Here the backend loses half its 400 workers, the cut
 * takes the limit to 200, a failure cuts it to 180, and a fine window there
 * would grow it to 202: it stops at 200, measures it, and the knee stays
 * there (a trial against the cut window's latency would pass 202). */
static void no_trial_above_a_knee_not_yet_measured(void **state)
{
    struct sim s;
    sim_init(&s, 1, 400);
    s.workers = 1000;
    sim_windows(&s, 15);
    assert_int_equal(sl_limiter_limit(&s.lim), 400);
    s.workers = 200;
    sim_windows(&s, 2); /* the second slow window cuts */
    assert_int_equal(sl_limiter_limit(&s.lim), 200);
    s.now_ns += MS;
    sl_limiter_on_sample(&s.lim, s.now_ns, 0, 200, true);
    assert_int_equal(sl_limiter_limit(&s.lim), 180);
    sim_window(&s);
    assert_int_equal(sl_limiter_limit(&s.lim), 200);
    sim_windows(&s, 20);
    assert_int_equal(sl_limiter_knee(&s.lim), 200);
}

/* Every probe interval the limit drops to the floor for one window, and is
 * back at the knee a few windows later. */
static void periodic_probe_relearns_and_returns_to_the_knee(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    unsigned probes = 0;
    bool was_probing = false;
    for (unsigned w = 0; w < 1000; w++) {
        sim_window(&s);
        bool is_probing = sl_limiter_is_probing(&s.lim);
        if (is_probing) {
            assert_int_equal(sl_limiter_limit(&s.lim), 1);
            assert_false(was_probing); /* one window */
            probes++;
        }
        was_probing = is_probing;
    }
    assert_int_equal(probes, 3); /* at 30 s, 60 s and 90 s of 100 s */
    sim_windows(&s, 10);
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
}

/* During a probe the unsheddable limit is the one the probe gives back, for
 * five windows; past them, with the probe's samples still short, the floor.
 * Outside probes it is the limit. */
static void unsheddable_limit_through_a_probe_and_past_its_grace(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    assert_int_equal(sl_limiter_unsheddable_limit(&s.lim), 1); /* the first probe */
    sim_windows(&s, 20);
    assert_int_equal(sl_limiter_unsheddable_limit(&s.lim), 4);
    uint32_t before = 0;
    while (!sl_limiter_is_probing(&s.lim)) {
        before = sl_limiter_limit(&s.lim);
        s.now_ns += MS;
        sl_limiter_on_sample(&s.lim, s.now_ns, SERVICE_NS, 4, false);
    }
    uint64_t started_ns = s.now_ns;
    assert_true(before >= 4);
    assert_int_equal(sl_limiter_limit(&s.lim), 1);
    while (s.now_ns + MS < started_ns + 5 * WINDOW_NS) {
        s.now_ns += MS;
        sl_limiter_on_sample(&s.lim, s.now_ns, SERVICE_NS, 3, false); /* above the floor */
        assert_int_equal(sl_limiter_unsheddable_limit(&s.lim), before);
    }
    s.now_ns += MS;
    sl_limiter_on_sample(&s.lim, s.now_ns, SERVICE_NS, 3, false);
    assert_int_equal(sl_limiter_unsheddable_limit(&s.lim), 1);
    sim_window(&s);
    assert_false(sl_limiter_is_probing(&s.lim));
    assert_int_equal(sl_limiter_unsheddable_limit(&s.lim), sl_limiter_limit(&s.lim));
}

/* The backend's service time doubles, its workers unchanged: latency rises
 * at the knee itself, and at the second such window the limit is cut by half
 * as if for a queue; the
 * trials above the cut show the throughput growing again, and the limit is
 * back at the knee within a second. The next probe learns the new no-load
 * latency, and the knee stays. */
static void slowdown_at_the_knee_is_followed_within_a_second(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    sim_windows(&s, 50);
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
    s.service_ns = 2 * SERVICE_NS;
    sim_window(&s);
    assert_int_equal(sl_limiter_limit(&s.lim), 4); /* one slow window may be chance */
    sim_window(&s);
    assert_int_equal(sl_limiter_limit(&s.lim), 2);
    sim_windows(&s, 8);
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), SERVICE_NS);
    expect_knee_held(&s, 0, 4, 4);
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), 2 * SERVICE_NS);
}

/* A limit found bad is retried: as many windows later as the limit (five
 * for 5) the first time, so a backend that gained workers is found without
 * waiting for a probe. */
static void a_bad_limit_is_retried_after_its_hold(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    sim_windows(&s, 14); /* 8 was found bad, then 5 twice */
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
    s.workers = 8;
    sim_windows(&s, 15);
    assert_in_range(sl_limiter_limit(&s.lim), 8, 9);
}

/* A knee of 1 (just relearned, say) whose trial of 2 meets a window slow by
 * chance (1.4x: the throughput of fewer than one and a half workers): 2 is
 * held off for two windows, not ten, and the limit is back at the real knee
 * of 4 within a second. */
static void a_chance_rise_at_a_low_limit_is_held_briefly(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    sim_windows(&s, 2); /* the probe, then 1 known good */
    assert_int_equal(sl_limiter_knee(&s.lim), 1);
    assert_int_equal(sl_limiter_limit(&s.lim), 2);
    s.service_ns = 14 * SERVICE_NS / 10;
    while (sl_limiter_limit(&s.lim) == 2)
        sim_window(&s);
    s.service_ns = SERVICE_NS;
    assert_int_equal(sl_limiter_limit(&s.lim), 1);
    sim_windows(&s, 3);
    assert_true(sl_limiter_limit(&s.lim) >= 2);
    sim_windows(&s, 7);
    assert_int_equal(sl_limiter_knee(&s.lim), 4);
}

/* Runs the 4-worker sim until a window opens at a trial of 5, above the knee
 * of 4 (slow start tried 8 first, then 5; the hold on 5 ends five windows
 * later), and returns that window's start. */
static uint64_t until_the_trial_of_5(struct sim *s)
{
    sim_init(s, 1, 1000);
    s->workers = 4;
    for (unsigned i = 0; i < 100000; i++) {
        uint32_t before = sl_limiter_limit(&s->lim);
        s->now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
        sl_limiter_on_sample(&s->lim, s->now_ns, sim_latency(s, before), before, false);
        if (sl_limiter_knee(&s->lim) == 4 && sl_limiter_limit(&s->lim) == 5 && before == 4)
            return s->now_ns;
    }
    fail_msg("no trial of 5");
    return 0;
}

/* A trial above the knee fails on its tenth sample sent in it (two per
 * slot), well before its window's end: it is back at 4 before the tenth of a
 * second is out. */
static void a_trial_above_the_knee_ends_when_clearly_bad(void **state)
{
    struct sim s;
    uint64_t opened_ns = until_the_trial_of_5(&s);
    unsigned counted = 0;
    while (sl_limiter_limit(&s.lim) == 5) {
        s.now_ns += MS;
        uint64_t latency_ns = sim_latency(&s, 5);
        if (s.now_ns - latency_ns >= opened_ns)
            counted++;
        sl_limiter_on_sample(&s.lim, s.now_ns, latency_ns, 5, false);
        assert_true(s.now_ns - opened_ns < WINDOW_NS);
    }
    assert_int_equal(counted, 10);
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
    assert_int_equal(sl_limiter_knee(&s.lim), 4);
}

/* A trial whose samples are fine runs its whole window before the limit
 * grows: early samples could pass a limit by chance. */
static void a_trial_that_looks_fine_runs_its_window(void **state)
{
    struct sim s;
    uint64_t opened_ns = until_the_trial_of_5(&s);
    while (s.now_ns - opened_ns < WINDOW_NS - MS) {
        s.now_ns += MS;
        sl_limiter_on_sample(&s.lim, s.now_ns, SERVICE_NS, 5, false);
        assert_int_equal(sl_limiter_limit(&s.lim), 5);
    }
    s.now_ns += MS;
    sl_limiter_on_sample(&s.lim, s.now_ns, SERVICE_NS, 5, false);
    assert_true(sl_limiter_limit(&s.lim) > 5);
}

/* The first probe saw only quick requests (a warm-up), then the real ones
 * take ten times as long: the rise at the floor cuts nothing below it, and
 * the trials above find the knee within a second, the stale no-load latency
 * notwithstanding; the next probe corrects that. */
static void a_first_probe_on_quick_requests_is_corrected(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    s.service_ns = SERVICE_NS / 10;
    sim_window(&s);
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), SERVICE_NS / 10);
    s.service_ns = SERVICE_NS;
    sim_windows(&s, 10);
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
    expect_knee_held(&s, 0, 4, 4);
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), SERVICE_NS);
}

/* Half the workers die: the probe shows the same no-load latency, so the
 * rise is a queue, and the limit comes down to the new knee and stays. */
static void capacity_loss_finds_the_new_knee(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 50;
    sim_windows(&s, 50);
    s.workers = 25;
    sim_windows(&s, 20);
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), SERVICE_NS);
    expect_knee_held(&s, 0, 25, 28);
}

/* One noisy window at the knee cuts nothing and probes nothing, and slow
 * start stays on. Two in a row cut the limit but probe nothing; the limit is
 * back a few windows later. */
static void one_slow_window_does_not_probe(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 50;
    sim_windows(&s, 50);
    uint32_t before = sl_limiter_limit(&s.lim);
    s.service_ns = 2 * SERVICE_NS;
    sim_window(&s);
    s.service_ns = SERVICE_NS;
    assert_false(sl_limiter_is_probing(&s.lim));
    assert_int_equal(sl_limiter_limit(&s.lim), before);
    sim_windows(&s, 5);
    assert_int_equal(sl_limiter_limit(&s.lim), before);

    s.service_ns = 2 * SERVICE_NS;
    sim_windows(&s, 2);
    s.service_ns = SERVICE_NS;
    assert_false(sl_limiter_is_probing(&s.lim));
    assert_true(sl_limiter_limit(&s.lim) < before);
    sim_windows(&s, 30);
    assert_false(sl_limiter_is_probing(&s.lim));
    assert_in_range(sl_limiter_limit(&s.lim), 48, 52);
}

/* Bids alone leave the limit at 4 above a knee of 2 (demand-bound: 2 in
 * flight at most) with slow start on. A window slow by chance there tried
 * nothing at 4, which it never reached: it must not mark 4 bad and end slow
 * start, or the flood that follows climbs a slot a window instead of
 * doubling. */
static void a_slow_window_below_the_limit_tries_nothing(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 16;
    s.demand = 2;
    sim_windows(&s, 10);
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
    assert_int_equal(sl_limiter_knee(&s.lim), 2);
    s.service_ns = 2 * SERVICE_NS;
    sim_window(&s);
    s.service_ns = SERVICE_NS;
    sim_window(&s); /* whatever window the slow samples spilled into ends */
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
    s.demand = 0; /* the flood */
    sim_windows(&s, 2);
    assert_int_equal(sl_limiter_limit(&s.lim), 16); /* 4 fine, 8 fine: doubling */
}

/* Latency rises by a fifth at the knee (a CPU shared with the backend,
 * say) while the demand, 4 in flight, fits the limit: nothing waits for the
 * limit, so the limit stays. Once the demand exceeds it, the same rise cuts
 * it within two windows. */
static void a_rise_with_nothing_held_back_cuts_nothing(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.workers = 4;
    sim_windows(&s, 30);
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
    s.demand = 4;
    sim_window(&s); /* a window may be open since a trial: it held requests back */
    s.service_ns = SERVICE_NS * 6 / 5;
    for (unsigned w = 0; w < 50; w++) {
        sim_window(&s);
        assert_false(sl_limiter_is_probing(&s.lim));
        assert_int_equal(sl_limiter_limit(&s.lim), 4);
    }
    s.demand = 0;
    sim_windows(&s, 2);
    assert_true(sl_limiter_limit(&s.lim) < 4);
}

/* An idle backend gives no evidence about higher limits: with 3 in flight at
 * most the limit stops at 4, the first it did not reach. */
static void idle_backend_does_not_grow(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    s.demand = 3;
    sim_windows(&s, 200);
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
}

/* The peak counts, not the mean: one busy moment per window is enough. */
static void growth_follows_the_window_peak(void **state)
{
    struct sim s;
    sim_init(&s, 1, 1000);
    sim_window(&s); /* the probe */
    for (unsigned w = 0; w < 5; w++) {
        uint32_t limit = sl_limiter_limit(&s.lim);
        for (unsigned i = 0; i < SAMPLES_PER_WINDOW; i++) {
            s.now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
            sl_limiter_on_sample(&s.lim, s.now_ns, SERVICE_NS, i == 3 ? limit : 1, false);
        }
    }
    assert_int_equal(sl_limiter_limit(&s.lim), 32);
}

/* A flat backend brings the limit to a ceiling of 100 in a few windows. */
static void sim_at_100(struct sim *s, uint32_t min)
{
    sim_init(s, min, 100);
    sim_windows(s, 10);
    assert_int_equal(sl_limiter_limit(&s->lim), 100);
}

static void sample_held_back(struct sim *s, uint64_t now_ns, uint64_t latency_ns, uint32_t inflight,
                             bool is_drop);

/* At 100, after one window slow by chance (which cut nothing): the next
 * window that closes slow cuts, which shows when a window decides. */
static void sim_at_100_after_a_rise(struct sim *s)
{
    sim_at_100(s, 1);
    for (unsigned i = 0; i < SAMPLES_PER_WINDOW; i++) {
        s->now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
        sample_held_back(s, s->now_ns, 3 * SERVICE_NS, 100, false);
    }
    assert_int_equal(sl_limiter_limit(&s->lim), 100);
}

static void drop_cuts_by_a_tenth(void **state)
{
    struct sim s;
    sim_at_100(&s, 1);
    s.now_ns += MS;
    sl_limiter_on_sample(&s.lim, s.now_ns, 5000 * MS, 100, true);
    assert_int_equal(sl_limiter_limit(&s.lim), 90);
}

/* The drops of one incident arrive together: one cut per window, however many. */
static void drops_cut_once_per_window(void **state)
{
    struct sim s;
    sim_at_100(&s, 1);
    for (unsigned i = 0; i < 50; i++) {
        s.now_ns += WINDOW_NS / 100;
        sl_limiter_on_sample(&s.lim, s.now_ns, 5000 * MS, 100, true);
    }
    assert_int_equal(sl_limiter_limit(&s.lim), 90);
    s.now_ns += WINDOW_NS;
    sl_limiter_on_sample(&s.lim, s.now_ns, 5000 * MS, 100, true);
    assert_int_equal(sl_limiter_limit(&s.lim), 81);
}

/* A backend that only fails gives no latency samples at all; drops must still
 * bring the limit down, to the floor and not below. */
static void drops_alone_cut_to_min(void **state)
{
    struct sim s;
    sim_at_100(&s, 4);
    for (unsigned i = 0; i < 200; i++) {
        s.now_ns += WINDOW_NS;
        sl_limiter_on_sample(&s.lim, s.now_ns, 5000 * MS, 50, true);
        assert_true(sl_limiter_limit(&s.lim) >= 4);
    }
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
}

/* During a probe a drop cuts the limit the probe gives back. */
static void drop_during_a_probe_cuts_what_it_gives_back(void **state)
{
    struct sim s;
    sim_at_100(&s, 1);
    for (unsigned w = 0; w < 300 && !sl_limiter_is_probing(&s.lim); w++)
        sim_window(&s); /* until the periodic probe starts */
    assert_true(sl_limiter_is_probing(&s.lim));
    s.now_ns += MS;
    sl_limiter_on_sample(&s.lim, s.now_ns, 5000 * MS, 1, true);
    assert_int_equal(sl_limiter_limit(&s.lim), 1);
    sim_window(&s);
    assert_false(sl_limiter_is_probing(&s.lim));
    assert_int_equal(sl_limiter_limit(&s.lim), 90);
}

/* Drops are not latency samples: fast failures during the first probe must
 * not end it with a tiny no-load latency. */
static void fast_drops_do_not_teach_no_load(void **state)
{
    struct sim s;
    sim_init(&s, 1, 200);
    for (unsigned i = 0; i < 200; i++) {
        s.now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
        sl_limiter_on_sample(&s.lim, s.now_ns, 1000, 1, true);
    }
    assert_true(sl_limiter_is_probing(&s.lim));
    sim_window(&s);
    assert_int_equal(sl_limiter_no_load_ns(&s.lim), SERVICE_NS);
}

/* A sample of a window in which the limit held requests back (the demand is
 * above it): a rise in it may cut. */
static void sample_held_back(struct sim *s, uint64_t now_ns, uint64_t latency_ns, uint32_t inflight,
                             bool is_drop)
{
    sl_limiter_on_held_back(&s->lim);
    sl_limiter_on_sample(&s->lim, now_ns, latency_ns, inflight, is_drop);
}

/* Fewer than a handful of samples decide nothing, however long they take: the
 * window stays open until there are enough. */
static void sparse_window_extends_until_enough_samples(void **state)
{
    struct sim s;
    sim_at_100_after_a_rise(&s);
    for (unsigned i = 0; i < 4; i++) {
        s.now_ns += WINDOW_NS;
        sample_held_back(&s, s.now_ns, 10 * SERVICE_NS, 100, false);
        assert_int_equal(sl_limiter_limit(&s.lim), 100);
    }
    s.now_ns += WINDOW_NS;
    sample_held_back(&s, s.now_ns, 10 * SERVICE_NS, 100, false);
    assert_true(sl_limiter_limit(&s.lim) < 100);
}

/* Nothing is decided before the window's end, however bad the samples. */
static void window_decides_only_at_its_end(void **state)
{
    struct sim s;
    sim_at_100_after_a_rise(&s);
    for (unsigned i = 0; i < SAMPLES_PER_WINDOW - 1; i++) {
        s.now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
        sample_held_back(&s, s.now_ns, 3 * SERVICE_NS, 100, false);
        assert_int_equal(sl_limiter_limit(&s.lim), 100);
    }
    s.now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
    sample_held_back(&s, s.now_ns, 3 * SERVICE_NS, 100, false);
    assert_true(sl_limiter_limit(&s.lim) < 100);
}

/* A window judges the requests sent in it: slow ones sent before it opened
 * (at another limit) decide nothing, however many and however long after. */
static void samples_sent_before_the_window_do_not_count(void **state)
{
    struct sim s;
    sim_at_100_after_a_rise(&s);
    uint64_t opened_ns = s.now_ns; /* the last sample closed a window */
    for (unsigned i = 0; i < 40; i++) {
        s.now_ns += 5 * MS;
        sample_held_back(&s, s.now_ns, s.now_ns - opened_ns + MS, 100, false);
    }
    assert_int_equal(sl_limiter_limit(&s.lim), 100);
    for (unsigned i = 0; i < 5; i++) {
        s.now_ns += MS;
        sample_held_back(&s, s.now_ns, 2 * SERVICE_NS, 100, false);
    }
    assert_true(sl_limiter_limit(&s.lim) < 100);
}

/* However far latency rises, the limit stops at its floor. */
static void shrinking_stops_at_min(void **state)
{
    struct sim s;
    sim_at_100(&s, 50);
    s.service_ns = 3 * SERVICE_NS;
    for (unsigned w = 0; w < 15; w++) {
        sim_window(&s);
        assert_true(sl_limiter_limit(&s.lim) >= 50);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(static_limit_is_max_and_ignores_samples),
        cmocka_unit_test(probe_first_then_slow_start_to_max),
        cmocka_unit_test(probe_counts_only_requests_sent_at_the_floor),
        cmocka_unit_test(knee_of_4_workers_is_found_from_below_and_kept),
        cmocka_unit_test(knee_of_50_workers_is_found_and_kept),
        cmocka_unit_test(a_rise_that_brings_throughput_does_not_stop_the_climb),
        cmocka_unit_test(a_gain_only_from_a_queue_in_the_backend_needs_flat_latency),
        cmocka_unit_test(trials_below_a_held_bad_limit_bisect_then_stay),
        cmocka_unit_test(no_trial_above_a_knee_not_yet_measured),
        cmocka_unit_test(periodic_probe_relearns_and_returns_to_the_knee),
        cmocka_unit_test(slowdown_at_the_knee_is_followed_within_a_second),
        cmocka_unit_test(a_first_probe_on_quick_requests_is_corrected),
        cmocka_unit_test(unsheddable_limit_through_a_probe_and_past_its_grace),
        cmocka_unit_test(a_bad_limit_is_retried_after_its_hold),
        cmocka_unit_test(a_chance_rise_at_a_low_limit_is_held_briefly),
        cmocka_unit_test(a_trial_above_the_knee_ends_when_clearly_bad),
        cmocka_unit_test(a_trial_that_looks_fine_runs_its_window),
        cmocka_unit_test(capacity_loss_finds_the_new_knee),
        cmocka_unit_test(one_slow_window_does_not_probe),
        cmocka_unit_test(a_slow_window_below_the_limit_tries_nothing),
        cmocka_unit_test(a_rise_with_nothing_held_back_cuts_nothing),
        cmocka_unit_test(idle_backend_does_not_grow),
        cmocka_unit_test(growth_follows_the_window_peak),
        cmocka_unit_test(drop_cuts_by_a_tenth),
        cmocka_unit_test(drops_cut_once_per_window),
        cmocka_unit_test(drops_alone_cut_to_min),
        cmocka_unit_test(drop_during_a_probe_cuts_what_it_gives_back),
        cmocka_unit_test(fast_drops_do_not_teach_no_load),
        cmocka_unit_test(sparse_window_extends_until_enough_samples),
        cmocka_unit_test(window_decides_only_at_its_end),
        cmocka_unit_test(samples_sent_before_the_window_do_not_count),
        cmocka_unit_test(shrinking_stops_at_min),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
