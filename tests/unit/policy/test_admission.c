#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "admission.h"

#define MS 1000000ULL
#define MAX_ENTRIES 32

/* One backend's admission, the entries handed to it, and a fake clock. Every
 * helper that calls into the admission checks its counters against the
 * entries' flags and the lists afterwards. */
struct world {
    struct sl_admission adm;
    struct sl_admission_config cfg;
    struct sl_class_policy classes[SL_CLASS_MAX];
    struct sl_admission_entry entries[MAX_ENTRIES];
    size_t used;
    uint64_t now;
};

/* Every class sheddable, waits up to 1 s, no reserves; target 10 ms over
 * 100 ms. Tests adjust w->classes and w->cfg, then call start(). */
static void setup(struct world *w, size_t class_count, uint32_t limit, uint32_t queue_size)
{
    bool is_sheddable[SL_CLASS_MAX];
    memset(w, 0, sizeof(*w));
    for (size_t k = 0; k < class_count; k++) {
        w->classes[k].max_queue_ns = 1000 * MS;
        w->classes[k].max_backlog_ns = 1000 * MS;
        is_sheddable[k] = true;
    }
    sl_class_rank(w->classes, is_sheddable, class_count);
    w->cfg = (struct sl_admission_config){
        .classes = w->classes,
        .class_count = class_count,
        .limiter = {.kind = SL_LIMITER_STATIC, .max_inflight = limit},
        .queue_size = queue_size,
        .queue_target_ns = 10 * MS,
        .queue_interval_ns = 100 * MS,
    };
}

static void check_consistent(const struct world *w)
{
    uint32_t queued = 0, inflight = 0, by_class[SL_CLASS_MAX] = {0};
    for (size_t i = 0; i < w->used; i++) {
        const struct sl_admission_entry *e = &w->entries[i];
        assert_false(e->is_queued && e->is_inflight);
        if (e->is_queued) {
            queued++;
            by_class[e->class_index]++;
        }
        if (e->is_inflight)
            inflight++;
    }
    assert_int_equal(w->adm.queued, queued);
    assert_int_equal(w->adm.inflight, inflight);
    assert_true(w->adm.queued <= w->cfg.queue_size);
    for (size_t k = 0; k < SL_CLASS_MAX; k++) {
        const struct sl_admission_entry *e;
        uint32_t length = 0;
        TAILQ_FOREACH(e, &w->adm.queues[k], link)
        {
            assert_true(e->is_queued);
            assert_int_equal(e->class_index, k);
            length++;
        }
        assert_int_equal(length, by_class[k]);
        assert_int_equal(w->adm.queued_by_class[k], by_class[k]);
    }
    if (w->adm.queued == 0)
        assert_false(w->adm.is_lifo);
}

static void start(struct world *w)
{
    sl_admission_init(&w->adm, &w->cfg, w->now);
    check_consistent(w);
}

static struct sl_admission_entry *new_entry(struct world *w, unsigned class_index,
                                            uint64_t deadline_ns)
{
    assert_true(w->used < MAX_ENTRIES);
    struct sl_admission_entry *e = &w->entries[w->used++];
    e->class_index = class_index;
    e->deadline_ns = deadline_ns;
    return e;
}

/* Returns the entry; *evicted must come back as expected_victim. */
static struct sl_admission_entry *arrive_evicting(struct world *w, unsigned class_index,
                                                  uint64_t deadline_ns, enum sl_verdict expected,
                                                  const struct sl_admission_entry *expected_victim)
{
    static struct sl_admission_entry not_written;
    struct sl_admission_entry *e = new_entry(w, class_index, deadline_ns);
    struct sl_admission_entry *evicted = &not_written;
    enum sl_shed_reason reason = SL_SHED_REASON_COUNT;

    assert_int_equal(sl_admission_admit(&w->adm, e, w->now, &evicted, &reason), expected);
    assert_ptr_equal(evicted, expected_victim);
    if (expected_victim != NULL)
        assert_false(expected_victim->is_queued || expected_victim->is_inflight);
    switch (expected) {
    case SL_ADMIT:
        assert_true(e->is_inflight);
        assert_int_equal(e->admitted_ns, w->now);
        assert_int_equal(e->inflight_at_admit, w->adm.inflight);
        break;
    case SL_QUEUE:
        assert_true(e->is_queued);
        assert_int_equal(e->enqueued_ns, w->now);
        break;
    case SL_SHED:
        assert_int_equal(reason, SL_SHED_QUEUE_FULL);
        assert_false(e->is_queued || e->is_inflight);
        break;
    }
    check_consistent(w);
    return e;
}

static struct sl_admission_entry *arrive(struct world *w, unsigned class_index,
                                         enum sl_verdict expected)
{
    return arrive_evicting(w, class_index, 0, expected, NULL);
}

static struct sl_admission_entry *arrive_with_deadline(struct world *w, unsigned class_index,
                                                       uint64_t deadline_ns)
{
    return arrive_evicting(w, class_index, deadline_ns, SL_QUEUE, NULL);
}

static void finish(struct world *w, struct sl_admission_entry *e, uint64_t latency_ns, bool is_drop)
{
    sl_admission_release(&w->adm, e, w->now, latency_ns, is_drop ? SL_SAMPLE_DROP : SL_SAMPLE_OK);
    assert_false(e->is_queued || e->is_inflight);
    check_consistent(w);
}

/* expected SL_SHED means a deadline shed of that entry */
static void expect_next(struct world *w, enum sl_verdict expected,
                        const struct sl_admission_entry *expected_entry)
{
    struct sl_admission_entry *e = &w->entries[0]; /* must be overwritten */
    enum sl_shed_reason reason = SL_SHED_REASON_COUNT;

    assert_int_equal(sl_admission_next(&w->adm, w->now, &e, &reason), expected);
    assert_ptr_equal(e, expected_entry);
    if (expected == SL_ADMIT) {
        assert_true(e->is_inflight && !e->is_queued);
        assert_int_equal(e->admitted_ns, w->now);
        assert_int_equal(e->inflight_at_admit, w->adm.inflight);
    } else if (expected == SL_SHED) {
        assert_int_equal(reason, SL_SHED_DEADLINE);
        assert_false(e->is_queued || e->is_inflight);
    }
    check_consistent(w);
}

