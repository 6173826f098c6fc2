/* sluice's own overload level, per worker, with hysteresis (after WeChat's
 * DAGOR admission level).
 *
 * The worker samples its signals (event-loop lag, open connections, open
 * streams) every so often and feeds them in. A sample is "hot" when any signal
 * is at or above its threshold, "cool" when every signal is below
 * recover_percent of its threshold (a zero threshold means the signal is not
 * watched), and neither in between. The level rises by one on a hot sample at
 * most once per step_ns, and falls by one after the samples have been cool for
 * a whole step_ns; in between it holds. Rises are paced against rises only: a
 * hot sample just after a fall rises at once. now_ns never decreases from one
 * sample to the next. Level L sheds, at the door, the classes whose shed_rank
 * is 1..L (class.h), so the least important class goes first.
 *
 * Pure: time comes in as now_ns. The struct is public only to be embedded. */
#ifndef SL_OVERLOAD_H
#define SL_OVERLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "class.h"

struct sl_overload_config {
    uint64_t max_loop_lag_ns; /* 0: not watched */
    uint32_t max_connections; /* 0: not watched */
    uint32_t max_streams;     /* 0: not watched */
    unsigned recover_percent; /* 1..99 */
    uint64_t step_ns;         /* > 0 */
    unsigned max_level;       /* number of sheddable classes; 0 disables shedding */
};

struct sl_overload_signal {
    uint64_t loop_lag_ns;
    uint32_t connections;
    uint32_t streams;
};

struct sl_overload {
    struct sl_overload_config cfg;
    unsigned level;
    uint64_t last_change_ns; /* the latest rise, what step_ns paces; valid while level > 0 */
    uint64_t cool_since_ns;  /* start of the current cool run, or of the step since the
                              * last fall within it; valid while is_cool */
    bool is_cool;            /* the last sample was cool */
};

void sl_overload_init(struct sl_overload *ov, const struct sl_overload_config *cfg);

/* Feeds one sample; returns the level after it. */
unsigned sl_overload_update(struct sl_overload *ov, uint64_t now_ns,
                            const struct sl_overload_signal *sig);

/* The current level, 0 (nothing shed) to max_level. */
unsigned sl_overload_level(const struct sl_overload *ov);

/* Whether a request of class cls is shed at the door at the current level. */
bool sl_overload_sheds(const struct sl_overload *ov, const struct sl_class_policy *cls);

#endif
