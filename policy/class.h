/* Priority classes and the vocabulary of admission decisions. Pure data.
 *
 * Classes are numbered by priority: index 0 is the most important. Everything
 * in policy/ that orders requests compares these indexes. */
#ifndef SL_CLASS_H
#define SL_CLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_CLASS_MAX 16

/* What admission decided for a request (STYLE.md: decisions are values). */
enum sl_verdict {
    SL_ADMIT, /* send it upstream now */
    SL_QUEUE, /* it waits in the backend's queue */
    SL_SHED,  /* answer it now with its class's shed answer */
};

/* Why a request was shed; every shed carries one. */
enum sl_shed_reason {
    SL_SHED_QUEUE_FULL,    /* the queue was full and nothing lower could be evicted */
    SL_SHED_QUEUE_TIMEOUT, /* waited its class's max_queue time */
    SL_SHED_DEADLINE,      /* its deadline could no longer be met */
    SL_SHED_OVERLOAD,      /* sluice itself is overloaded: shed at the door */
    SL_SHED_EVICTED,       /* pushed out of a full queue by a higher class */
    SL_SHED_BACKLOG,       /* the queue ahead would not drain within what its class may wait */
    SL_SHED_REASON_COUNT,
};

/* "queue_full", "queue_timeout", "deadline", "overload", "evicted", "backlog". */
const char *sl_shed_reason_name(enum sl_shed_reason reason);

struct sl_class_policy {
    uint64_t max_queue_ns;    /* longest wait in a backend's queue */
    uint64_t max_backlog_ns;  /* sheddable classes: the longest wait a newcomer is
                               * predicted to have that still lets it queue */
    unsigned reserve_percent; /* share of each backend's limit that classes below this
                               * one may not use; the sum over classes is < 100 */
    unsigned shed_rank;       /* 0: never shed at the door nor evicted; otherwise
                               * 1 for the lowest sheddable class, 2 for the next... */
};

/* Sets shed_rank for count classes from is_sheddable[i], lowest class (highest
 * index) first. Returns the number of sheddable classes, the highest overload
 * level that still sheds something. */
unsigned sl_class_rank(struct sl_class_policy *classes, const bool *is_sheddable, size_t count);

#endif