static void cancel(struct world *w, struct sl_admission_entry *e)
{
    sl_admission_cancel(&w->adm, e);
    assert_false(e->is_queued || e->is_inflight);
    check_consistent(w);
}

static void expect_expiry(const struct world *w, const struct sl_admission_entry *e,
                          uint64_t expected_ns, enum sl_shed_reason expected_reason)
{
    enum sl_shed_reason reason = SL_SHED_REASON_COUNT;
    assert_int_equal(sl_admission_expiry(&w->adm, e, w->now, &reason), expected_ns);
    assert_int_equal(reason, expected_reason);
}

/* A newcomer shed by the backlog rule: nothing changed, but for the
 * limiter's note that the limit held a request back. */
static void arrive_backlogged(struct world *w, unsigned class_index, uint64_t deadline_ns)
{
    struct sl_admission_entry *e = new_entry(w, class_index, deadline_ns);
    struct sl_admission_entry *evicted = e;
    enum sl_shed_reason reason = SL_SHED_REASON_COUNT;
    struct sl_admission expected;
    memcpy(&expected, &w->adm, sizeof(w->adm));
    sl_limiter_on_held_back(&expected.limiter);
    assert_int_equal(sl_admission_admit(&w->adm, e, w->now, &evicted, &reason), SL_SHED);
    assert_int_equal(reason, SL_SHED_BACKLOG);
    assert_null(evicted);
    assert_false(e->is_queued || e->is_inflight);
    assert_memory_equal(&expected, &w->adm, sizeof(w->adm));
    check_consistent(w);
}

static void fast_path_admits_up_to_the_limit(void **state)
{
    struct world w;
    setup(&w, 1, 3, 4);
    start(&w);
    assert_int_equal(sl_admission_limit(&w.adm), 3);

    struct sl_admission_entry *a = arrive(&w, 0, SL_ADMIT);
    struct sl_admission_entry *b = arrive(&w, 0, SL_ADMIT);
    w.now = 5 * MS;
    struct sl_admission_entry *c = arrive(&w, 0, SL_ADMIT);
    assert_int_equal(a->inflight_at_admit, 1);
    assert_int_equal(b->inflight_at_admit, 2);
    assert_int_equal(c->inflight_at_admit, 3);
    assert_int_equal(c->admitted_ns, 5 * MS);
    assert_int_equal(w.adm.inflight, 3);

    struct sl_admission_entry *d = arrive(&w, 0, SL_QUEUE);
    assert_int_equal(w.adm.queued, 1);
    expect_next(&w, SL_QUEUE, NULL);
    w.now = 7 * MS;
    finish(&w, a, 7 * MS, false);
    expect_next(&w, SL_ADMIT, d);
    assert_int_equal(d->inflight_at_admit, 3);
    expect_next(&w, SL_QUEUE, NULL);
}

static void queued_entries_go_after_releases(void **state)
{
    struct world w;
    setup(&w, 1, 2, 4);
    start(&w);
    struct sl_admission_entry *a = arrive(&w, 0, SL_ADMIT);
    struct sl_admission_entry *b = arrive(&w, 0, SL_ADMIT);
    struct sl_admission_entry *c = arrive(&w, 0, SL_QUEUE);
    struct sl_admission_entry *d = arrive(&w, 0, SL_QUEUE);
    expect_next(&w, SL_QUEUE, NULL);

    finish(&w, a, 1 * MS, false);
    expect_next(&w, SL_ADMIT, c);
    expect_next(&w, SL_QUEUE, NULL);
    finish(&w, b, 1 * MS, true);
    expect_next(&w, SL_ADMIT, d);
    expect_next(&w, SL_QUEUE, NULL);
    assert_int_equal(w.adm.inflight, 2);
}

/* The queue empties most important class first, whatever the arrival order. */
static void higher_classes_go_first(void **state)
{
    struct world w;
    setup(&w, 3, 1, 8);
    start(&w);
    struct sl_admission_entry *a = arrive(&w, 2, SL_ADMIT);
    struct sl_admission_entry *low1 = arrive(&w, 2, SL_QUEUE);
    struct sl_admission_entry *mid1 = arrive(&w, 1, SL_QUEUE);
    struct sl_admission_entry *high = arrive(&w, 0, SL_QUEUE);
    struct sl_admission_entry *low2 = arrive(&w, 2, SL_QUEUE);
    struct sl_admission_entry *mid2 = arrive(&w, 1, SL_QUEUE);
    struct sl_admission_entry *order[] = {high, mid1, mid2, low1, low2};

    struct sl_admission_entry *running = a;
    for (size_t i = 0; i < 5; i++) {
        expect_next(&w, SL_QUEUE, NULL);
        finish(&w, running, 1 * MS, false);
        expect_next(&w, SL_ADMIT, order[i]);
        running = order[i];
    }
    expect_next(&w, SL_QUEUE, NULL);
    assert_int_equal(w.adm.queued, 0);
}

/* A slot freed but not yet handed out by next() must not go to a newcomer of
 * the waiting class; a more important newcomer may take it. */
