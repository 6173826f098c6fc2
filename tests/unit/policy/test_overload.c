#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "class.h"
#include "overload.h"

#define MS 1000000ull
#define STEP_NS (1000 * MS)

/* Thresholds: lag 100 ms, 1000 connections, 5000 streams; cool below 80%. */
static const struct sl_overload_config base_cfg = {
    .max_loop_lag_ns = 100 * MS,
    .max_connections = 1000,
    .max_streams = 5000,
    .recover_percent = 80,
    .step_ns = STEP_NS,
    .max_level = 3,
};

static const struct sl_overload_signal hot = {.loop_lag_ns = 150 * MS, .connections = 10};
static const struct sl_overload_signal neutral = {.loop_lag_ns = 90 * MS, .connections = 10};
static const struct sl_overload_signal cool = {.loop_lag_ns = 10 * MS, .connections = 10};

/* The fake clock: tests start it at 0 on purpose, the edge a sentinel would trip on. */
static uint64_t now_ns;

static void init(struct sl_overload *ov, const struct sl_overload_config *cfg)
{
    now_ns = 0;
    sl_overload_init(ov, cfg);
}

static unsigned feed_at(struct sl_overload *ov, uint64_t at_ns,
                        const struct sl_overload_signal *sig)
{
    now_ns = at_ns;
    return sl_overload_update(ov, now_ns, sig);
}

/* Drives the level up to `level` with hot samples a step apart; returns when
 * the last rise happened. */
static uint64_t raise_to(struct sl_overload *ov, unsigned level)
{
    uint64_t at_ns = now_ns;
    for (unsigned l = 1; l <= level; l++) {
        assert_int_equal(feed_at(ov, at_ns, &hot), l);
        assert_int_equal(sl_overload_level(ov), l);
        if (l < level)
            at_ns += STEP_NS;
    }
    return at_ns;
}

static void starts_at_zero_and_sheds_nothing(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    struct sl_class_policy cls = {.shed_rank = 1};
    assert_false(sl_overload_sheds(&ov, &cls));
    assert_int_equal(sl_overload_level(&ov), 0);
    assert_int_equal(feed_at(&ov, 0, &cool), 0);
    assert_int_equal(feed_at(&ov, 5 * STEP_NS, &neutral), 0);
}

static void first_hot_sample_rises_at_once(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    assert_int_equal(feed_at(&ov, 0, &hot), 1);
}

static void rises_at_most_once_per_step(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t0 = 7 * MS;
    assert_int_equal(feed_at(&ov, t0, &hot), 1);
    for (uint64_t t = t0; t < t0 + STEP_NS; t += STEP_NS / 10)
        assert_int_equal(feed_at(&ov, t, &hot), 1);
    assert_int_equal(feed_at(&ov, t0 + STEP_NS - 1, &hot), 1);
    assert_int_equal(feed_at(&ov, t0 + STEP_NS, &hot), 2);
    assert_int_equal(feed_at(&ov, t0 + STEP_NS + 1, &hot), 2);
    assert_int_equal(feed_at(&ov, t0 + 2 * STEP_NS, &hot), 3);
}

/* Pacing is against the last rise, not the last hot sample: hot samples in
 * between do not push the next rise back. */
static void hot_samples_between_rises_do_not_delay_the_next(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    assert_int_equal(feed_at(&ov, 0, &hot), 1);
    assert_int_equal(feed_at(&ov, STEP_NS / 2, &hot), 1);
    assert_int_equal(feed_at(&ov, STEP_NS - 1, &hot), 1);
    assert_int_equal(feed_at(&ov, STEP_NS, &hot), 2);
}

static void holds_on_neutral(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t = raise_to(&ov, 2);
    for (unsigned i = 1; i <= 50; i++)
        assert_int_equal(feed_at(&ov, t + i * STEP_NS / 5, &neutral), 2);
}

static void falls_after_cool_for_a_whole_step_not_before(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t = raise_to(&ov, 2) + MS;
    assert_int_equal(feed_at(&ov, t, &cool), 2); /* the cool run starts here */
    assert_int_equal(feed_at(&ov, t + STEP_NS / 2, &cool), 2);
    assert_int_equal(feed_at(&ov, t + STEP_NS - 1, &cool), 2);
    assert_int_equal(feed_at(&ov, t + STEP_NS, &cool), 1);
    /* each further fall needs another whole step */
    assert_int_equal(feed_at(&ov, t + STEP_NS + 1, &cool), 1);
    assert_int_equal(feed_at(&ov, t + 2 * STEP_NS - 1, &cool), 1);
    assert_int_equal(feed_at(&ov, t + 2 * STEP_NS, &cool), 0);
    assert_int_equal(feed_at(&ov, t + 5 * STEP_NS, &cool), 0);
}

