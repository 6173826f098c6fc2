/* Admission to one backend (contract in admission.h).
 *
 * An entry is in one of three states, told by its two flags (never both set):
 *   idle       neither: before sl_admission_admit, and after release, cancel,
 *              eviction, a shed by sl_admission_next or a shed at admission.
 *   queued     is_queued: linked on queues[class_index], enqueued_ns set.
 *   in flight  is_inflight: counted in inflight and inflight_by_class,
 *              admitted_ns and inflight_at_admit set (inflight just after
 *              counting it, this entry included; release hands it to the
 *              limiter).
 * Moves: idle -> in flight (admit, fast path); idle -> queued (admit);
 * queued -> in flight (next); queued -> idle (next sheds it, cancel, eviction);
 * in flight -> idle (release).
 *
 * Invariants of the admission:
 *   - queued_by_class[k] is the length of queues[k]; queued is their sum and
 *     never exceeds queue_size. Each list is in arrival order, newest at the
 *     tail, whatever the mode: LIFO only changes which end next() takes from.
 *   - inflight counts the entries in flight. It may exceed the limit for a
 *     while after an adaptive limit falls; nothing then goes until it drops.
 *   - inflight_by_class[k] counts the entries of class k in flight; inflight
 *     is their sum.
 *   - usable(k) never grows with k (the unused reserves above k only
 *     accumulate), so
 *     if the most important non-empty class cannot go, no queued entry can:
 *     every more important class is empty and every less important one has
 *     at most the same usable limit. next() therefore looks only at that class.
 *   - Once the caller has called next() until it returned SL_QUEUE (as it must
 *     after each release), no queued entry could go. admit and cancel keep
 *     that true, so the fast path's "nothing of my class or higher queued" is
 *     what stops a newcomer from passing an entry admitted late (a limit that
 *     rose, or a caller still about to call next()).
 *   - is_lifo implies queued > 0; above_target_since_ns is 0 or the time of
 *     the first of an unbroken run of dequeues that waited longer than the
 *     target (a wait above the target is >= 1 ns, so that time is never 0).
 *
 * Decisions the header leaves open:
 *   - usable(k) is at least 1 for every class, not only class 0. The formula
 *     alone gives 0 to classes below a reserve when the limit is small (limit
 *     1 and any reserve, limit 4 and 80%): with a static limit they would
 *     never go, even to an idle backend. So at tiny limits reserves yield.
 *   - service_ns is an EWMA (alpha 1/8) of the latencies released without
 *     is_drop; the first sample sets it. Drops say little about how long a
 *     request takes, so they only reach the limiter.
 *   - drain_ns[k] is an EWMA (alpha 1/8) of the time between two entries of
 *     class k sent from the queue; a busy period's first gap runs from the
 *     enqueue that made the queue non-empty (last_dequeue_ns is set then), so
 *     it is that entry's wait. Deadline sheds at dequeue are not sends and do
 *     not count. Entries of more important classes queued ahead of a newcomer
 *     count at its class's pace: their own share of the backend is already in
 *     that pace, so this errs towards shedding.
 *   - The CoDel switch looks at dequeues by next() (sent or shed for their
 *     deadline), and at each measures the wait of the oldest entry of the
 *     class served, before taking one: in FIFO mode that is the entry taken;
 *     in LIFO mode it says whether a standing queue is still there (the newest
 *     entry, which LIFO takes, has always waited little). Cancel and
 *     eviction remove entries without a dequeue, but a cancel or next() that
 *     empties the queue ends LIFO. A wait equal to the target is not above it.
 *   - Expiry: when both limits fall at the same instant the reason is the
 *     queue timeout. Sums and differences of times saturate.
 *   - At dequeue, an entry is shed when deadline_ns < now + service_ns:
 *     finishing exactly at the deadline is still in time. */
#include "admission.h"

#include "sl_assert.h"

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* the first sample sets it; then each moves it 1/8 of the way */
static void smooth(uint64_t *average, uint64_t sample)
{
    if (*average == 0)
        *average = sample;
    else if (sample >= *average)
        *average += (sample - *average) / 8;
    else
        *average -= (*average - sample) / 8;
}

static unsigned reserve_above(const struct sl_admission *adm, size_t class_index)
{
    unsigned percent = 0;
    for (size_t k = 0; k < class_index; k++)
        percent += adm->cfg.classes[k].reserve_percent;
    return percent;
}