static void fast_path_never_passes_its_own_class(void **state)
{
    struct world w;
    setup(&w, 2, 2, 4);
    start(&w);
    struct sl_admission_entry *a = arrive(&w, 1, SL_ADMIT);
    struct sl_admission_entry *b = arrive(&w, 1, SL_ADMIT);
    struct sl_admission_entry *c = arrive(&w, 1, SL_QUEUE);
    finish(&w, a, 1 * MS, false);

    struct sl_admission_entry *d = arrive(&w, 1, SL_QUEUE);
    struct sl_admission_entry *e = arrive(&w, 0, SL_ADMIT);
    expect_next(&w, SL_QUEUE, NULL);
    finish(&w, b, 1 * MS, false);
    expect_next(&w, SL_ADMIT, c);
    expect_next(&w, SL_QUEUE, NULL);
    finish(&w, e, 1 * MS, false);
    expect_next(&w, SL_ADMIT, d);
}

static void fifo_within_a_class(void **state)
{
    struct world w;
    setup(&w, 1, 1, 8);
    w.cfg.queue_target_ns = 1000 * MS; /* no standing queue: stays FIFO */
    start(&w);
    struct sl_admission_entry *running = arrive(&w, 0, SL_ADMIT);
    struct sl_admission_entry *queued[5];
    for (size_t i = 0; i < 5; i++) {
        w.now += 1 * MS;
        queued[i] = arrive(&w, 0, SL_QUEUE);
    }
    for (size_t i = 0; i < 5; i++) {
        w.now += 20 * MS;
        finish(&w, running, 20 * MS, false);
        expect_next(&w, SL_ADMIT, queued[i]);
        running = queued[i];
    }
    assert_false(w.adm.is_lifo);
}

/* limit 10, critical reserves 20% (2 slots): bulk may use 8 slots while
 * critical holds none, and all that critical leaves once it holds its 2. */
static void reservation_keeps_slots_for_higher_classes(void **state)
{
    struct world w;
    setup(&w, 2, 10, 10);
    w.classes[0].reserve_percent = 20;
    start(&w);
    struct sl_admission_entry *bulk[10], *crit[3];
    for (size_t i = 0; i < 8; i++)
        bulk[i] = arrive(&w, 1, SL_ADMIT);
    bulk[8] = arrive(&w, 1, SL_QUEUE);
    bulk[9] = arrive(&w, 1, SL_QUEUE);
    expect_next(&w, SL_QUEUE, NULL);
    assert_int_equal(w.adm.inflight, 8);

    crit[0] = arrive(&w, 0, SL_ADMIT);
    crit[1] = arrive(&w, 0, SL_ADMIT);
    crit[2] = arrive(&w, 0, SL_QUEUE);
    assert_int_equal(w.adm.inflight, 10);

    finish(&w, bulk[0], 1 * MS, false);
    expect_next(&w, SL_ADMIT, crit[2]);
    expect_next(&w, SL_QUEUE, NULL);

    /* critical holds 2 of its reserve of 2: the slot it frees goes to bulk */
    finish(&w, crit[0], 1 * MS, false);
    expect_next(&w, SL_ADMIT, bulk[8]);
    expect_next(&w, SL_QUEUE, NULL);
    assert_int_equal(w.adm.inflight, 10);

    /* critical holds none: its 2 slots stay free, 8 bulk in flight */
    finish(&w, crit[1], 1 * MS, false);
    expect_next(&w, SL_QUEUE, NULL);
    finish(&w, crit[2], 1 * MS, false);
    expect_next(&w, SL_QUEUE, NULL);
    assert_int_equal(w.adm.inflight, 8);
    finish(&w, bulk[1], 1 * MS, false);
    expect_next(&w, SL_ADMIT, bulk[9]);
    assert_int_equal(w.adm.inflight, 8);
}

/* Reserves add up down the classes, each rounded up: with limit 10 and
 * reserves of 15% and 10%, class 1 may use 10 - ceil(1.5) = 8 and class 2
 * 10 - 2 - 1 = 7, while classes 0 and 1 hold nothing. Once class 1 holds
 * its 1 slot, class 2's usable limit is 8, so 7 + 1 leaves it nothing more. */
static void reserves_accumulate_and_round_up(void **state)
{
    struct world w;
    setup(&w, 3, 10, 8);
    w.classes[0].reserve_percent = 15;
    w.classes[1].reserve_percent = 10;
    start(&w);
    for (size_t i = 0; i < 7; i++)
        arrive(&w, 2, SL_ADMIT);
    arrive(&w, 2, SL_QUEUE);
    arrive(&w, 1, SL_ADMIT);
    arrive(&w, 1, SL_QUEUE);
    arrive(&w, 0, SL_ADMIT);
    arrive(&w, 0, SL_ADMIT);
    arrive(&w, 0, SL_QUEUE);
    assert_int_equal(w.adm.inflight, 10);
}

/* With limit 1 the formula leaves bulk nothing; a reserve never starves a
 * class outright, so bulk may still use the one slot. */
static void reserve_yields_at_a_limit_of_one(void **state)
{
    struct world w;
    setup(&w, 2, 1, 4);
    w.classes[0].reserve_percent = 20;
    start(&w);
    struct sl_admission_entry *bulk = arrive(&w, 1, SL_ADMIT);
    struct sl_admission_entry *bulk2 = arrive(&w, 1, SL_QUEUE);
    struct sl_admission_entry *crit = arrive(&w, 0, SL_QUEUE);
    finish(&w, bulk, 1 * MS, false);
    expect_next(&w, SL_ADMIT, crit);
    finish(&w, crit, 1 * MS, false);
    expect_next(&w, SL_ADMIT, bulk2);
}

