#include "histogram.h"

#define SUB_BUCKETS ((uint64_t)1 << SL_HIST_SUB_BITS)

_Static_assert(SL_HIST_OVERFLOW_US >= 100 * 1000 * 1000, "regular buckets must reach 100 s");
_Static_assert(SL_HIST_BUCKETS <= 300, "a histogram should stay a few kilobytes");
_Static_assert(SL_HIST_MAX_EXP + 1 < 64, "the overflow bound must fit in 64 bits");

/* Relaxed: the struct may be shared with readers in other processes; these are
 * plain moves that the compiler may neither tear nor merge. */
static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void store(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static uint64_t add_saturating(uint64_t a, uint64_t b)
{
    uint64_t sum;
    return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

size_t sl_hist_bucket(uint64_t value_us)
{
    if (value_us < SUB_BUCKETS)
        return (size_t)value_us;
    if (value_us >= SL_HIST_OVERFLOW_US)
        return SL_HIST_OVERFLOW_BUCKET;
    unsigned e = 63 - (unsigned)__builtin_clzll(value_us);
    unsigned shift = e - SL_HIST_SUB_BITS;
    /* group e - SUB_BITS + 1: groups start at 1 because the linear range is group 0 */
    return ((size_t)(shift + 1) << SL_HIST_SUB_BITS) +
           (size_t)((value_us >> shift) & (SUB_BUCKETS - 1));
}

uint64_t sl_hist_bucket_lower(size_t b)
{
    if (b < SUB_BUCKETS)
        return b;
    if (b >= SL_HIST_OVERFLOW_BUCKET)
        return SL_HIST_OVERFLOW_US;
    unsigned shift = (unsigned)(b >> SL_HIST_SUB_BITS) - 1;
    /* (2^SUB_BITS + sub) << shift: the power of two plus sub widths */
    return (SUB_BUCKETS + (b & (SUB_BUCKETS - 1))) << shift;
}

uint64_t sl_hist_bucket_upper(size_t b)
{
    if (b >= SL_HIST_OVERFLOW_BUCKET)
        return UINT64_MAX;
    return sl_hist_bucket_lower(b + 1) - 1;
}

void sl_hist_record(struct sl_histogram *h, uint64_t value_us)
{
    uint64_t *slot = &h->counts[sl_hist_bucket(value_us)];
    store(slot, load(slot) + 1);
    store(&h->count, load(&h->count) + 1);
    store(&h->sum_us, add_saturating(load(&h->sum_us), value_us));
}

void sl_hist_merge(struct sl_histogram *into, const struct sl_histogram *from)
{
    uint64_t merged = 0;
    for (size_t b = 0; b < SL_HIST_BUCKETS; b++) {
        uint64_t n = load(&from->counts[b]);
        store(&into->counts[b], load(&into->counts[b]) + n);
        merged += n;
    }
    store(&into->count, load(&into->count) + merged);
    store(&into->sum_us, add_saturating(load(&into->sum_us), load(&from->sum_us)));
}

uint64_t sl_hist_total(const struct sl_histogram *h)
{
    uint64_t n = 0;
    for (size_t b = 0; b < SL_HIST_BUCKETS; b++)
        n += load(&h->counts[b]);
    return n;
}

/* ceil(p / 100 * n) clamped to [1, n], for n >= 1. */
static uint64_t rank_of(double p, uint64_t n)
{
    if (!(p > 0)) /* NaN too */
        return 1;
    if (p >= 100)
        return n;
    /* p * n first: exact for a whole p, where p / 100 would already be rounded.
     * Then shave a few ulps so that 99.9 * 1000 / 100 = 999.0000000000001, the
     * binary-rounded image of 999, does not ceil to 1000. */
    double x = p * (double)n / 100 * (1 - 4 * __DBL_EPSILON__);
    if (x >= (double)n)
        return n;
    uint64_t r = (uint64_t)x;
    if ((double)r < x)
        r++;
    return r < 1 ? 1 : r;
}

uint64_t sl_hist_percentile(const struct sl_histogram *h, double p)
{
    /* One snapshot, so that both passes see the same counts while a writer runs. */
    uint64_t counts[SL_HIST_BUCKETS];
    uint64_t n = 0;
    for (size_t b = 0; b < SL_HIST_BUCKETS; b++) {
        counts[b] = load(&h->counts[b]);
        n += counts[b];
    }
    if (n == 0)
        return 0;
    uint64_t rank = rank_of(p, n);
    uint64_t seen = 0;
    size_t b = 0;
    for (; b < SL_HIST_BUCKETS - 1; b++) {
        seen += counts[b];
        if (seen >= rank)
            break;
    }
    return sl_hist_bucket_upper(b);
}

size_t sl_hist_prometheus_buckets(const struct sl_histogram *h,
                                  struct sl_hist_le out[static SL_HIST_PROM_BOUNDS])
{
    uint64_t seen = 0;
    size_t b = 0;
    for (size_t k = 0; k < SL_HIST_PROM_BOUNDS - 1; k++) {
        uint64_t le_us = ((uint64_t)1 << k) - 1;
        /* 2^k - 1 is a bucket's upper bound, so this stops exactly at le_us */
        for (; b < SL_HIST_BUCKETS && sl_hist_bucket_upper(b) <= le_us; b++)
            seen += load(&h->counts[b]);
        out[k] = (struct sl_hist_le){.le_us = le_us, .count = seen};
    }
    for (; b < SL_HIST_BUCKETS; b++)
        seen += load(&h->counts[b]);
    out[SL_HIST_PROM_BOUNDS - 1] = (struct sl_hist_le){.le_us = UINT64_MAX, .count = seen};
    return SL_HIST_PROM_BOUNDS;
}