static uint32_t usable_limit(const struct sl_admission *adm, size_t class_index)
{
    uint64_t limit = sl_limiter_limit(&adm->limiter);
    uint64_t unused = 0;
    SL_ASSERT(limit >= 1);
    for (size_t j = 0; j < class_index; j++) {
        uint64_t reserve = (limit * adm->cfg.classes[j].reserve_percent + 99) / 100;
        if (reserve > adm->inflight_by_class[j])
            unused += reserve - adm->inflight_by_class[j];
    }
    uint32_t usable = unused < limit ? (uint32_t)(limit - unused) : 1;
    if (class_index < adm->probe_exempt_classes)
        usable += sl_limiter_unsheddable_limit(&adm->limiter) - (uint32_t)limit;
    return usable;
}

/* Classes 0 .. n-1 keep their slots during a limiter probe, n - 1 the last
 * unsheddable class: the classes above it too, so that usable(k) still never
 * grows with k. */
static size_t count_probe_exempt_classes(const struct sl_admission_config *cfg)
{
    size_t n = 0;
    for (size_t k = 0; k < cfg->class_count; k++)
        if (cfg->classes[k].shed_rank == 0)
            n = k + 1;
    return n;
}

/* class_count when the queue is empty */
static size_t highest_queued_class(const struct sl_admission *adm)
{
    size_t k = 0;
    while (k < adm->cfg.class_count && adm->queued_by_class[k] == 0)
        k++;
    return k;
}

static void check_counts(const struct sl_admission *adm)
{
    SL_ASSERT(adm->queued <= adm->cfg.queue_size);
    SL_ASSERT(adm->queued > 0 || !adm->is_lifo);
#ifndef NDEBUG /* a loop over the classes: debug builds only */
    uint32_t sum = 0;
    uint32_t inflight = 0;
    for (size_t k = 0; k < adm->cfg.class_count; k++) {
        sum += adm->queued_by_class[k];
        inflight += adm->inflight_by_class[k];
    }
    SL_ASSERT(sum == adm->queued);
    SL_ASSERT(inflight == adm->inflight);
#endif
}

void sl_admission_init(struct sl_admission *adm, const struct sl_admission_config *cfg,
                       uint64_t now_ns)
{
    SL_ASSERT(cfg->class_count >= 1 && cfg->class_count <= SL_CLASS_MAX);
    *adm = (struct sl_admission){.cfg = *cfg};
    SL_ASSERT(reserve_above(adm, cfg->class_count) < 100);
    sl_limiter_init(&adm->limiter, &cfg->limiter, now_ns);
    adm->probe_exempt_classes = count_probe_exempt_classes(cfg);
    for (size_t k = 0; k < SL_CLASS_MAX; k++)
        TAILQ_INIT(&adm->queues[k]);
}

static void start_flight(struct sl_admission *adm, struct sl_admission_entry *entry,
                         uint64_t now_ns)
{
    SL_ASSERT(!entry->is_queued && !entry->is_inflight);
    SL_ASSERT(adm->inflight < UINT32_MAX);
    adm->inflight++;
    adm->inflight_by_class[entry->class_index]++;
    entry->inflight_at_admit = adm->inflight;
    entry->admitted_ns = now_ns;
    entry->is_inflight = true;
}

static void enqueue(struct sl_admission *adm, struct sl_admission_entry *entry, uint64_t now_ns)
{
    SL_ASSERT(!entry->is_queued && !entry->is_inflight);
    SL_ASSERT(adm->queued < adm->cfg.queue_size);
    if (adm->queued_by_class[entry->class_index] == 0)
        adm->last_dequeue_ns[entry->class_index] = now_ns;
    TAILQ_INSERT_TAIL(&adm->queues[entry->class_index], entry, link);
    adm->queued_by_class[entry->class_index]++;
    adm->queued++;
    entry->enqueued_ns = now_ns;
    entry->is_queued = true;
}

static void unlink_entry(struct sl_admission *adm, struct sl_admission_entry *entry)
{
    unsigned k = entry->class_index;
    SL_ASSERT(entry->is_queued && !entry->is_inflight);
    SL_ASSERT(adm->queued_by_class[k] > 0 && adm->queued > 0);
    TAILQ_REMOVE(&adm->queues[k], entry, link);
    adm->queued_by_class[k]--;
    adm->queued--;
    entry->is_queued = false;
}