/* classes: 0 critical (never shed), 1 normal, 2 bulk */
static void full_queue_evicts_newest_of_lowest_class(void **state)
{
    struct world w;
    setup(&w, 3, 1, 3);
    w.classes[0].shed_rank = 0;
    start(&w);
    arrive(&w, 2, SL_ADMIT);
    struct sl_admission_entry *bulk1 = arrive(&w, 2, SL_QUEUE);
    struct sl_admission_entry *normal = arrive(&w, 1, SL_QUEUE);
    struct sl_admission_entry *bulk2 = arrive(&w, 2, SL_QUEUE);

    arrive_evicting(&w, 0, 0, SL_QUEUE, bulk2);
    arrive_evicting(&w, 0, 0, SL_QUEUE, bulk1);
    arrive_evicting(&w, 0, 0, SL_QUEUE, normal);
    assert_int_equal(w.adm.queued_by_class[0], 3);
    /* nothing below critical is left */
    arrive(&w, 0, SL_SHED);
    arrive(&w, 2, SL_SHED);
}

/* A class with shed_rank 0 is never evicted, even when it is the lowest. */
static void non_sheddable_class_is_never_evicted(void **state)
{
    struct world w;
    setup(&w, 3, 1, 3);
    bool is_sheddable[] = {false, true, false};
    sl_class_rank(w.classes, is_sheddable, 3);
    start(&w);
    arrive(&w, 2, SL_ADMIT);
    arrive(&w, 2, SL_QUEUE);
    struct sl_admission_entry *normal = arrive(&w, 1, SL_QUEUE);
    arrive(&w, 2, SL_QUEUE);

    /* class 1 has no sheddable class below it */
    arrive(&w, 1, SL_SHED);
    arrive_evicting(&w, 0, 0, SL_QUEUE, normal);
    arrive(&w, 0, SL_SHED);
    assert_int_equal(w.adm.queued_by_class[2], 2);
}

static void same_class_arrival_on_full_queue_is_shed(void **state)
{
    struct world w;
    setup(&w, 2, 1, 2);
    start(&w);
    arrive(&w, 1, SL_ADMIT);
    arrive(&w, 1, SL_QUEUE);
    arrive(&w, 1, SL_QUEUE);

    unsigned char before[sizeof(w.adm)];
    memcpy(before, &w.adm, sizeof(w.adm));
    arrive(&w, 1, SL_SHED);
    assert_memory_equal(before, &w.adm, sizeof(w.adm));
}

static void queue_size_zero_sheds_beyond_the_limit(void **state)
{
    struct world w;
    setup(&w, 2, 1, 0);
    start(&w);
    struct sl_admission_entry *a = arrive(&w, 1, SL_ADMIT);
    arrive(&w, 1, SL_SHED);
    arrive(&w, 0, SL_SHED);
    finish(&w, a, 1 * MS, false);
    arrive(&w, 0, SL_ADMIT);
}

/* Queue five at 0..4 ms behind one in flight; each dequeue waits > 10 ms. */
static void queue_five(struct world *w, struct sl_admission_entry **running,
                       struct sl_admission_entry **e)
{
    setup(w, 1, 1, 8);
    w->classes[0].shed_rank = 0;
    start(w);
    *running = arrive(w, 0, SL_ADMIT);
    for (size_t i = 0; i < 5; i++) {
        w->now = i * MS;
        e[i] = arrive(w, 0, SL_QUEUE);
    }
}

static void dequeue_at(struct world *w, uint64_t now_ns, struct sl_admission_entry **running,
                       struct sl_admission_entry *expected)
{
    w->now = now_ns;
    finish(w, *running, 1 * MS, false);
    expect_next(w, SL_ADMIT, expected);
    *running = expected;
}

static void lifo_after_an_interval_above_target(void **state)
{
    struct world w;
    struct sl_admission_entry *running, *e[5];
    queue_five(&w, &running, e);

    dequeue_at(&w, 20 * MS, &running, e[0]);
    assert_int_equal(w.adm.above_target_since_ns, 20 * MS);
    dequeue_at(&w, 70 * MS, &running, e[1]);
    assert_false(w.adm.is_lifo);
    /* 120 - 20 = the interval, every dequeue in it above target */
    dequeue_at(&w, 120 * MS, &running, e[2]);
    assert_true(w.adm.is_lifo);
    /* newest first; the oldest, e[3], has waited 127 ms, so LIFO stays */
    dequeue_at(&w, 130 * MS, &running, e[4]);
    assert_true(w.adm.is_lifo);
    /* the last one empties the queue */
    dequeue_at(&w, 140 * MS, &running, e[3]);
    assert_false(w.adm.is_lifo);
    assert_int_equal(w.adm.above_target_since_ns, 0);
}

/* LIFO judges the queue by its oldest entry: serving fresh arrivals first
 * does not end it while old ones stand behind them. */
static void lifo_ends_once_the_oldest_waited_little(void **state)
{
    struct world w;
    struct sl_admission_entry *running, *e[5], *fresh[3];
    queue_five(&w, &running, e);
    dequeue_at(&w, 20 * MS, &running, e[0]);
    dequeue_at(&w, 120 * MS, &running, e[1]);
    assert_true(w.adm.is_lifo);

    w.now = 125 * MS;
    for (size_t i = 0; i < 3; i++)
        fresh[i] = arrive(&w, 0, SL_QUEUE);
    dequeue_at(&w, 126 * MS, &running, fresh[2]); /* waited 1 ms, but e[2] 124 */
    assert_true(w.adm.is_lifo);
    for (size_t i = 2; i < 5; i++)
        cancel(&w, e[i]);
    assert_true(w.adm.is_lifo);
    /* taken newest first; the oldest left, fresh[0], waited 5 ms: FIFO again */
    dequeue_at(&w, 130 * MS, &running, fresh[1]);
    assert_false(w.adm.is_lifo);
    assert_int_equal(w.adm.above_target_since_ns, 0);
    dequeue_at(&w, 200 * MS, &running, fresh[0]);
    assert_false(w.adm.is_lifo);
}

/* A dequeue that waited exactly the target breaks the run: the interval
 * starts again at the next one above it. The queue never empties here, which
 * would end the run too. */
