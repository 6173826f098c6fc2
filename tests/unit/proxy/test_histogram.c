#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"

#define N_SAMPLES 100000

static uint64_t samples[N_SAMPLES];

/* PCG's 64-bit LCG; the high half is the well-mixed part. */
static uint32_t lcg_next(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(*state >> 32);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void record_all(struct sl_histogram *h, const uint64_t *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_hist_record(h, values[i]);
}

static void assert_in_bucket(uint64_t v)
{
    size_t b = sl_hist_bucket(v);
    assert_true(b < SL_HIST_BUCKETS);
    assert_true(sl_hist_bucket_lower(b) <= v);
    assert_true(v <= sl_hist_bucket_upper(b));
}

/* Worked out by hand from the layout in histogram.h, not from the code. */
static void test_bucket_table(void **state)
{
    static const struct {
        uint64_t value_us;
        size_t bucket;
        uint64_t lower, upper;
    } rows[] = {
        {0, 0, 0, 0},
        {1, 1, 1, 1},
        {2, 2, 2, 2},
        {7, 7, 7, 7},
        {8, 8, 8, 8},
        {9, 9, 9, 9},
        {15, 15, 15, 15},
        {16, 16, 16, 17},
        {17, 16, 16, 17},
        {18, 17, 18, 19},
        {31, 23, 30, 31},
        {32, 24, 32, 35},
        {63, 31, 60, 63},
        {64, 32, 64, 71},
        {100, 36, 96, 103},
        {1000, 63, 960, 1023},
        {1023, 63, 960, 1023},
        {1024, 64, 1024, 1151},
        {1025, 64, 1024, 1151},
        {5000, 81, 4608, 5119},
        {67108863, 191, 62914560, 67108863},
        {67108864, 192, 67108864, 75497471},
        {100000000, 195, 92274688, 100663295},
        {134217727, 199, 125829120, 134217727},
        {134217728, 200, 134217728, UINT64_MAX},
        {134217729, 200, 134217728, UINT64_MAX},
        {(uint64_t)1 << 63, 200, 134217728, UINT64_MAX},
        {UINT64_MAX, 200, 134217728, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t b = sl_hist_bucket(rows[i].value_us);
        assert_int_equal(b, rows[i].bucket);
        assert_int_equal(sl_hist_bucket_lower(b), rows[i].lower);
        assert_int_equal(sl_hist_bucket_upper(b), rows[i].upper);
    }
}

static void test_layout_constants(void **state)
{
    assert_int_equal(SL_HIST_BUCKETS, 201);
    assert_int_equal(SL_HIST_OVERFLOW_BUCKET, SL_HIST_BUCKETS - 1);
    assert_int_equal(SL_HIST_OVERFLOW_US, 134217728);
    /* the last regular bucket reaches past 100 s */
    assert_true(sl_hist_bucket_upper(SL_HIST_OVERFLOW_BUCKET - 1) >= 100u * 1000 * 1000);
    assert_int_equal(sl_hist_bucket(100u * 1000 * 1000), 195);
    /* a fixed size with no pointers, for shared memory */
    assert_int_equal(sizeof(struct sl_histogram), (SL_HIST_BUCKETS + 2) * sizeof(uint64_t));
}

static void test_bounds_contiguous_and_monotonic(void **state)
{
    assert_int_equal(sl_hist_bucket_lower(0), 0);
    for (size_t b = 0; b < SL_HIST_BUCKETS; b++) {
        uint64_t lo = sl_hist_bucket_lower(b), hi = sl_hist_bucket_upper(b);
        assert_true(lo <= hi);
        assert_int_equal(sl_hist_bucket(lo), b);
        assert_int_equal(sl_hist_bucket(hi), b);
        if (b + 1 < SL_HIST_BUCKETS) {
            assert_true(hi < UINT64_MAX);
            assert_int_equal(sl_hist_bucket_lower(b + 1), hi + 1);
            assert_true(sl_hist_bucket_upper(b + 1) > hi);
        }
    }
    assert_int_equal(sl_hist_bucket_upper(SL_HIST_BUCKETS - 1), UINT64_MAX);
}

static void test_relative_width(void **state)
{
    for (size_t b = 0; b < 16; b++)
        assert_int_equal(sl_hist_bucket_upper(b) - sl_hist_bucket_lower(b), 0);
    for (size_t b = 8; b < SL_HIST_OVERFLOW_BUCKET; b++) {
        uint64_t lo = sl_hist_bucket_lower(b);
        uint64_t width = sl_hist_bucket_upper(b) - lo + 1;
        /* width / lower <= 12.5% */
        assert_true(width * 8 <= lo);
    }
}

static void test_every_small_value_and_power_of_two_neighbours(void **state)
{
    size_t prev = 0;
    for (uint64_t v = 0; v <= (1u << 20); v++) {
        size_t b = sl_hist_bucket(v);
        /* non-decreasing, and never skipping a bucket */
        assert_true(b == prev || b == prev + 1);
        assert_true(sl_hist_bucket_lower(b) <= v && v <= sl_hist_bucket_upper(b));
        prev = b;
    }
    for (unsigned e = 0; e < 64; e++) {
        uint64_t p2 = (uint64_t)1 << e;
        assert_in_bucket(p2 - 1);
        assert_in_bucket(p2);
        assert_in_bucket(p2 + 1);
        assert_true(sl_hist_bucket(p2 - 1) <= sl_hist_bucket(p2));
        assert_true(sl_hist_bucket(p2) <= sl_hist_bucket(p2 + 1));
        /* a power of two at or above 8 starts a bucket */
        if (e >= 3 && e <= SL_HIST_MAX_EXP + 1)
            assert_int_equal(sl_hist_bucket_lower(sl_hist_bucket(p2)), p2);
    }
    assert_in_bucket(UINT64_MAX);
    assert_in_bucket(UINT64_MAX - 1);
}

static void test_out_of_range_bucket_index(void **state)
{
    assert_int_equal(sl_hist_bucket_lower(SL_HIST_BUCKETS), SL_HIST_OVERFLOW_US);
    assert_int_equal(sl_hist_bucket_upper(SL_HIST_BUCKETS), UINT64_MAX);
    assert_int_equal(sl_hist_bucket_lower(SIZE_MAX), SL_HIST_OVERFLOW_US);
    assert_int_equal(sl_hist_bucket_upper(SIZE_MAX), UINT64_MAX);
}

static void test_record_counts_and_sum(void **state)
{
    struct sl_histogram h = {0};
    const uint64_t values[] = {0, 5, 16, 17, 1000, 1023, 200000000};
    record_all(&h, values, sizeof(values) / sizeof(values[0]));
    assert_int_equal(h.count, 7);
    assert_int_equal(h.sum_us, 0 + 5 + 16 + 17 + 1000 + 1023 + 200000000);
    assert_int_equal(sl_hist_total(&h), 7);
    assert_int_equal(h.counts[0], 1);
    assert_int_equal(h.counts[5], 1);
    assert_int_equal(h.counts[16], 2);
    assert_int_equal(h.counts[63], 2);
    assert_int_equal(h.counts[SL_HIST_OVERFLOW_BUCKET], 1);

    struct sl_histogram big = {0};
    sl_hist_record(&big, UINT64_MAX - 1);
    assert_int_equal(big.sum_us, UINT64_MAX - 1);
    sl_hist_record(&big, 5);
    assert_int_equal(big.sum_us, UINT64_MAX);
    assert_int_equal(big.count, 2);
}

static void test_empty(void **state)
{
    struct sl_histogram h = {0};
    assert_int_equal(sl_hist_total(&h), 0);
    assert_int_equal(sl_hist_percentile(&h, 0), 0);
    assert_int_equal(sl_hist_percentile(&h, 50), 0);
    assert_int_equal(sl_hist_percentile(&h, 100), 0);

    struct sl_hist_le le[SL_HIST_PROM_BOUNDS];
    assert_int_equal(sl_hist_prometheus_buckets(&h, le), SL_HIST_PROM_BOUNDS);
    for (size_t i = 0; i < SL_HIST_PROM_BOUNDS; i++)
        assert_int_equal(le[i].count, 0);

    struct sl_histogram into = {0};
    sl_hist_merge(&into, &h);
    assert_memory_equal(&into, &h, sizeof(h));
}

/* Percentiles in thousandths of a percent, so that the expected rank can be
 * worked out in integers. */
static const uint64_t p_milli[] = {0,     1,     500,   1000,  7000,  10000, 25000, 33333, 50000,
                                   66667, 75000, 90000, 95000, 99000, 99900, 99990, 100000};

static uint64_t expected_rank(uint64_t pm, uint64_t n)
{
    uint64_t r = (pm * n + 99999) / 100000;
    return r < 1 ? 1 : r;
}

/* The returned value is a bucket's upper bound and the true sample percentile
 * lies in that bucket. */
static void check_percentile(const struct sl_histogram *h, const uint64_t *sorted, double p,
                             uint64_t rank)
{
    uint64_t truth = sorted[rank - 1];
    uint64_t got = sl_hist_percentile(h, p);
    size_t b = sl_hist_bucket(got);
    assert_int_equal(sl_hist_bucket_upper(b), got);
    assert_true(sl_hist_bucket_lower(b) <= truth);
    assert_true(truth <= got);
}

static void check_distribution(const uint64_t *values, size_t n)
{
    struct sl_histogram h = {0};
    record_all(&h, values, n);
    static uint64_t sorted[N_SAMPLES];
    memcpy(sorted, values, n * sizeof(values[0]));
    qsort(sorted, n, sizeof(sorted[0]), cmp_u64);

    for (size_t i = 0; i < sizeof(p_milli) / sizeof(p_milli[0]); i++)
        check_percentile(&h, sorted, (double)p_milli[i] / 1000, expected_rank(p_milli[i], n));
    for (uint64_t half = 0; half <= 200; half++)
        check_percentile(&h, sorted, (double)half / 2, expected_rank(half * 500, n));
    assert_int_equal(sl_hist_percentile(&h, 0), sl_hist_bucket_upper(sl_hist_bucket(sorted[0])));
    assert_int_equal(sl_hist_percentile(&h, 100),
                     sl_hist_bucket_upper(sl_hist_bucket(sorted[n - 1])));
}

static void test_percentile_uniform(void **state)
{
    uint64_t s = 1;
    for (size_t i = 0; i < N_SAMPLES; i++)
        samples[i] = lcg_next(&s) % 1000000;
    check_distribution(samples, N_SAMPLES);
}

/* Exponential-ish: a uniform mantissa scaled by 2^k with P(k) = 2^-(k+1). */
static void test_percentile_exponential(void **state)
{
    uint64_t s = 2;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        uint32_t mantissa = lcg_next(&s) % 1024;
        uint32_t coin = lcg_next(&s) | (1u << 24);
        samples[i] = (uint64_t)mantissa << __builtin_ctz(coin);
    }
    check_distribution(samples, N_SAMPLES);
}

/* 90% fast answers around 200-400 µs, 10% slow ones around 5-50 ms. */
static void test_percentile_bimodal(void **state)
{
    uint64_t s = 3;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        if (lcg_next(&s) % 10 == 0)
            samples[i] = 5000 + lcg_next(&s) % 45000;
        else
            samples[i] = 200 + lcg_next(&s) % 200;
    }
    check_distribution(samples, N_SAMPLES);
    struct sl_histogram h = {0};
    record_all(&h, samples, N_SAMPLES);
    /* p50 is fast, p99 is slow: the modes are told apart */
    assert_true(sl_hist_percentile(&h, 50) < 400 * 9 / 8);
    assert_true(sl_hist_percentile(&h, 99) >= 5000);
}