/* Samples are whatever the worker manages: a long gap is one fall, not many. */
static void sparse_cool_samples_fall_one_level_each(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t = raise_to(&ov, 3) + MS;
    assert_int_equal(feed_at(&ov, t, &cool), 3);
    assert_int_equal(feed_at(&ov, t + 10 * STEP_NS, &cool), 2);
}

static void neutral_sample_restarts_the_cool_run(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t = raise_to(&ov, 2) + MS;
    assert_int_equal(feed_at(&ov, t, &cool), 2);
    assert_int_equal(feed_at(&ov, t + STEP_NS / 2, &neutral), 2);
    uint64_t restart = t + STEP_NS / 2 + 1;
    assert_int_equal(feed_at(&ov, restart, &cool), 2);
    assert_int_equal(feed_at(&ov, t + STEP_NS, &cool), 2);
    assert_int_equal(feed_at(&ov, restart + STEP_NS - 1, &cool), 2);
    assert_int_equal(feed_at(&ov, restart + STEP_NS, &cool), 1);
}

static void hot_sample_restarts_the_cool_run(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t = raise_to(&ov, 3) + MS; /* at max: the hot sample cannot rise */
    assert_int_equal(feed_at(&ov, t, &cool), 3);
    assert_int_equal(feed_at(&ov, t + STEP_NS / 2, &hot), 3);
    assert_int_equal(feed_at(&ov, t + STEP_NS, &cool), 3);
    assert_int_equal(feed_at(&ov, t + 2 * STEP_NS - 1, &cool), 3);
    assert_int_equal(feed_at(&ov, t + 2 * STEP_NS, &cool), 2);
}

/* Time zero is an instant like any other: a cool run may start there. */
static void cool_run_may_start_at_time_zero(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    assert_int_equal(feed_at(&ov, 0, &hot), 1);
    assert_int_equal(feed_at(&ov, 0, &cool), 1);
    assert_int_equal(feed_at(&ov, STEP_NS, &cool), 0);
}

/* After a fall the level may prove too low: the next hot sample rises at once
 * (the last rise is at least a step old by construction). */
static void hot_sample_after_a_fall_rises_at_once(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t = raise_to(&ov, 2) + MS;
    assert_int_equal(feed_at(&ov, t, &cool), 2);
    assert_int_equal(feed_at(&ov, t + STEP_NS, &cool), 1);
    assert_int_equal(feed_at(&ov, t + STEP_NS + 1, &hot), 2);
    /* and that rise paces the next */
    assert_int_equal(feed_at(&ov, t + 2 * STEP_NS, &hot), 2);
    assert_int_equal(feed_at(&ov, t + 2 * STEP_NS + 1, &hot), 3);
}

static void capped_at_max_level(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    for (unsigned i = 0; i < 20; i++)
        assert_int_equal(feed_at(&ov, i * STEP_NS, &hot), i < 3 ? i + 1 : 3);
    assert_int_equal(feed_at(&ov, 20 * STEP_NS, &hot), 3);
    /* being held at the cap did not bank rises: one cool step takes one level */
    assert_int_equal(feed_at(&ov, 21 * STEP_NS, &cool), 3);
    assert_int_equal(feed_at(&ov, 22 * STEP_NS, &cool), 2);
}

static void max_level_zero_never_sheds(void **state)
{
    struct sl_overload_config cfg = base_cfg;
    cfg.max_level = 0;
    struct sl_overload ov;
    init(&ov, &cfg);
    struct sl_class_policy cls = {.shed_rank = 1};
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(feed_at(&ov, i * STEP_NS, &hot), 0);
        assert_false(sl_overload_sheds(&ov, &cls));
    }
}

static void each_signal_alone_triggers(void **state)
{
    const struct sl_overload_signal signals[] = {
        {.loop_lag_ns = 100 * MS}, /* at the threshold is hot */
        {.connections = 1000},
        {.streams = 5000},
    };
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        struct sl_overload ov;
        init(&ov, &base_cfg);
        assert_int_equal(feed_at(&ov, 0, &signals[i]), 1);
    }
}