static void lifo_needs_an_unbroken_run_above_target(void **state)
{
    struct world w;
    struct sl_admission_entry *running, *e[6];
    setup(&w, 1, 1, 8);
    start(&w);
    running = arrive(&w, 0, SL_ADMIT);
    e[0] = arrive(&w, 0, SL_QUEUE);
    w.now = 20 * MS;
    for (size_t i = 1; i < 6; i++)
        e[i] = arrive(&w, 0, SL_QUEUE);
    dequeue_at(&w, 20 * MS, &running, e[0]);
    assert_int_equal(w.adm.above_target_since_ns, 20 * MS);
    dequeue_at(&w, 30 * MS, &running, e[1]); /* waited 10 ms: not above */
    assert_int_equal(w.adm.above_target_since_ns, 0);

    dequeue_at(&w, 60 * MS, &running, e[2]);
    assert_int_equal(w.adm.above_target_since_ns, 60 * MS);
    /* 130 ms after the first slow dequeue, but only 90 into this run */
    dequeue_at(&w, 150 * MS, &running, e[3]);
    assert_false(w.adm.is_lifo);
    dequeue_at(&w, 160 * MS, &running, e[4]);
    assert_true(w.adm.is_lifo);
    dequeue_at(&w, 170 * MS, &running, e[5]);
}

static void lifo_ends_when_cancels_empty_the_queue(void **state)
{
    struct world w;
    struct sl_admission_entry *running, *e[5];
    queue_five(&w, &running, e);
    dequeue_at(&w, 20 * MS, &running, e[0]);
    dequeue_at(&w, 120 * MS, &running, e[1]);
    assert_true(w.adm.is_lifo);
    cancel(&w, e[3]);
    assert_true(w.adm.is_lifo);
    cancel(&w, e[2]);
    cancel(&w, e[4]);
    assert_false(w.adm.is_lifo);
    assert_int_equal(w.adm.above_target_since_ns, 0);

    w.now = 121 * MS;
    struct sl_admission_entry *f = arrive(&w, 0, SL_QUEUE);
    struct sl_admission_entry *g = arrive(&w, 0, SL_QUEUE);
    dequeue_at(&w, 200 * MS, &running, f);
    assert_false(w.adm.is_lifo);
    assert_int_equal(w.adm.above_target_since_ns, 200 * MS);
    dequeue_at(&w, 210 * MS, &running, g);
}

/* LIFO reorders within a class only. */
static void lifo_keeps_class_order(void **state)
{
    struct world w;
    setup(&w, 2, 1, 8);
    w.classes[0].shed_rank = 0;
    w.classes[1].shed_rank = 0;
    start(&w);
    struct sl_admission_entry *running = arrive(&w, 1, SL_ADMIT);
    struct sl_admission_entry *low[3], *high[2];
    for (size_t i = 0; i < 3; i++)
        low[i] = arrive(&w, 1, SL_QUEUE);
    dequeue_at(&w, 20 * MS, &running, low[0]);
    dequeue_at(&w, 120 * MS, &running, low[1]);
    assert_true(w.adm.is_lifo);
    high[0] = arrive(&w, 0, SL_QUEUE);
    high[1] = arrive(&w, 0, SL_QUEUE);

    /* taken newest first; high[0], the oldest of its class, waited 0: FIFO again */
    dequeue_at(&w, 120 * MS, &running, high[1]);
    assert_false(w.adm.is_lifo);
    dequeue_at(&w, 130 * MS, &running, high[0]);
    dequeue_at(&w, 140 * MS, &running, low[2]);
}

/* max_queue 100 ms; nothing has finished, so the deadline part is the
 * deadline itself. */
static void expiry_without_service_estimate(void **state)
{
    struct world w;
    setup(&w, 1, 1, 8);
    w.classes[0].max_queue_ns = 100 * MS;
    start(&w);
    arrive(&w, 0, SL_ADMIT);
    w.now = 10 * MS;
    struct sl_admission_entry *none = arrive(&w, 0, SL_QUEUE);
    struct sl_admission_entry *late = arrive_with_deadline(&w, 0, 130 * MS);
    struct sl_admission_entry *soon = arrive_with_deadline(&w, 0, 50 * MS);
    struct sl_admission_entry *tie = arrive_with_deadline(&w, 0, 110 * MS);
    assert_int_equal(w.adm.service_ns, 0);

    expect_expiry(&w, none, 110 * MS, SL_SHED_QUEUE_TIMEOUT);
    expect_expiry(&w, late, 110 * MS, SL_SHED_QUEUE_TIMEOUT);
    expect_expiry(&w, soon, 50 * MS, SL_SHED_DEADLINE);
    expect_expiry(&w, tie, 110 * MS, SL_SHED_QUEUE_TIMEOUT);

    /* never earlier than now */
    w.now = 60 * MS;
    expect_expiry(&w, soon, 60 * MS, SL_SHED_DEADLINE);
    w.now = 115 * MS;
    expect_expiry(&w, none, 115 * MS, SL_SHED_QUEUE_TIMEOUT);
}

/* The service estimate is an EWMA (1/8) of latencies of requests that did not
 * drop; the first sample sets it. The deadline part is deadline - estimate. */
