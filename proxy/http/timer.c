#include "timer.h"

#include "clock.h"

/* libevent times its events from the time it cached at the start of the
 * loop's turn (and may read a coarse clock), so an event can fire a little
 * before the due time computed from sl_clock_ns: that close, it is due. A
 * timeout comes at most this early, rather than with a second wake-up. */
#define SL_TIMER_SLACK_NS 1000000u

static void add_event(struct sl_timer *t, uint64_t due_ns, uint64_t now_ns)
{
    struct timeval tv = sl_timeval_ns(due_ns > now_ns ? due_ns - now_ns : 0);
    if (event_add(t->ev, &tv) == 0)
        t->pending_ns = due_ns;
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct sl_timer *t = arg;
    t->pending_ns = 0;
    if (t->due_ns == 0)
        return; /* stopped since it was armed */
    uint64_t now_ns = sl_clock_ns();
    if (now_ns + SL_TIMER_SLACK_NS < t->due_ns) {
        add_event(t, t->due_ns, now_ns); /* moved later since it was armed */
        return;
    }
    t->due_ns = 0;
    t->on_due(t->arg);
}

int sl_timer_init(struct sl_timer *t, struct event_base *base, void (*on_due)(void *arg), void *arg)
{
    *t = (struct sl_timer){.on_due = on_due, .arg = arg};
    t->ev = evtimer_new(base, on_event, t);
    return t->ev != NULL ? 0 : -1;
}

void sl_timer_deinit(struct sl_timer *t)
{
    if (t->ev != NULL)
        event_free(t->ev);
    t->ev = NULL;
    t->due_ns = 0;
    t->pending_ns = 0;
}

static void arm(struct sl_timer *t, uint64_t due_ns, uint64_t now_ns)
{
    t->due_ns = due_ns > 0 ? due_ns : 1;
    if (t->pending_ns == 0 || t->pending_ns > t->due_ns)
        add_event(t, t->due_ns, now_ns != 0 ? now_ns : sl_clock_ns());
}

void sl_timer_arm_at(struct sl_timer *t, uint64_t due_ns)
{
    arm(t, due_ns, 0);
}

void sl_timer_arm_ms(struct sl_timer *t, uint32_t ms)
{
    uint64_t now_ns = sl_clock_ns();
    arm(t, now_ns + (uint64_t)ms * 1000000u, now_ns);
}

void sl_timer_stop(struct sl_timer *t)
{
    t->due_ns = 0;
}

void sl_timer_fire_soon(struct sl_timer *t)
{
    t->due_ns = 1;
    t->pending_ns = 1;
    event_active(t->ev, EV_TIMEOUT, 1);
}
