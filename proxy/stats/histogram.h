/* A latency histogram whose bucket bounds are fixed at compile time and so are
 * shared by every sluice instance: histograms from many processes and hosts
 * merge by adding counts bucket by bucket (DESIGN.md, "Beyond one machine").
 *
 * Values are unsigned microseconds. Log-linear layout with SL_HIST_SUB_BITS = 3:
 *   - values 0..7 each have their own bucket (buckets 0..7);
 *   - each power-of-two range [2^e, 2^(e+1)), 3 <= e <= SL_HIST_MAX_EXP, is split
 *     into 8 equal sub-buckets of width 2^(e-3), so a bucket is at most 12.5% as
 *     wide as its lower bound (buckets 8..199; [8, 16) has width 1);
 *   - the last bucket, SL_HIST_OVERFLOW_BUCKET, holds every value from
 *     SL_HIST_OVERFLOW_US = 2^27 µs (about 134 s) up to UINT64_MAX.
 * The bounds are contiguous: bucket 0 starts at 0, each next bucket starts one
 * past the previous one's upper bound, and the overflow bucket ends at
 * UINT64_MAX. Changing any SL_HIST_* layout constant changes the exported
 * figures, and instances on different layouts no longer merge.
 *
 * Pure: no I/O, no allocation, no clock. A zeroed struct sl_histogram is an
 * empty histogram. It holds no pointers and has a fixed size, so it may live in
 * a shared-memory segment.
 *
 * Concurrency: one writer (sl_hist_record, or sl_hist_merge into it); any
 * number of readers, in other processes too, may read while it writes. Every
 * field is read and written with relaxed 64-bit atomic loads and stores, which
 * compile to plain moves: no locked instruction, and no torn value. A reader
 * may see counts[], count and sum_us disagree by the sample being recorded.
 * Readers therefore never trust count: sl_hist_total, sl_hist_percentile and
 * sl_hist_prometheus_buckets take n from a single pass over counts[], so what
 * they return is exact for some state the counts passed through. */
#ifndef SL_HISTOGRAM_H
#define SL_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define SL_HIST_SUB_BITS 3
/* The last power-of-two range split into sub-buckets is [2^26, 2^27). */
#define SL_HIST_MAX_EXP 26
#define SL_HIST_OVERFLOW_US ((uint64_t)1 << (SL_HIST_MAX_EXP + 1))
#define SL_HIST_OVERFLOW_BUCKET ((SL_HIST_MAX_EXP - SL_HIST_SUB_BITS + 2) << SL_HIST_SUB_BITS)
#define SL_HIST_BUCKETS (SL_HIST_OVERFLOW_BUCKET + 1) /* 201 */

struct sl_histogram {
    uint64_t counts[SL_HIST_BUCKETS];
    uint64_t count;  /* samples recorded; may lag counts[] by one, see above */
    uint64_t sum_us; /* sum of the recorded values, saturating at UINT64_MAX */
};

/* The bucket value_us lands in, in [0, SL_HIST_BUCKETS). */
size_t sl_hist_bucket(uint64_t value_us);

/* The smallest and the largest value that land in bucket b. b must be below
 * SL_HIST_BUCKETS; a larger b is taken as SL_HIST_OVERFLOW_BUCKET. */
uint64_t sl_hist_bucket_lower(size_t b);
uint64_t sl_hist_bucket_upper(size_t b);

/* Adds one sample: counts[bucket], then count, then sum_us. Values of
 * SL_HIST_OVERFLOW_US and above are counted in the overflow bucket, and their
 * exact value still goes into sum_us. Single writer only. */
void sl_hist_record(struct sl_histogram *h, uint64_t value_us);

/* Adds from's samples into into, bucket by bucket; into == from doubles it.
 * from may be being written meanwhile: into->count grows by the sum of the
 * counts[] read from from, so into stays self-consistent, while into->sum_us
 * may miss the value of a sample in flight. into has a single writer, the
 * caller. */
void sl_hist_merge(struct sl_histogram *into, const struct sl_histogram *from);

/* The number of samples, summed from counts[] rather than read from count. */
uint64_t sl_hist_total(const struct sl_histogram *h);

/* The p-th percentile, p in [0, 100]: with n the sum of counts[] and rank
 * r = ceil(p / 100 * n) (at least 1), the upper bound of the bucket that holds
 * the r-th smallest sample. Error bound: the true r-th smallest sample lies in
 * [sl_hist_bucket_lower(b), returned value] of that bucket b, so the answer
 * overstates it by less than 12.5% of it, or not at all below 16 µs. If the
 * bucket is the overflow one the answer is UINT64_MAX: "at least
 * SL_HIST_OVERFLOW_US". p below 0 or NaN is taken as 0 (the smallest sample),
 * above 100 as 100 (the largest). A p written in decimal (99.9, 7) gives the
 * rank the decimal number gives, not one pushed up by binary rounding.
 * Returns 0 for an empty histogram; tell that from a 0 µs answer with
 * sl_hist_total(). */
uint64_t sl_hist_percentile(const struct sl_histogram *h, double p);

/* Prometheus `_bucket` lines: one entry per power-of-two boundary 2^k µs,
 * k = 0..SL_HIST_MAX_EXP + 1, whose le_us = 2^k - 1 is a bucket upper bound,
 * so the cumulative count of samples <= le_us is exact (for integer
 * microseconds, <= 2^k - 1 is < 2^k). Written as seconds the bound is exact
 * too: le_us / 10^6 has six decimals. The last entry has le_us = UINT64_MAX
 * and stands for le="+Inf": its count is the total, the figure to export as
 * `_count` so that it agrees with the +Inf bucket. */
#define SL_HIST_PROM_BOUNDS (SL_HIST_MAX_EXP + 3) /* 28 finite, then +Inf */

struct sl_hist_le {
    uint64_t le_us;
    uint64_t count; /* samples <= le_us: cumulative */
};

/* Fills out[0 .. SL_HIST_PROM_BOUNDS - 1] in increasing le_us order, from one
 * pass over counts[]; returns SL_HIST_PROM_BOUNDS. */
size_t sl_hist_prometheus_buckets(const struct sl_histogram *h,
                                  struct sl_hist_le out[static SL_HIST_PROM_BOUNDS]);

#endif