static void just_below_the_threshold_is_not_hot(void **state)
{
    const struct sl_overload_signal signals[] = {
        {.loop_lag_ns = 100 * MS - 1},
        {.connections = 999},
        {.streams = 4999},
    };
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        struct sl_overload ov;
        init(&ov, &base_cfg);
        assert_int_equal(feed_at(&ov, 0, &signals[i]), 0);
    }
}

/* A zero threshold: the signal neither heats nor keeps the level from cooling. */
static void unwatched_signal_is_ignored(void **state)
{
    struct sl_overload_config cfg = base_cfg;
    cfg.max_connections = 0;
    struct sl_overload ov;
    init(&ov, &cfg);
    struct sl_overload_signal sig = {.loop_lag_ns = 10 * MS, .connections = UINT32_MAX};
    assert_int_equal(feed_at(&ov, 0, &sig), 0);
    raise_to(&ov, 2);
    assert_int_equal(feed_at(&ov, STEP_NS + MS, &sig), 2);
    assert_int_equal(feed_at(&ov, 2 * STEP_NS + MS, &sig), 1);
}

static void nothing_watched_never_rises(void **state)
{
    struct sl_overload_config cfg = base_cfg;
    cfg.max_loop_lag_ns = 0;
    cfg.max_connections = 0;
    cfg.max_streams = 0;
    struct sl_overload ov;
    init(&ov, &cfg);
    struct sl_overload_signal sig = {UINT64_MAX, UINT32_MAX, UINT32_MAX};
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(feed_at(&ov, i * STEP_NS, &sig), 0);
}

/* Cool means every watched signal strictly below recover_percent of its
 * threshold; one signal in the band between makes the sample neutral. */
static void cool_needs_every_signal_below_recover_percent(void **state)
{
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t = raise_to(&ov, 1) + MS;
    const struct sl_overload_signal at_80_percent = {.loop_lag_ns = 10 * MS, .streams = 4000};
    const struct sl_overload_signal below_80_percent = {.loop_lag_ns = 10 * MS, .streams = 3999};
    assert_int_equal(feed_at(&ov, t, &at_80_percent), 1);
    assert_int_equal(feed_at(&ov, t + STEP_NS, &at_80_percent), 1);
    assert_int_equal(feed_at(&ov, t + 2 * STEP_NS, &below_80_percent), 1);
    assert_int_equal(feed_at(&ov, t + 3 * STEP_NS, &below_80_percent), 0);
}

/* Whether sig counts as cool under cfg, seen from outside: from level 1, two
 * such samples a step apart bring the level down only if they are cool. */
static bool is_cool_under(const struct sl_overload_config *cfg, uint64_t loop_lag_ns)
{
    struct sl_overload ov;
    init(&ov, cfg);
    const struct sl_overload_signal heat = {.loop_lag_ns = cfg->max_loop_lag_ns};
    const struct sl_overload_signal sig = {.loop_lag_ns = loop_lag_ns};
    assert_int_equal(feed_at(&ov, 0, &heat), 1);
    feed_at(&ov, MS, &sig);
    return feed_at(&ov, MS + STEP_NS, &sig) == 0;
}

/* The cool boundary is exact even for thresholds near the top of uint64_t,
 * where value * 100 would overflow. 80% of UINT64_MAX is exactly
 * 14757395258967641292 (not below itself); 83% is 15310797581178927840.45. */
static void cool_boundary_is_exact_for_huge_thresholds(void **state)
{
    struct sl_overload_config cfg = base_cfg;
    cfg.max_loop_lag_ns = UINT64_MAX;
    cfg.recover_percent = 80;
    assert_true(is_cool_under(&cfg, 14757395258967641291ull));
    assert_false(is_cool_under(&cfg, 14757395258967641292ull));
    cfg.recover_percent = 83;
    assert_true(is_cool_under(&cfg, 15310797581178927840ull));
    assert_false(is_cool_under(&cfg, 15310797581178927841ull));
    /* 2^62 * 80 wraps to 0 in 64 bits, where a naive product would find
     * nothing cool; 80% of 2^62 is 3689348814741910323.2 */
    cfg.max_loop_lag_ns = 1ull << 62;
    cfg.recover_percent = 80;
    assert_true(is_cool_under(&cfg, 1));
    assert_true(is_cool_under(&cfg, 3689348814741910323ull));
    assert_false(is_cool_under(&cfg, 3689348814741910324ull));
    /* and for small ones: 83% of 1000 ns is 830 ns */
    cfg.recover_percent = 83;
    cfg.max_loop_lag_ns = 1000;
    assert_true(is_cool_under(&cfg, 829));
    assert_false(is_cool_under(&cfg, 830));
}