static void expiry_with_service_estimate(void **state)
{
    struct world w;
    setup(&w, 1, 1, 8);
    w.classes[0].max_queue_ns = 100 * MS;
    start(&w);
    struct sl_admission_entry *a = arrive(&w, 0, SL_ADMIT);
    w.now = 10 * MS;
    struct sl_admission_entry *none = arrive(&w, 0, SL_QUEUE);
    struct sl_admission_entry *d130 = arrive_with_deadline(&w, 0, 130 * MS);
    struct sl_admission_entry *d50 = arrive_with_deadline(&w, 0, 50 * MS);
    expect_expiry(&w, d130, 110 * MS, SL_SHED_QUEUE_TIMEOUT);

    w.now = 30 * MS;
    finish(&w, a, 30 * MS, false);
    assert_int_equal(w.adm.service_ns, 30 * MS);
    expect_expiry(&w, d130, 100 * MS, SL_SHED_DEADLINE);
    expect_expiry(&w, none, 110 * MS, SL_SHED_QUEUE_TIMEOUT);
    expect_expiry(&w, d50, 30 * MS, SL_SHED_DEADLINE); /* 50 - 30 = 20 < now */

    /* a drop does not move the estimate */
    expect_next(&w, SL_ADMIT, none);
    w.now = 40 * MS;
    finish(&w, none, 1000 * MS, true);
    assert_int_equal(w.adm.service_ns, 30 * MS);
    expect_expiry(&w, d130, 100 * MS, SL_SHED_DEADLINE);

    /* 130 < 40 + 30 is false: d130 goes; 30 + (110 - 30) / 8 = 40 */
    expect_next(&w, SL_ADMIT, d130);
    w.now = 50 * MS;
    finish(&w, d130, 110 * MS, false);
    assert_int_equal(w.adm.service_ns, 40 * MS);
    struct sl_admission_entry *d150 = arrive_with_deadline(&w, 0, 150 * MS);
    struct sl_admission_entry *d190 = arrive_with_deadline(&w, 0, 190 * MS);
    expect_expiry(&w, d150, 110 * MS, SL_SHED_DEADLINE);
    expect_expiry(&w, d190, 150 * MS, SL_SHED_QUEUE_TIMEOUT); /* tie */
}

/* The class is never shed at the door, so the backlog rule lets the doomed
 * entry queue. */
static void deadline_shed_at_dequeue(void **state)
{
    struct world w;
    setup(&w, 1, 1, 8);
    w.classes[0].shed_rank = 0;
    start(&w);
    struct sl_admission_entry *a = arrive(&w, 0, SL_ADMIT);
    w.now = 50 * MS;
    finish(&w, a, 50 * MS, false);
    expect_next(&w, SL_QUEUE, NULL);
    assert_int_equal(w.adm.service_ns, 50 * MS);

    struct sl_admission_entry *b = arrive(&w, 0, SL_ADMIT);
    w.now = 60 * MS;
    struct sl_admission_entry *doomed = arrive_with_deadline(&w, 0, 140 * MS);
    struct sl_admission_entry *exact = arrive_with_deadline(&w, 0, 150 * MS);
    struct sl_admission_entry *none = arrive(&w, 0, SL_QUEUE);

    w.now = 100 * MS;
    finish(&w, b, 50 * MS, false);
    expect_next(&w, SL_SHED, doomed); /* 140 < 100 + 50 */
    assert_int_equal(w.adm.inflight, 0);
    expect_next(&w, SL_ADMIT, exact); /* finishes at its deadline: in time */
    expect_next(&w, SL_QUEUE, NULL);

    /* 50 + (100 - 50) / 8 = 56.25 ms; no deadline, so it goes however late */
    w.now = 5000 * MS;
    finish(&w, exact, 100 * MS, false);
    assert_int_equal(w.adm.service_ns, 56250000);
    expect_next(&w, SL_ADMIT, none);
}

/* A deadline shed frees nothing: a more important entry behind it still
 * needs a slot, and the next call hands out the following one. */
static void deadline_shed_then_next_continues(void **state)
{
    struct world w;
    setup(&w, 2, 1, 8);
    w.classes[0].shed_rank = 0;
    start(&w);
    struct sl_admission_entry *a = arrive(&w, 0, SL_ADMIT);
    w.now = 20 * MS;
    finish(&w, a, 20 * MS, false);
    struct sl_admission_entry *b = arrive(&w, 1, SL_ADMIT);
    struct sl_admission_entry *doomed = arrive_with_deadline(&w, 0, 30 * MS);
    struct sl_admission_entry *low = arrive(&w, 1, SL_QUEUE);
    expect_next(&w, SL_QUEUE, NULL);
    w.now = 25 * MS;
    finish(&w, b, 5 * MS, false);
    assert_int_equal(w.adm.service_ns, 18125000); /* 20 - (20 - 5) / 8 ms */
    expect_next(&w, SL_SHED, doomed);
    expect_next(&w, SL_ADMIT, low);
    expect_next(&w, SL_QUEUE, NULL);
}

/* Limit 2, backlog 25 ms. One request of 10 ms has finished: before any
 * dequeue, an entry leaves the queue every 10 / 2 = 5 ms. */
static void start_backlog_world(struct world *w, size_t class_count)
{
    setup(w, class_count, 2, 16);
    for (size_t k = 0; k < class_count; k++)
        w->classes[k].max_backlog_ns = 25 * MS;
    start(w);
    struct sl_admission_entry *first = arrive(w, 0, SL_ADMIT);
    w->now = 10 * MS;
    finish(w, first, 10 * MS, false);
    assert_int_equal(w->adm.service_ns, 10 * MS);
}

/* The queue ahead times the pace: the 5th would wait 25 ms (still in), the
 * 6th 30 ms (shed at once). */
static void backlog_sheds_a_newcomer_that_would_wait_too_long(void **state)
{
    struct world w;
    start_backlog_world(&w, 1);
    arrive(&w, 0, SL_ADMIT);
    arrive(&w, 0, SL_ADMIT);
    for (size_t i = 0; i < 5; i++)
        arrive(&w, 0, SL_QUEUE);
    assert_int_equal(sl_admission_backlog_ns(&w.adm, 0), 25 * MS);
    arrive_backlogged(&w, 0, 0);
    assert_int_equal(w.adm.queued, 5);
}

/* The pace is measured: dequeues 20 ms apart make a newcomer behind one
 * queued entry wait about 40 ms. */