/* 5% beyond the last regular bucket: the top percentiles say "overflow". */
static void test_percentile_overflow(void **state)
{
    uint64_t s = 4;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        if (lcg_next(&s) % 20 == 0)
            samples[i] = SL_HIST_OVERFLOW_US + ((uint64_t)lcg_next(&s) << 31);
        else
            samples[i] = lcg_next(&s) % 200000;
    }
    samples[0] = UINT64_MAX;
    check_distribution(samples, N_SAMPLES);
    struct sl_histogram h = {0};
    record_all(&h, samples, N_SAMPLES);
    assert_int_equal(sl_hist_percentile(&h, 99), UINT64_MAX);
    assert_true(sl_hist_percentile(&h, 90) < 200000 * 9 / 8);
}

/* One sample per power of two: every sample has its own bucket, so a rank off
 * by one shows. */
static void test_percentile_rank_exact(void **state)
{
    for (size_t n = 1; n <= 27; n++) {
        struct sl_histogram h = {0};
        for (size_t i = 0; i < n; i++)
            sl_hist_record(&h, (uint64_t)1 << i);
        for (size_t i = 0; i < sizeof(p_milli) / sizeof(p_milli[0]); i++) {
            uint64_t k = expected_rank(p_milli[i], n) - 1;
            /* 2^k's bucket: itself below 8, else [2^k, 2^k + 2^(k-3) - 1] */
            uint64_t want =
                k < 3 ? (uint64_t)1 << k : ((uint64_t)1 << k) + ((uint64_t)1 << (k - 3)) - 1;
            assert_int_equal(sl_hist_percentile(&h, (double)p_milli[i] / 1000), want);
        }
    }
}

