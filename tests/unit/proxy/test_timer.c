#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>

#include "clock.h"
#include "timer.h"

#define MS 1000000ull

struct fixture {
    struct event_base *base;
    struct sl_timer timer;
    unsigned fired;
    uint64_t fired_ns;
};

static void on_due(void *arg)
{
    struct fixture *f = arg;
    f->fired++;
    f->fired_ns = sl_clock_ns();
}

static int setup(void **state)
{
    struct fixture *f = test_calloc(1, sizeof(*f));
    f->base = event_base_new();
    if (f->base == NULL || sl_timer_init(&f->timer, f->base, on_due, f) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_timer_deinit(&f->timer);
    event_base_free(f->base);
    test_free(f);
    return 0;
}

/* Runs the loop for ms, whatever fires meanwhile. */
static void run_for(struct fixture *f, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

/* Runs the loop until the timer has fired once, at most for 5 s. */
static void run_until_fired(struct fixture *f)
{
    uint64_t give_up = sl_clock_ns() + 5000 * MS;
    while (f->fired == 0 && sl_clock_ns() < give_up)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(f->fired, 1);
}

static void fires_once_when_due(void **state)
{
    struct fixture *f = *state;
    uint64_t start = sl_clock_ns();
    sl_timer_arm_ms(&f->timer, 20);
    run_until_fired(f);
    assert_true(f->fired_ns + MS >= start + 20 * MS); /* at most the slack early */
    run_for(f, 40);
    assert_int_equal(f->fired, 1);
}

/* Moved later, the libevent event stays where it was (no timer-heap update)
 * and, when it fires, re-arms itself for the rest: the timer fires once, at
 * the later time. */
static void moved_later_fires_at_the_later_time_only(void **state)
{
    struct fixture *f = *state;
    uint64_t start = sl_clock_ns();
    sl_timer_arm_ms(&f->timer, 10);
    struct timeval first, after;
    assert_true(event_pending(f->timer.ev, EV_TIMEOUT, &first));
    sl_timer_arm_ms(&f->timer, 60);
    assert_true(event_pending(f->timer.ev, EV_TIMEOUT, &after));
    assert_true(first.tv_sec == after.tv_sec && first.tv_usec == after.tv_usec);
    run_until_fired(f);
    assert_true(f->fired_ns + MS >= start + 60 * MS);
}

static void moved_earlier_fires_at_the_earlier_time(void **state)
{
    struct fixture *f = *state;
    uint64_t start = sl_clock_ns();
    sl_timer_arm_ms(&f->timer, 2000);
    sl_timer_arm_ms(&f->timer, 10);
    run_until_fired(f);
    assert_true(f->fired_ns < start + 1000 * MS);
}

/* A stopped timer's event fires into nothing; armed again, the timer fires
 * at its new time. */
static void stopped_fires_nothing_until_armed_again(void **state)
{
    struct fixture *f = *state;
    sl_timer_arm_ms(&f->timer, 10);
    sl_timer_stop(&f->timer);
    run_for(f, 40);
    assert_int_equal(f->fired, 0);
    uint64_t start = sl_clock_ns();
    sl_timer_arm_ms(&f->timer, 20);
    run_until_fired(f);
    assert_true(f->fired_ns + MS >= start + 20 * MS);
}

static void fire_soon_runs_from_the_loop(void **state)
{
    struct fixture *f = *state;
    sl_timer_arm_ms(&f->timer, 60000);
    sl_timer_fire_soon(&f->timer);
    assert_int_equal(f->fired, 0); /* not from inside the caller */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->fired, 1);
    run_for(f, 20);
    assert_int_equal(f->fired, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fires_once_when_due, setup, teardown),
        cmocka_unit_test_setup_teardown(moved_later_fires_at_the_later_time_only, setup, teardown),
        cmocka_unit_test_setup_teardown(moved_earlier_fires_at_the_earlier_time, setup, teardown),
        cmocka_unit_test_setup_teardown(stopped_fires_nothing_until_armed_again, setup, teardown),
        cmocka_unit_test_setup_teardown(fire_soon_runs_from_the_loop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
