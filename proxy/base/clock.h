/* The monotonic clock that policy/ decisions are fed with, and the wall clock
 * that stats and logs are stamped with. */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

static inline uint64_t sl_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The monotonic clock at the kernel tick's resolution (1-10 ms), for budgets
 * counted in seconds: a sixth of sl_clock_ns's cost in a VM, where a flood
 * reads it once a frame. Not comparable with sl_clock_ns. */
static inline uint64_t sl_clock_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The wall clock, in milliseconds since the Unix epoch. */
static inline uint64_t sl_clock_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The same, in microseconds. */
static inline uint64_t sl_clock_unix_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A duration in nanoseconds as the timeval libevent takes. */
static inline struct timeval sl_timeval_ns(uint64_t ns)
{
    struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000u),
                         .tv_usec = (suseconds_t)(ns % 1000000000u / 1000)};
    return tv;
}

#endif
