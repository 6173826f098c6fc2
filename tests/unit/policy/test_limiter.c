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
 * min(demand, limit) requests in flight; demand 0 means "always at the limit". */
struct sim {
    struct sl_limiter lim;
    uint64_t now_ns;
    uint32_t workers;
    uint64_t service_ns;
    uint32_t demand;
    unsigned jitter_percent; /* each latency off by up to this, uniformly */
    uint32_t rng;
};

static void sim_init(struct sim *s, uint32_t min, uint32_t initial, uint32_t max)
{
    struct sl_limiter_config cfg = {
        .kind = SL_LIMITER_ADAPTIVE,
        .max_inflight = max,
        .min_inflight = min,
        .initial_inflight = initial,
        .window_ns = WINDOW_NS,
    };
    *s = (struct sim){.now_ns = 1000 * MS, .service_ns = SERVICE_NS, .rng = 2463534242u};
    sl_limiter_init(&s->lim, &cfg, s->now_ns);
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
    if (s->workers != 0 && inflight > s->workers)
        latency_ns = s->service_ns * inflight / s->workers;
    if (s->jitter_percent != 0) {
        unsigned span = 2 * s->jitter_percent + 1;
        latency_ns = latency_ns * (100 - s->jitter_percent + sim_random(s) % span) / 100;
    }
    return latency_ns;
}

