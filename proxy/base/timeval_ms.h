/* Milliseconds, as the config counts them, to the timeval libevent takes. */
#ifndef SL_TIMEVAL_MS_H
#define SL_TIMEVAL_MS_H

#include <stdint.h>
#include <sys/time.h>

static inline struct timeval sl_timeval_ms(uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

#endif