/* 7 / 100 * 100 is 7.000000000000001 in doubles, and 99.9 is not exact: a rank
 * one too high would show. */
static void test_percentile_decimal_p(void **state)
{
    struct sl_histogram h = {0};
    for (int i = 0; i < 7; i++)
        sl_hist_record(&h, 1);
    for (int i = 0; i < 93; i++)
        sl_hist_record(&h, 1000);
    assert_int_equal(sl_hist_percentile(&h, 7), 1);
    assert_int_equal(sl_hist_percentile(&h, 7.001), 1023);

    struct sl_histogram g = {0};
    for (int i = 0; i < 999; i++)
        sl_hist_record(&g, 1);
    sl_hist_record(&g, 1000);
    assert_int_equal(sl_hist_percentile(&g, 99.9), 1);
    assert_int_equal(sl_hist_percentile(&g, 99.91), 1023);

    struct sl_histogram t = {0};
    for (int i = 0; i < 3; i++)
        sl_hist_record(&t, 2);
    for (int i = 0; i < 27; i++)
        sl_hist_record(&t, 3);
    assert_int_equal(sl_hist_percentile(&t, 10), 2);
    assert_int_equal(sl_hist_percentile(&t, 0.1), 2);
    assert_int_equal(sl_hist_percentile(&t, 10.1), 3);

    /* 0.017 * 100000 / 100 is 17.000000000000004 in doubles: rank 17, not 18 */
    static struct sl_histogram u;
    memset(&u, 0, sizeof(u));
    for (int i = 0; i < 17; i++)
        sl_hist_record(&u, 1);
    for (int i = 17; i < 100000; i++)
        sl_hist_record(&u, 1000);
    assert_int_equal(sl_hist_percentile(&u, 0.017), 1);
    assert_int_equal(sl_hist_percentile(&u, 0.018), 1023);
}

