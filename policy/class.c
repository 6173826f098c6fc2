#include "class.h"

const char *sl_shed_reason_name(enum sl_shed_reason reason)
{
    static const char *const names[SL_SHED_REASON_COUNT] = {
        [SL_SHED_QUEUE_FULL] = "queue_full", [SL_SHED_QUEUE_TIMEOUT] = "queue_timeout",
        [SL_SHED_DEADLINE] = "deadline",     [SL_SHED_OVERLOAD] = "overload",
        [SL_SHED_EVICTED] = "evicted",       [SL_SHED_BACKLOG] = "backlog",
    };
    return (unsigned)reason < SL_SHED_REASON_COUNT ? names[reason] : "unknown";
}

unsigned sl_class_rank(struct sl_class_policy *classes, const bool *is_sheddable, size_t count)
{
    unsigned rank = 0;
    for (size_t i = count; i-- > 0;)
        classes[i].shed_rank = is_sheddable[i] ? ++rank : 0;
    return rank;
}
