/* Admission to one backend: a concurrency limit and a bounded priority queue.
 *
 * A request that arrives while the backend is below the limit usable by its
 * class, and with nothing of its class or higher queued, is admitted at once.
 * Otherwise it queues. The queue is one list per class; the next request to go
 * is taken from the most important non-empty class that the limit allows
 * (a higher class never waits behind a lower one).
 *
 * Reserves are minimum shares: class j keeps
 *     reserve(j) = ceil(limit * reserve_percent(j) / 100)
 * slots for itself, and the slots it holds count towards that reserve. A class
 * may use the limit less what the classes above it reserve and do not hold:
 *     usable(k) = limit - sum over j < k of max(0, reserve(j) - inflight(j))
 * (at least 1 for every class: at tiny limits, such as 1, a reserve yields rather
 * than starve a class outright). Lower classes cannot take every slot just
 * before a burst of a higher one, yet a reserve in use costs them nothing.
 *
 * While an adaptive limiter probes (its limit at the floor), the classes down
 * to the last one with shed_rank 0 add the slots the probe will give back
 * (sl_limiter_unsheddable_limit less the limit): critical traffic does not
 * queue behind a probe, and the probe still sees an idle backend between
 * them, since sheddable classes are held to the floor.
 *
 * Backlog: a sheddable class's queue is kept to what the backend drains soon.
 * A newcomer of a class with shed_rank != 0 that would queue is shed at once
 * (SL_SHED_BACKLOG) when its predicted wait, the entries ahead of it times the
 * time between two dequeues of its class (smoothed; before the first, the
 * service time over the usable limit), exceeds the least of its class's
 * max_backlog_ns, max_queue_ns and, with a deadline, the time left to start
 * before it; and when its class's queue has not moved for longer than that.
 * A flood's excess gets its answer on arrival, not after waiting its turn to
 * expire, while a burst the backend drains within max_backlog_ns still queues.
 * No prediction is made before the first finished request.
 *
 * Within a class the queue is FIFO while it drains. A class that is never shed
 * at the door (shed_rank 0) is served newest-first (adaptive LIFO) once a
 * standing queue forms, CoDel-style: when, at every dequeue over
 * queue_interval_ns, the oldest queued request of the class served had waited
 * longer than queue_target_ns, the admission switches to LIFO; it switches back
 * when at a dequeue the oldest had waited no longer than the target, or the
 * queue empties. Under a standing queue the newest requests, which still have
 * time left, go first, and the oldest expire. Sheddable classes stay FIFO:
 * their backlog is bounded, and under LIFO the oldest of a bounded queue would
 * wait to expire rather than be served.
 *
 * When the queue holds queue_size entries, an arriving request evicts the newest
 * entry of the least important class below its own whose shed_rank is not 0;
 * without one, it is shed itself (SL_SHED_QUEUE_FULL).
 *
 * Deadlines: a queued entry must leave by sl_admission_expiry(); when an entry is
 * taken from the queue and now + the recent service time passes its deadline,
 * it is shed (SL_SHED_DEADLINE) rather than sent late.
 *
 * Entries are the caller's memory (embedded in its request); the admission only
 * links them. The admission itself must not move after sl_admission_init (its
 * list heads point into it). Pure: no I/O, no clock, no allocation. */
#ifndef SL_ADMISSION_H
#define SL_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "class.h"
#include "limiter.h"

struct sl_admission_entry {
    /* set by the caller before sl_admission_admit, then read-only to it */
    unsigned class_index;
    uint64_t deadline_ns; /* absolute; 0: none */
    /* owned by the admission */
    uint64_t enqueued_ns; /* valid while is_queued */
    uint64_t admitted_ns; /* valid while is_inflight */
    uint32_t inflight_at_admit;
    bool is_queued;
    bool is_inflight;
    TAILQ_ENTRY(sl_admission_entry) link;
};

TAILQ_HEAD(sl_admission_list, sl_admission_entry);

/* What a finished request tells the limiter and the service-time estimate. */
enum sl_sample {
    SL_SAMPLE_OK,   /* a response: its latency is a sample */
    SL_SAMPLE_DROP, /* the backend failed or timed out: the limiter backs off */
    SL_SAMPLE_NONE, /* ended for another reason (the client left): no sample */
};

