/* A one-shot timer that moves later for the price of a clock read.
 *
 * A request's timer and a connection's idle timer move on every bit of
 * progress: with a plain libevent timer each move is a timer-heap update
 * (event_del and event_add, several per request). Here the libevent event
 * stays pending at the earliest time it was armed for; when it fires before
 * the timer's current due time it re-arms itself for the rest, and when the
 * timer is stopped it fires into nothing. Arming for a time earlier than the
 * pending one, or with nothing pending, costs an event_add; moving later and
 * stopping cost none. A stopped timer's event may so stay pending until its
 * last time, once: event loops here end by event_base_loopexit, not by
 * running out of events.
 *
 * The struct is embedded in its owner (its address is the event's argument:
 * it must not move while initialised). */
#ifndef SL_TIMER_H
#define SL_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

struct sl_timer {
    struct event *ev;
    void (*on_due)(void *arg);
    void *arg;
    uint64_t due_ns;     /* sl_clock_ns time it is due at; 0: stopped */
    uint64_t pending_ns; /* the time ev is pending for; 0: not pending */
};

/* 0, or -1 when out of memory (the timer is then unusable but safe to deinit). */
int sl_timer_init(struct sl_timer *t, struct event_base *base, void (*on_due)(void *arg),
                  void *arg);
void sl_timer_deinit(struct sl_timer *t);

/* Due at due_ns, on sl_clock_ns's clock (read only if the event must move). */
void sl_timer_arm_at(struct sl_timer *t, uint64_t due_ns);
/* Due ms from now. */
void sl_timer_arm_ms(struct sl_timer *t, uint32_t ms);
void sl_timer_stop(struct sl_timer *t);
/* Due now: on_due runs from the loop, not from inside the caller. */
void sl_timer_fire_soon(struct sl_timer *t);

#endif