/* Feeds one window's worth of samples; the last lands on the window's end. */
static void sim_window(struct sim *s)
{
    for (uint32_t i = 0; i < SAMPLES_PER_WINDOW; i++) {
        s->now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
        uint32_t inflight = sl_limiter_limit(&s->lim);
        if (s->demand != 0 && s->demand < inflight)
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

static void adaptive_starts_at_initial(void **state)
{
    struct sim s;
    sim_init(&s, 2, 17, 300);
    assert_int_equal(sl_limiter_limit(&s.lim), 17);
}

/* Latency never rises, and the client always fills the limit: nothing says
 * stop, so the limit climbs to the ceiling, never down, and stays there. */
static void flat_latency_at_the_limit_grows_to_max(void **state)
{
    struct sim s;
    sim_init(&s, 1, 10, 200);
    uint32_t prev = sl_limiter_limit(&s.lim);
    for (unsigned w = 0; w < 1000 && prev < 200; w++) {
        sim_window(&s);
        uint32_t limit = sl_limiter_limit(&s.lim);
        assert_true(limit >= prev);
        prev = limit;
    }
    assert_int_equal(sl_limiter_limit(&s.lim), 200);
    sim_windows(&s, 100);
    assert_int_equal(sl_limiter_limit(&s.lim), 200);
}

/* A backend with C workers: below C latency is flat, above it grows with the
 * queue. The limiter must find the knee: at least C (it would leave workers
 * idle otherwise, with latency at its minimum), but well short of where the
 * queue doubles latency (2C), and certainly not at max or min. It must stay
 * there under sustained load rather than slowly adopt its own queue as the
 * no-load latency. */
static void knee_settles_between_c_and_2c(uint32_t workers, unsigned jitter_percent,
                                          unsigned windows)
{
    struct sim s;
    sim_init(&s, 1, 5, 1000);
    s.workers = workers;
    s.jitter_percent = jitter_percent;
    sim_windows(&s, 200);
    for (unsigned w = 0; w < windows; w++) {
        sim_window(&s);
        uint32_t limit = sl_limiter_limit(&s.lim);
        if (limit < workers || limit > 2 * workers)
            fail_msg("window %u: limit %u outside [%u, %u]", 200 + w, limit, workers, 2 * workers);
    }
}

static void knee_of_50_workers_holds_for_1000_windows(void **state)
{
    knee_settles_between_c_and_2c(50, 0, 1000);
}

static void knee_of_30_workers_holds_for_500_windows(void **state)
{
    knee_settles_between_c_and_2c(30, 0, 500);
}

/* Real latencies scatter: the minimum of noisy window means sits below the
 * true service time, and noisy windows must not ratchet the limit either way. */
static void noisy_knee_of_50_workers_holds_for_1000_windows(void **state)
{
    knee_settles_between_c_and_2c(50, 20, 1000);
}

/* Workers die. Under steady load, with no lull to relearn the no-load latency
 * at low concurrency, the rise at concurrencies that used to be free may pass
 * for a slower service and be partly adopted; but the limit must come down
 * at once and never climb back past where it stood. */
static void capacity_loss_brings_the_limit_down(void **state)
{
    struct sim s;
    sim_init(&s, 1, 5, 1000);
    s.workers = 50;
    sim_windows(&s, 200);
    uint32_t settled = sl_limiter_limit(&s.lim);
    s.workers = 10;
    sim_windows(&s, 10);
    assert_true(sl_limiter_limit(&s.lim) < settled * 3 / 4);
    for (unsigned w = 0; w < 1000; w++) {
        sim_window(&s);
        assert_true(sl_limiter_limit(&s.lim) < settled);
    }
}

/* After a lull has shown the no-load latency at low concurrency, a capacity
 * loss is seen as the queue it is and the new knee is found. */
static void capacity_loss_after_a_lull_finds_the_new_knee(void **state)
{
    struct sim s;
    sim_init(&s, 1, 5, 1000);
    s.workers = 50;
    sim_windows(&s, 200);
    uint32_t settled = sl_limiter_limit(&s.lim);
    s.demand = 5; /* the lull: the limit holds */
    sim_windows(&s, 50);
    assert_int_equal(sl_limiter_limit(&s.lim), settled);
    s.workers = 25;
    s.demand = 0;
    sim_windows(&s, 100);
    for (unsigned w = 0; w < 300; w++) {
        sim_window(&s);
        assert_in_range(sl_limiter_limit(&s.lim), 25, 50);
    }
}

/* Latency triples at once: the limit must fall in every one of the next
 * windows and be well down within ten. */
static void latency_rise_shrinks_within_a_few_windows(void **state)
{
    struct sim s;
    sim_init(&s, 1, 100, 100);
    sim_windows(&s, 20);
    assert_int_equal(sl_limiter_limit(&s.lim), 100);
    s.service_ns = 3 * SERVICE_NS;
    uint32_t prev = 100;
    for (unsigned w = 0; w < 5; w++) {
        sim_window(&s);
        assert_true(sl_limiter_limit(&s.lim) < prev);
        prev = sl_limiter_limit(&s.lim);
    }
    sim_windows(&s, 5);
    assert_true(sl_limiter_limit(&s.lim) <= 75);
}

/* A permanent slowdown is eventually taken as the new normal: the limit comes
 * back to the ceiling once the no-load latency has caught up. */
static void permanent_latency_rise_is_eventually_accepted(void **state)
{
    struct sim s;
    sim_init(&s, 1, 100, 100);
    sim_windows(&s, 20);
    s.service_ns = 3 * SERVICE_NS;
    sim_windows(&s, 20);
    assert_true(sl_limiter_limit(&s.lim) < 60);
    sim_windows(&s, 1000);
    assert_int_equal(sl_limiter_limit(&s.lim), 100);
}

/* A slowdown first met under heavy load, above any concurrency seen at the
 * old latency, is indistinguishable from a queue of our own making. The
 * limiter may keep the limit down for a long while, but not forever. */
static void slowdown_under_heavy_load_is_not_pinned_forever(void **state)
{
    struct sim s;
    sim_init(&s, 1, 100, 100);
    s.demand = 5; /* light load at the old latency */
    sim_windows(&s, 20);
    assert_int_equal(sl_limiter_limit(&s.lim), 100);
    s.service_ns = 2 * SERVICE_NS;
    s.demand = 40; /* the slowdown doubles concurrency at the same request rate */
    uint32_t lowest = sl_limiter_limit(&s.lim);
    for (int i = 0; i < 200; i++) {
        sim_windows(&s, 1);
        if (sl_limiter_limit(&s.lim) < lowest)
            lowest = sl_limiter_limit(&s.lim);
    }
    assert_true(lowest < 40); /* the case bites: demand is refused for a while */
    sim_windows(&s, 3000);
    assert_true(sl_limiter_limit(&s.lim) >= 40);
}

/* An idle backend gives no evidence about higher limits: the limit holds. */
static void idle_backend_does_not_grow(void **state)
{
    struct sim s;
    sim_init(&s, 1, 20, 1000);
    s.demand = 3;
    sim_windows(&s, 500);
    assert_int_equal(sl_limiter_limit(&s.lim), 20);
}

/* "Approached" means a peak in flight of at least half the limit. */
static void growth_needs_half_the_limit_in_flight(void **state)
{
    struct sim s;
    sim_init(&s, 1, 100, 1000);
    s.demand = 49;
    sim_windows(&s, 50);
    assert_int_equal(sl_limiter_limit(&s.lim), 100);
    s.demand = 50;
    sim_windows(&s, 5);
    assert_true(sl_limiter_limit(&s.lim) > 100);
}

/* The peak counts, not the mean: one busy moment per window is enough. */
static void growth_follows_the_window_peak(void **state)
{
    struct sl_limiter_config cfg = {SL_LIMITER_ADAPTIVE, 1000, 1, 20, WINDOW_NS};
    struct sl_limiter lim;
    uint64_t now_ns = 0;
    sl_limiter_init(&lim, &cfg, now_ns);
    for (unsigned w = 0; w < 5; w++) {
        for (unsigned i = 0; i < SAMPLES_PER_WINDOW; i++) {
            now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
            sl_limiter_on_sample(&lim, now_ns, SERVICE_NS, i == 3 ? 20 : 1, false);
        }
    }
    assert_true(sl_limiter_limit(&lim) > 20);
}

static void drop_cuts_by_a_tenth(void **state)
{
    struct sim s;
    sim_init(&s, 1, 100, 200);
    s.now_ns += MS;
    sl_limiter_on_sample(&s.lim, s.now_ns, 5000 * MS, 100, true);
    assert_int_equal(sl_limiter_limit(&s.lim), 90);
}

/* The drops of one incident arrive together: one cut per window, however many. */
static void drops_cut_once_per_window(void **state)
{
    struct sim s;
    sim_init(&s, 1, 100, 200);
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
    sim_init(&s, 4, 100, 200);
    for (unsigned i = 0; i < 200; i++) {
        s.now_ns += WINDOW_NS;
        sl_limiter_on_sample(&s.lim, s.now_ns, 5000 * MS, 50, true);
        assert_true(sl_limiter_limit(&s.lim) >= 4);
    }
    assert_int_equal(sl_limiter_limit(&s.lim), 4);
}

/* Drops are not latency samples: a fast failure must not lower the no-load
 * latency, which would make every normal window look slow. */
static void fast_drops_do_not_teach_no_load(void **state)
{
    struct sim s;
    sim_init(&s, 1, 50, 200);
    for (unsigned w = 0; w < 10; w++) {
        for (unsigned i = 0; i < SAMPLES_PER_WINDOW; i++) {
            s.now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
            sl_limiter_on_sample(&s.lim, s.now_ns, 1000, 50, true);
        }
    }
    uint32_t after_drops = sl_limiter_limit(&s.lim);
    sim_windows(&s, 50);
    assert_true(sl_limiter_limit(&s.lim) > after_drops);
}

/* Fewer than a handful of samples decide nothing, however long they take: the
 * window stays open until there are enough. */
static void sparse_window_extends_until_enough_samples(void **state)
{
    struct sim s;
    sim_init(&s, 1, 100, 200);
    sim_windows(&s, 3);
    uint32_t before = sl_limiter_limit(&s.lim);
    for (unsigned i = 0; i < 4; i++) {
        s.now_ns += WINDOW_NS;
        sl_limiter_on_sample(&s.lim, s.now_ns, 10 * SERVICE_NS, before, false);
        assert_int_equal(sl_limiter_limit(&s.lim), before);
    }
    s.now_ns += WINDOW_NS;
    sl_limiter_on_sample(&s.lim, s.now_ns, 10 * SERVICE_NS, before, false);
    assert_true(sl_limiter_limit(&s.lim) < before);
}

/* Nothing is decided before the window's end, however bad the samples. */
static void window_decides_only_at_its_end(void **state)
{
    struct sim s;
    sim_init(&s, 1, 100, 200);
    sim_windows(&s, 3);
    uint32_t before = sl_limiter_limit(&s.lim);
    for (unsigned i = 0; i < SAMPLES_PER_WINDOW - 1; i++) {
        s.now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
        sl_limiter_on_sample(&s.lim, s.now_ns, 10 * SERVICE_NS, before, false);
        assert_int_equal(sl_limiter_limit(&s.lim), before);
    }
    s.now_ns += WINDOW_NS / SAMPLES_PER_WINDOW;
    sl_limiter_on_sample(&s.lim, s.now_ns, 10 * SERVICE_NS, before, false);
    assert_true(sl_limiter_limit(&s.lim) < before);
}

/* However far latency rises, the limit stops at its floor. */
static void shrinking_stops_at_min(void **state)
{
    struct sim s;
    sim_init(&s, 50, 100, 200);
    sim_windows(&s, 3);
    s.service_ns = 3 * SERVICE_NS;
    for (unsigned w = 0; w < 15; w++) {
        sim_window(&s);
        assert_true(sl_limiter_limit(&s.lim) >= 50);
    }
    assert_int_equal(sl_limiter_limit(&s.lim), 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(static_limit_is_max_and_ignores_samples),
        cmocka_unit_test(adaptive_starts_at_initial),
        cmocka_unit_test(flat_latency_at_the_limit_grows_to_max),
        cmocka_unit_test(knee_of_50_workers_holds_for_1000_windows),
        cmocka_unit_test(knee_of_30_workers_holds_for_500_windows),
        cmocka_unit_test(noisy_knee_of_50_workers_holds_for_1000_windows),
        cmocka_unit_test(capacity_loss_brings_the_limit_down),
        cmocka_unit_test(capacity_loss_after_a_lull_finds_the_new_knee),
        cmocka_unit_test(latency_rise_shrinks_within_a_few_windows),
        cmocka_unit_test(permanent_latency_rise_is_eventually_accepted),
        cmocka_unit_test(slowdown_under_heavy_load_is_not_pinned_forever),
        cmocka_unit_test(idle_backend_does_not_grow),
        cmocka_unit_test(growth_needs_half_the_limit_in_flight),
        cmocka_unit_test(growth_follows_the_window_peak),
        cmocka_unit_test(drop_cuts_by_a_tenth),
        cmocka_unit_test(drops_cut_once_per_window),
        cmocka_unit_test(drops_alone_cut_to_min),
        cmocka_unit_test(fast_drops_do_not_teach_no_load),
        cmocka_unit_test(sparse_window_extends_until_enough_samples),
        cmocka_unit_test(window_decides_only_at_its_end),
        cmocka_unit_test(shrinking_stops_at_min),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