struct sl_admission_config {
    const struct sl_class_policy *classes; /* borrowed; must outlive the admission */
    size_t class_count;                    /* 1..SL_CLASS_MAX */
    struct sl_limiter_config limiter;
    uint32_t queue_size; /* entries queued at most, over all classes */
    uint64_t queue_target_ns;
    uint64_t queue_interval_ns;
};

struct sl_admission {
    struct sl_admission_config cfg;
    struct sl_limiter limiter;
    struct sl_admission_list queues[SL_CLASS_MAX];
    uint32_t queued_by_class[SL_CLASS_MAX];
    uint32_t inflight_by_class[SL_CLASS_MAX];
    uint64_t drain_ns[SL_CLASS_MAX];        /* smoothed time between two dequeues; 0: none yet */
    uint64_t last_dequeue_ns[SL_CLASS_MAX]; /* or when the class's queue last became non-empty */
    uint32_t queued;
    uint32_t inflight;
    uint64_t service_ns;            /* smoothed latency of finished requests; 0: none yet */
    uint64_t above_target_since_ns; /* 0: the last dequeue waited less than the target */
    bool is_lifo;
    size_t probe_exempt_classes; /* classes 0 .. this - 1 keep their slots during probes */
};

/* cfg is copied (classes stay borrowed). now_ns starts the limiter. */
void sl_admission_init(struct sl_admission *adm, const struct sl_admission_config *cfg,
                       uint64_t now_ns);

/* Decides for a new entry (class_index and deadline_ns set, not queued nor in
 * flight).
 *   SL_ADMIT: entry is in flight; the caller sends it and later calls
 *             sl_admission_release.
 *   SL_QUEUE: entry is queued; the caller arms a timer for sl_admission_expiry
 *             and waits for sl_admission_next to hand it back. If *evicted is set,
 *             that other entry was removed from the queue to make room and the
 *             caller must shed it with SL_SHED_EVICTED.
 *   SL_SHED:  nothing changed; *reason says why (SL_SHED_QUEUE_FULL,
 *             SL_SHED_BACKLOG).
 * *evicted is always written (NULL when nothing was evicted). */
enum sl_verdict sl_admission_admit(struct sl_admission *adm, struct sl_admission_entry *entry,
                                   uint64_t now_ns, struct sl_admission_entry **evicted,
                                   enum sl_shed_reason *reason);

/* When a queued entry must leave the queue, and why: the earlier of its
 * class's max_queue time (SL_SHED_QUEUE_TIMEOUT) and its deadline less the
 * recent service time (SL_SHED_DEADLINE). Never earlier than now_ns. */
uint64_t sl_admission_expiry(const struct sl_admission *adm, const struct sl_admission_entry *entry,
                             uint64_t now_ns, enum sl_shed_reason *reason);

/* Takes a queued entry out (its client went away, or its expiry passed). */
void sl_admission_cancel(struct sl_admission *adm, struct sl_admission_entry *entry);

/* An in-flight entry finished. latency_ns is the time from admission to the
 * end of the response; sample says what it tells the limiter and the service-
 * time estimate. The freed slot is not given away here: call sl_admission_next. */
void sl_admission_release(struct sl_admission *adm, struct sl_admission_entry *entry,
                          uint64_t now_ns, uint64_t latency_ns, enum sl_sample sample);

/* The next thing to do with the queue, called until it returns SL_QUEUE:
 *   SL_ADMIT: *entry left the queue and is in flight: send it.
 *   SL_SHED:  *entry left the queue and must be shed for *reason
 *             (SL_SHED_DEADLINE: it would finish after its deadline).
 *   SL_QUEUE: nothing can go now (*entry is NULL). */
enum sl_verdict sl_admission_next(struct sl_admission *adm, uint64_t now_ns,
                                  struct sl_admission_entry **entry, enum sl_shed_reason *reason);

/* The limit now (for stats). */
uint32_t sl_admission_limit(const struct sl_admission *adm);

/* How long class_index's queue now takes to drain, as the backlog rule
 * predicts it (for stats); 0 when it is empty or nothing has finished yet. */
uint64_t sl_admission_backlog_ns(const struct sl_admission *adm, size_t class_index);

#endif