static void test_percentile_p_out_of_range(void **state)
{
    struct sl_histogram h = {0};
    sl_hist_record(&h, 3);
    sl_hist_record(&h, 50);
    sl_hist_record(&h, 7000);
    assert_int_equal(sl_hist_percentile(&h, -5), 3);
    assert_int_equal(sl_hist_percentile(&h, NAN), 3);
    assert_int_equal(sl_hist_percentile(&h, -INFINITY), 3);
    assert_int_equal(sl_hist_percentile(&h, 150), 7167);
    assert_int_equal(sl_hist_percentile(&h, INFINITY), 7167);
}

static void test_merge_equals_single(void **state)
{
    uint64_t s = 5;
    static struct sl_histogram parts[3], all, merged;
    memset(parts, 0, sizeof(parts));
    memset(&all, 0, sizeof(all));
    memset(&merged, 0, sizeof(merged));
    uint64_t sum_us = 0;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        uint64_t v = ((uint64_t)lcg_next(&s) % 100000) << (lcg_next(&s) % 12);
        sl_hist_record(&parts[lcg_next(&s) % 3], v);
        sl_hist_record(&all, v);
        sum_us += v;
    }
    for (size_t i = 0; i < 3; i++)
        sl_hist_merge(&merged, &parts[i]);
    assert_memory_equal(&merged, &all, sizeof(all));
    assert_int_equal(merged.count, N_SAMPLES);
    assert_int_equal(merged.sum_us, sum_us);
    assert_int_equal(sl_hist_total(&merged), N_SAMPLES);

    /* merging into itself doubles it */
    struct sl_histogram twice = all;
    sl_hist_merge(&twice, &twice);
    assert_int_equal(twice.count, 2 * N_SAMPLES);
    assert_int_equal(twice.sum_us, 2 * sum_us);
    for (size_t b = 0; b < SL_HIST_BUCKETS; b++)
        assert_int_equal(twice.counts[b], 2 * all.counts[b]);
}