static void sheds_by_rank(void **state)
{
    struct sl_class_policy classes[5];
    const bool is_sheddable[5] = {false, true, false, true, true};
    assert_int_equal(sl_class_rank(classes, is_sheddable, 5), 3);
    /* ranks, most important first: 0, 3, 0, 2, 1 */
    struct sl_overload ov;
    init(&ov, &base_cfg);
    const bool expect[4][5] = {
        {false, false, false, false, false},
        {false, false, false, false, true},
        {false, false, false, true, true},
        {false, true, false, true, true},
    };
    for (unsigned level = 0; level <= 3; level++) {
        if (level > 0)
            assert_int_equal(feed_at(&ov, (level - 1) * STEP_NS, &hot), level);
        for (size_t c = 0; c < 5; c++) {
            if (sl_overload_sheds(&ov, &classes[c]) != expect[level][c])
                fail_msg("level %u class %zu: sheds %d", level, c, !expect[level][c]);
        }
    }
}

/* Overload builds, peaks, lingers in the band, and clears: the level climbs a
 * step at a time, holds in the band, and comes down a step at a time, with the
 * shed set growing from the least important class and shrinking back. */
static void full_hysteresis_cycle(void **state)
{
    struct sl_class_policy classes[4];
    const bool is_sheddable[4] = {false, true, true, true};
    sl_class_rank(classes, is_sheddable, 4); /* ranks 0, 3, 2, 1 */
    struct sl_overload ov;
    init(&ov, &base_cfg);
    uint64_t t = 0;
    const uint64_t tick = STEP_NS / 4;
    unsigned trace[64];
    unsigned n = 0;
    for (unsigned i = 0; i < 14; i++, t += tick) /* hot for 3.5 steps */
        trace[n++] = sl_overload_update(&ov, t, &hot);
    for (unsigned i = 0; i < 12; i++, t += tick) /* neutral for 3 steps */
        trace[n++] = sl_overload_update(&ov, t, &neutral);
    for (unsigned i = 0; i < 16; i++, t += tick) /* cool for 4 steps */
        trace[n++] = sl_overload_update(&ov, t, &cool);
    const unsigned expect[] = {
        1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,       /* rises at 0, 1 and 2 steps; capped */
        3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,             /* holds */
        3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, /* a step of cool per level */
    };
    assert_int_equal(n, sizeof(expect) / sizeof(expect[0]));
    for (unsigned i = 0; i < n; i++) {
        if (trace[i] != expect[i])
            fail_msg("sample %u: level %u, expected %u", i, trace[i], expect[i]);
    }
    assert_false(sl_overload_sheds(&ov, &classes[3]));
    assert_int_equal(sl_overload_update(&ov, t, &hot), 1);
    assert_true(sl_overload_sheds(&ov, &classes[3]));
    assert_false(sl_overload_sheds(&ov, &classes[2]));
    assert_false(sl_overload_sheds(&ov, &classes[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starts_at_zero_and_sheds_nothing),
        cmocka_unit_test(first_hot_sample_rises_at_once),
        cmocka_unit_test(rises_at_most_once_per_step),
        cmocka_unit_test(hot_samples_between_rises_do_not_delay_the_next),
        cmocka_unit_test(holds_on_neutral),
        cmocka_unit_test(falls_after_cool_for_a_whole_step_not_before),
        cmocka_unit_test(sparse_cool_samples_fall_one_level_each),
        cmocka_unit_test(neutral_sample_restarts_the_cool_run),
        cmocka_unit_test(hot_sample_restarts_the_cool_run),
        cmocka_unit_test(cool_run_may_start_at_time_zero),
        cmocka_unit_test(hot_sample_after_a_fall_rises_at_once),
        cmocka_unit_test(capped_at_max_level),
        cmocka_unit_test(max_level_zero_never_sheds),
        cmocka_unit_test(each_signal_alone_triggers),
        cmocka_unit_test(just_below_the_threshold_is_not_hot),
        cmocka_unit_test(unwatched_signal_is_ignored),
        cmocka_unit_test(nothing_watched_never_rises),
        cmocka_unit_test(cool_needs_every_signal_below_recover_percent),
        cmocka_unit_test(cool_boundary_is_exact_for_huge_thresholds),
        cmocka_unit_test(sheds_by_rank),
        cmocka_unit_test(full_hysteresis_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