static void backlog_follows_the_pace_the_class_leaves_the_queue(void **state)
{
    struct world w;
    start_backlog_world(&w, 1);
    struct sl_admission_entry *a = arrive(&w, 0, SL_ADMIT);
    struct sl_admission_entry *b = arrive(&w, 0, SL_ADMIT);
    struct sl_admission_entry *q[3];
    for (size_t i = 0; i < 3; i++)
        q[i] = arrive(&w, 0, SL_QUEUE);
    /* the first gap runs from the enqueue that started the queue, at 10 ms */
    w.now = 30 * MS;
    finish(&w, a, 20 * MS, false);
    expect_next(&w, SL_ADMIT, q[0]);
    assert_int_equal(w.adm.drain_ns[0], 20 * MS);
    w.now = 50 * MS;
    finish(&w, b, 40 * MS, false);
    expect_next(&w, SL_ADMIT, q[1]);
    assert_int_equal(w.adm.drain_ns[0], 20 * MS);
    /* q[2] and the newcomer: 2 x 20 ms > 25 */
    arrive_backlogged(&w, 0, 0);
    w.now = 70 * MS;
    finish(&w, q[0], 40 * MS, false);
    expect_next(&w, SL_ADMIT, q[2]);
    /* an empty queue: one step of 20 ms fits */
    arrive(&w, 0, SL_QUEUE);
}

/* A class never shed at the door queues however long the wait. A deadline
 * tightens what a sheddable one may wait: at 10 ms, with 10 ms of service,
 * a deadline at 40 ms leaves 20 ms to start, less than the 25 ms backlog. */
static void backlog_spares_unsheddable_classes_and_counts_deadlines(void **state)
{
    struct world w;
    setup(&w, 2, 2, 16);
    w.classes[0].max_backlog_ns = 25 * MS;
    w.classes[1].max_backlog_ns = 25 * MS;
    w.classes[0].shed_rank = 0;
    start(&w);
    struct sl_admission_entry *first = arrive(&w, 1, SL_ADMIT);
    w.now = 10 * MS;
    finish(&w, first, 10 * MS, false);
    arrive(&w, 1, SL_ADMIT);
    arrive(&w, 1, SL_ADMIT);
    for (size_t i = 0; i < 8; i++)
        arrive(&w, 0, SL_QUEUE); /* 45 ms of queue: critical still waits */
    arrive_backlogged(&w, 1, 0); /* bulk: behind all of it */

    struct world d;
    start_backlog_world(&d, 1);
    arrive(&d, 0, SL_ADMIT);
    arrive(&d, 0, SL_ADMIT);
    arrive_with_deadline(&d, 0, 40 * MS); /* waits 5 ms, 20 ms left to start */
    arrive_with_deadline(&d, 0, 40 * MS); /* 10 ms */
    arrive_with_deadline(&d, 0, 40 * MS); /* 15 ms */
    arrive_with_deadline(&d, 0, 40 * MS); /* 20 ms */
    arrive_backlogged(&d, 0, 40 * MS);    /* 25 ms > 20 */
    arrive(&d, 0, SL_QUEUE);              /* no deadline: 25 ms fits the backlog */
}

/* A queue that has not moved for longer than the backlog allows is stuck,
 * whatever its pace said: here a slot holder that never finishes. */
static void backlog_sheds_behind_a_stuck_queue(void **state)
{
    struct world w;
    start_backlog_world(&w, 1);
    arrive(&w, 0, SL_ADMIT);
    arrive(&w, 0, SL_ADMIT);
    arrive(&w, 0, SL_QUEUE);
    w.now = 35 * MS; /* 25 ms after the queue formed: not yet */
    arrive(&w, 0, SL_QUEUE);
    w.now = 36 * MS;
    arrive_backlogged(&w, 0, 0);
}

/* Nothing has finished: no pace to predict with, so the queue takes it. */
static void backlog_needs_a_finished_request(void **state)
{
    struct world w;
    setup(&w, 1, 1, 16);
    w.classes[0].max_backlog_ns = 1;
    start(&w);
    arrive(&w, 0, SL_ADMIT);
    for (size_t i = 0; i < 10; i++)
        arrive(&w, 0, SL_QUEUE);
    assert_int_equal(sl_admission_backlog_ns(&w.adm, 0), 0);
}

/* An adaptive limiter from 1 to 8, 100 ms windows, a probe every second. */
static void set_adaptive_up_to_8(struct world *w)
{
    w->cfg.limiter = (struct sl_limiter_config){.kind = SL_LIMITER_ADAPTIVE,
                                                .max_inflight = 8,
                                                .min_inflight = 1,
                                                .window_ns = 100 * MS,
                                                .tolerance = 1.1,
                                                .probe_interval_ns = 1000 * MS};
}

/* Feeds the world's adaptive limiter 10 ms responses, one per 5 ms, sent at
 * its limit, until a probe starts after the first: the flat backend has
 * brought the limit to its ceiling by then. */
static void until_a_periodic_probe(struct world *w)
{
    bool was_out = false;
    for (unsigned i = 0; i < 10000; i++) {
        w->now += 5 * MS;
        struct sl_limiter *lim = &w->adm.limiter;
        sl_limiter_on_sample(lim, w->now, 10 * MS, sl_limiter_limit(lim), false);
        if (!sl_limiter_is_probing(lim))
            was_out = true;
        else if (was_out)
            return;
    }
    fail_msg("no periodic probe");
}

/* A world of class_count classes, class `critical` never shed, with the
 * adaptive limiter up to 8, brought into its first periodic probe. */
static void start_in_a_probe(struct world *w, size_t class_count, size_t critical)
{
    setup(w, class_count, 8, 16);
    set_adaptive_up_to_8(w);
    w->classes[critical].shed_rank = 0;
    start(w);
    until_a_periodic_probe(w);
}

/* During a probe (limit 1) the critical class keeps the 8 slots the probe
 * gives back, the sheddable one is held to the floor; past the probe's grace
 * without its samples, critical is held too. */