/* A reader in another process catches the writer between counts[] and count. */
static void test_torn_read(void **state)
{
    struct sl_histogram h = {0};
    for (int i = 0; i < 9; i++)
        sl_hist_record(&h, 100);
    /* the in-flight sample, 5000 µs: its bucket is bumped, count is not yet */
    h.counts[sl_hist_bucket(5000)]++;
    assert_int_equal(h.count, 9);
    assert_int_equal(sl_hist_total(&h), 10);
    /* of 10 samples, rank ceil(9.5) = 10 is the 5000 µs one: [4608, 5119] */
    assert_int_equal(sl_hist_percentile(&h, 95), 5119);
    assert_int_equal(sl_hist_percentile(&h, 100), 5119);
    assert_int_equal(sl_hist_percentile(&h, 90), 103);
    struct sl_hist_le le[SL_HIST_PROM_BOUNDS];
    sl_hist_prometheus_buckets(&h, le);
    assert_int_equal(le[SL_HIST_PROM_BOUNDS - 1].count, 10);

    /* merging a torn histogram keeps the result self-consistent */
    struct sl_histogram into = {0};
    sl_hist_merge(&into, &h);
    assert_int_equal(into.count, 10);

    /* the other way round, as a weakly ordered CPU may show it: count ahead */
    struct sl_histogram g = {0};
    for (int i = 0; i < 9; i++)
        sl_hist_record(&g, 100);
    g.count++;
    assert_int_equal(sl_hist_total(&g), 9);
    assert_int_equal(sl_hist_percentile(&g, 100), 103);
    assert_int_equal(sl_hist_percentile(&g, 50), 103);
}

static void test_prometheus_buckets(void **state)
{
    size_t n = 0;
    for (unsigned e = 0; e < 64; e++) {
        uint64_t p2 = (uint64_t)1 << e;
        samples[n++] = p2 - 1;
        samples[n++] = p2;
        samples[n++] = p2 + 1;
    }
    samples[n++] = UINT64_MAX;
    uint64_t s = 6;
    while (n < 20000)
        samples[n++] = (uint64_t)lcg_next(&s) >> (lcg_next(&s) % 32);
    struct sl_histogram h = {0};
    record_all(&h, samples, n);

    struct sl_hist_le le[SL_HIST_PROM_BOUNDS];
    assert_int_equal(sl_hist_prometheus_buckets(&h, le), SL_HIST_PROM_BOUNDS);
    assert_int_equal(SL_HIST_PROM_BOUNDS, 29);
    for (size_t k = 0; k < SL_HIST_PROM_BOUNDS; k++) {
        uint64_t want_le = k + 1 < SL_HIST_PROM_BOUNDS ? ((uint64_t)1 << k) - 1 : UINT64_MAX;
        assert_int_equal(le[k].le_us, want_le);
        /* aligned with a bucket, hence exact */
        assert_int_equal(sl_hist_bucket_upper(sl_hist_bucket(le[k].le_us)), le[k].le_us);
        uint64_t direct = 0;
        for (size_t i = 0; i < n; i++)
            direct += samples[i] <= le[k].le_us;
        assert_int_equal(le[k].count, direct);
    }
    assert_int_equal(le[0].le_us, 0);
    assert_int_equal(le[SL_HIST_PROM_BOUNDS - 2].le_us, 134217727);
    assert_int_equal(le[SL_HIST_PROM_BOUNDS - 1].count, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_table),
        cmocka_unit_test(test_layout_constants),
        cmocka_unit_test(test_bounds_contiguous_and_monotonic),
        cmocka_unit_test(test_relative_width),
        cmocka_unit_test(test_every_small_value_and_power_of_two_neighbours),
        cmocka_unit_test(test_out_of_range_bucket_index),
        cmocka_unit_test(test_record_counts_and_sum),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_percentile_uniform),
        cmocka_unit_test(test_percentile_exponential),
        cmocka_unit_test(test_percentile_bimodal),
        cmocka_unit_test(test_percentile_overflow),
        cmocka_unit_test(test_percentile_rank_exact),
        cmocka_unit_test(test_percentile_decimal_p),
        cmocka_unit_test(test_percentile_p_out_of_range),
        cmocka_unit_test(test_merge_equals_single),
        cmocka_unit_test(test_torn_read),
        cmocka_unit_test(test_prometheus_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