/* CoDel's "the queue went empty": whatever queue stood is gone */
static void end_standing_queue_if_empty(struct sl_admission *adm)
{
    if (adm->queued > 0)
        return;
    adm->is_lifo = false;
    adm->above_target_since_ns = 0;
}

static void note_dequeue_wait(struct sl_admission *adm, uint64_t wait_ns, uint64_t now_ns)
{
    if (wait_ns <= adm->cfg.queue_target_ns) {
        adm->above_target_since_ns = 0;
        adm->is_lifo = false;
        return;
    }
    if (adm->above_target_since_ns == 0)
        adm->above_target_since_ns = now_ns;
    if (now_ns - adm->above_target_since_ns >= adm->cfg.queue_interval_ns)
        adm->is_lifo = true;
}

/* The newest entry of the least important class below class_index that may
 * be shed; NULL when there is none. */
static struct sl_admission_entry *find_eviction_victim(const struct sl_admission *adm,
                                                       unsigned class_index)
{
    for (size_t k = adm->cfg.class_count; k-- > class_index + 1;) {
        if (adm->queued_by_class[k] > 0 && adm->cfg.classes[k].shed_rank != 0)
            return TAILQ_LAST(&adm->queues[k], sl_admission_list);
    }
    return NULL;
}

static bool can_start_now(const struct sl_admission *adm, unsigned class_index)
{
    if (adm->inflight >= usable_limit(adm, class_index))
        return false;
    return highest_queued_class(adm) > class_index;
}

/* The time one entry of the class takes to leave the queue; 0: not known. */
static uint64_t drain_step_ns(const struct sl_admission *adm, size_t class_index)
{
    if (adm->drain_ns[class_index] != 0)
        return adm->drain_ns[class_index];
    return adm->service_ns / usable_limit(adm, class_index);
}

static uint64_t queued_through(const struct sl_admission *adm, size_t class_index)
{
    uint64_t n = 0;
    for (size_t j = 0; j <= class_index; j++)
        n += adm->queued_by_class[j];
    return n;
}

/* What the entry may wait in the queue, as the backlog rule sees it. */
static uint64_t backlog_allowance_ns(const struct sl_admission *adm,
                                     const struct sl_admission_entry *entry, uint64_t now_ns)
{
    const struct sl_class_policy *c = &adm->cfg.classes[entry->class_index];
    uint64_t allowed = min_u64(c->max_backlog_ns, c->max_queue_ns);
    if (entry->deadline_ns != 0)
        allowed = min_u64(allowed, sub_sat(sub_sat(entry->deadline_ns, now_ns), adm->service_ns));
    return allowed;
}

static bool is_backlogged(const struct sl_admission *adm, const struct sl_admission_entry *entry,
                          uint64_t now_ns)
{
    unsigned k = entry->class_index;
    if (adm->cfg.classes[k].shed_rank == 0 || adm->service_ns == 0)
        return false;
    uint64_t allowed = backlog_allowance_ns(adm, entry, now_ns);
    if (adm->queued_by_class[k] > 0 && sub_sat(now_ns, adm->last_dequeue_ns[k]) > allowed)
        return true; /* its class's queue is stuck */
    return mul_sat(queued_through(adm, k) + 1, drain_step_ns(adm, k)) > allowed;
}

enum sl_verdict sl_admission_admit(struct sl_admission *adm, struct sl_admission_entry *entry,
                                   uint64_t now_ns, struct sl_admission_entry **evicted,
                                   enum sl_shed_reason *reason)
{
    SL_ASSERT(entry->class_index < adm->cfg.class_count);
    SL_ASSERT(!entry->is_queued && !entry->is_inflight);
    *evicted = NULL;
    if (can_start_now(adm, entry->class_index)) {
        start_flight(adm, entry, now_ns);
        return SL_ADMIT;
    }
    sl_limiter_on_held_back(&adm->limiter);
    if (is_backlogged(adm, entry, now_ns)) {
        *reason = SL_SHED_BACKLOG;
        return SL_SHED;
    }
    if (adm->queued >= adm->cfg.queue_size) {
        struct sl_admission_entry *victim = find_eviction_victim(adm, entry->class_index);
        if (victim == NULL) {
            *reason = SL_SHED_QUEUE_FULL;
            return SL_SHED;
        }
        unlink_entry(adm, victim);
        *evicted = victim;
    }
    enqueue(adm, entry, now_ns);
    check_counts(adm);
    return SL_QUEUE;
}