static void critical_keeps_its_slots_through_a_probe(void **state)
{
    struct world w;
    start_in_a_probe(&w, 2, 0);
    assert_int_equal(sl_admission_limit(&w.adm), 1);
    arrive(&w, 1, SL_ADMIT);
    arrive(&w, 1, SL_QUEUE);
    for (unsigned i = 0; i < 7; i++)
        arrive(&w, 0, SL_ADMIT);
    arrive(&w, 0, SL_QUEUE);

    w.now += 500 * MS; /* the grace: samples, but none sent at the floor */
    sl_limiter_on_sample(&w.adm.limiter, w.now, 10 * MS, 3, false);
    assert_true(sl_limiter_is_probing(&w.adm.limiter));
    struct sl_admission_entry *critical = &w.entries[2];
    finish(&w, critical, 10 * MS, false);
    expect_next(&w, SL_QUEUE, NULL);
}

/* A sheddable class above the last critical one keeps its slots too, so
 * that the usable limit still never grows with the class index. */
static void classes_above_the_last_critical_keep_their_slots_through_a_probe(void **state)
{
    struct world w;
    start_in_a_probe(&w, 3, 1);
    arrive(&w, 0, SL_ADMIT);
    arrive(&w, 0, SL_ADMIT);
    arrive(&w, 1, SL_ADMIT);
    arrive(&w, 2, SL_QUEUE);
}

/* A sheddable class stays FIFO under a standing queue: under LIFO the oldest
 * of a queue the backlog keeps short would wait to expire. */
static void sheddable_class_stays_fifo_under_a_standing_queue(void **state)
{
    struct world w;
    setup(&w, 1, 1, 8);
    start(&w);
    struct sl_admission_entry *running = arrive(&w, 0, SL_ADMIT);
    struct sl_admission_entry *e[4];
    for (size_t i = 0; i < 4; i++)
        e[i] = arrive(&w, 0, SL_QUEUE);
    dequeue_at(&w, 20 * MS, &running, e[0]);
    dequeue_at(&w, 120 * MS, &running, e[1]);
    assert_true(w.adm.is_lifo);
    dequeue_at(&w, 130 * MS, &running, e[2]);
    dequeue_at(&w, 140 * MS, &running, e[3]);
}

static void cancel_from_the_middle_of_lists(void **state)
{
    struct world w;
    setup(&w, 2, 1, 8);
    start(&w);
    struct sl_admission_entry *running = arrive(&w, 1, SL_ADMIT);
    struct sl_admission_entry *low[4], *high[3];
    for (size_t i = 0; i < 4; i++)
        low[i] = arrive(&w, 1, SL_QUEUE);
    for (size_t i = 0; i < 3; i++)
        high[i] = arrive(&w, 0, SL_QUEUE);

    cancel(&w, low[2]);
    cancel(&w, high[1]);
    cancel(&w, low[0]);
    assert_int_equal(w.adm.queued, 4);
    assert_int_equal(w.adm.queued_by_class[0], 2);
    assert_int_equal(w.adm.queued_by_class[1], 2);

    struct sl_admission_entry *order[] = {high[0], high[2], low[1], low[3]};
    for (size_t i = 0; i < 4; i++) {
        finish(&w, running, 1 * MS, false);
        expect_next(&w, SL_ADMIT, order[i]);
        running = order[i];
    }
    expect_next(&w, SL_QUEUE, NULL);
    /* a cancelled entry is idle: it can be admitted again */
    struct sl_admission_entry *evicted;
    enum sl_shed_reason reason;
    assert_int_equal(sl_admission_admit(&w.adm, low[2], w.now, &evicted, &reason), SL_QUEUE);
    assert_null(evicted);
    check_consistent(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fast_path_admits_up_to_the_limit),
        cmocka_unit_test(queued_entries_go_after_releases),
        cmocka_unit_test(higher_classes_go_first),
        cmocka_unit_test(fast_path_never_passes_its_own_class),
        cmocka_unit_test(fifo_within_a_class),
        cmocka_unit_test(reservation_keeps_slots_for_higher_classes),
        cmocka_unit_test(reserves_accumulate_and_round_up),
        cmocka_unit_test(reserve_yields_at_a_limit_of_one),
        cmocka_unit_test(full_queue_evicts_newest_of_lowest_class),
        cmocka_unit_test(non_sheddable_class_is_never_evicted),
        cmocka_unit_test(same_class_arrival_on_full_queue_is_shed),
        cmocka_unit_test(queue_size_zero_sheds_beyond_the_limit),
        cmocka_unit_test(lifo_after_an_interval_above_target),
        cmocka_unit_test(lifo_ends_once_the_oldest_waited_little),
        cmocka_unit_test(lifo_needs_an_unbroken_run_above_target),
        cmocka_unit_test(lifo_ends_when_cancels_empty_the_queue),
        cmocka_unit_test(lifo_keeps_class_order),
        cmocka_unit_test(expiry_without_service_estimate),
        cmocka_unit_test(expiry_with_service_estimate),
        cmocka_unit_test(deadline_shed_at_dequeue),
        cmocka_unit_test(deadline_shed_then_next_continues),
        cmocka_unit_test(backlog_sheds_a_newcomer_that_would_wait_too_long),
        cmocka_unit_test(backlog_follows_the_pace_the_class_leaves_the_queue),
        cmocka_unit_test(backlog_spares_unsheddable_classes_and_counts_deadlines),
        cmocka_unit_test(backlog_sheds_behind_a_stuck_queue),
        cmocka_unit_test(backlog_needs_a_finished_request),
        cmocka_unit_test(critical_keeps_its_slots_through_a_probe),
        cmocka_unit_test(classes_above_the_last_critical_keep_their_slots_through_a_probe),
        cmocka_unit_test(sheddable_class_stays_fifo_under_a_standing_queue),
        cmocka_unit_test(cancel_from_the_middle_of_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