uint64_t sl_admission_expiry(const struct sl_admission *adm, const struct sl_admission_entry *entry,
                             uint64_t now_ns, enum sl_shed_reason *reason)
{
    SL_ASSERT(entry->is_queued);
    uint64_t expiry_ns =
        add_sat(entry->enqueued_ns, adm->cfg.classes[entry->class_index].max_queue_ns);
    *reason = SL_SHED_QUEUE_TIMEOUT;
    if (entry->deadline_ns != 0) {
        uint64_t last_start_ns = sub_sat(entry->deadline_ns, adm->service_ns);
        if (last_start_ns < expiry_ns) {
            expiry_ns = last_start_ns;
            *reason = SL_SHED_DEADLINE;
        }
    }
    return expiry_ns > now_ns ? expiry_ns : now_ns;
}

void sl_admission_cancel(struct sl_admission *adm, struct sl_admission_entry *entry)
{
    unlink_entry(adm, entry);
    end_standing_queue_if_empty(adm);
    check_counts(adm);
}

void sl_admission_release(struct sl_admission *adm, struct sl_admission_entry *entry,
                          uint64_t now_ns, uint64_t latency_ns, enum sl_sample sample)
{
    SL_ASSERT(entry->is_inflight && !entry->is_queued);
    SL_ASSERT(adm->inflight > 0);
    SL_ASSERT(adm->inflight_by_class[entry->class_index] > 0);
    adm->inflight--;
    adm->inflight_by_class[entry->class_index]--;
    entry->is_inflight = false;
    if (sample == SL_SAMPLE_NONE)
        return;
    bool is_drop = sample == SL_SAMPLE_DROP;
    sl_limiter_on_sample(&adm->limiter, now_ns, latency_ns, entry->inflight_at_admit, is_drop);
    if (!is_drop)
        smooth(&adm->service_ns, latency_ns > 0 ? latency_ns : 1);
}

static struct sl_admission_entry *take_from_queue(struct sl_admission *adm, size_t class_index,
                                                  uint64_t now_ns)
{
    struct sl_admission_list *list = &adm->queues[class_index];
    /* the oldest entry's wait is the queue's sojourn time, whichever end is served */
    uint64_t oldest_wait_ns = sub_sat(now_ns, TAILQ_FIRST(list)->enqueued_ns);
    bool is_lifo = adm->is_lifo && adm->cfg.classes[class_index].shed_rank == 0;
    struct sl_admission_entry *entry =
        is_lifo ? TAILQ_LAST(list, sl_admission_list) : TAILQ_FIRST(list);
    unlink_entry(adm, entry);
    note_dequeue_wait(adm, oldest_wait_ns, now_ns);
    end_standing_queue_if_empty(adm);
    return entry;
}

static bool misses_deadline(const struct sl_admission *adm, const struct sl_admission_entry *entry,
                            uint64_t now_ns)
{
    return entry->deadline_ns != 0 && entry->deadline_ns < add_sat(now_ns, adm->service_ns);
}

enum sl_verdict sl_admission_next(struct sl_admission *adm, uint64_t now_ns,
                                  struct sl_admission_entry **entry, enum sl_shed_reason *reason)
{
    *entry = NULL;
    size_t k = highest_queued_class(adm);
    if (k == adm->cfg.class_count || adm->inflight >= usable_limit(adm, k))
        return SL_QUEUE;
    struct sl_admission_entry *taken = take_from_queue(adm, k, now_ns);
    check_counts(adm);
    *entry = taken;
    if (misses_deadline(adm, taken, now_ns)) {
        *reason = SL_SHED_DEADLINE;
        return SL_SHED;
    }
    smooth(&adm->drain_ns[k],
           now_ns > adm->last_dequeue_ns[k] ? now_ns - adm->last_dequeue_ns[k] : 1);
    adm->last_dequeue_ns[k] = now_ns;
    start_flight(adm, taken, now_ns);
    return SL_ADMIT;
}

uint32_t sl_admission_limit(const struct sl_admission *adm)
{
    return sl_limiter_limit(&adm->limiter);
}

uint64_t sl_admission_backlog_ns(const struct sl_admission *adm, size_t class_index)
{
    if (adm->queued_by_class[class_index] == 0 || adm->service_ns == 0)
        return 0;
    return mul_sat(queued_through(adm, class_index), drain_step_ns(adm, class_index));
}
