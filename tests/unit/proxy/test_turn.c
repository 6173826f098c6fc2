#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "turn.h"

struct log {
    char ran[16];
    size_t count;
};

/* Tasks that write their letter into a shared log when they run. */
struct fake {
    struct sl_turn_task task;
    char letter;
    struct log *log;
    struct fake *defers; /* deferred by this one's run, if set */
    struct sl_turn *turn;
};

static void run_fake(struct sl_turn_task *task)
{
    struct fake *f = (struct fake *)task;
    f->log->ran[f->log->count++] = f->letter;
    if (f->defers != NULL)
        assert_true(sl_turn_defer(f->turn, &f->defers->task));
}

static void fake_init(struct fake *f, char letter, struct log *log, struct sl_turn *turn)
{
    *f = (struct fake){.letter = letter, .log = log, .turn = turn};
    sl_turn_task_init(&f->task, run_fake);
}

static void nothing_is_deferred_outside_a_turn(void **state)
{
    struct sl_turn turn;
    struct log log = {0};
    struct fake a;
    sl_turn_init(&turn);
    fake_init(&a, 'a', &log, &turn);
    assert_false(sl_turn_defer(&turn, &a.task));
    sl_turn_begin(&turn);
    sl_turn_end(&turn);
    assert_int_equal(log.count, 0);
}

static void tasks_run_once_each_at_the_end_in_the_order_deferred(void **state)
{
    struct sl_turn turn;
    struct log log = {0};
    struct fake a, b;
    sl_turn_init(&turn);
    fake_init(&a, 'a', &log, &turn);
    fake_init(&b, 'b', &log, &turn);
    sl_turn_begin(&turn);
    assert_true(sl_turn_defer(&turn, &b.task));
    assert_true(sl_turn_defer(&turn, &a.task));
    assert_true(sl_turn_defer(&turn, &b.task));
    assert_int_equal(log.count, 0);
    sl_turn_end(&turn);
    assert_int_equal(log.count, 2);
    assert_memory_equal(log.ran, "ba", 2);
    assert_false(sl_turn_defer(&turn, &a.task)); /* the turn is over */
}

static void only_the_outermost_end_runs_the_tasks(void **state)
{
    struct sl_turn turn;
    struct log log = {0};
    struct fake a;
    sl_turn_init(&turn);
    fake_init(&a, 'a', &log, &turn);
    sl_turn_begin(&turn);
    sl_turn_begin(&turn);
    assert_true(sl_turn_defer(&turn, &a.task));
    sl_turn_end(&turn);
    assert_int_equal(log.count, 0);
    sl_turn_end(&turn);
    assert_int_equal(log.count, 1);
}

static void a_cancelled_task_does_not_run(void **state)
{
    struct sl_turn turn;
    struct log log = {0};
    struct fake a, b;
    sl_turn_init(&turn);
    fake_init(&a, 'a', &log, &turn);
    fake_init(&b, 'b', &log, &turn);
    sl_turn_cancel(&a.task); /* not queued: nothing happens */
    sl_turn_begin(&turn);
    assert_true(sl_turn_defer(&turn, &a.task));
    assert_true(sl_turn_defer(&turn, &b.task));
    sl_turn_cancel(&a.task);
    sl_turn_end(&turn);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.ran[0], 'b');
}

static void what_a_task_defers_runs_in_the_same_end(void **state)
{
    struct sl_turn turn;
    struct log log = {0};
    struct fake a, b;
    sl_turn_init(&turn);
    fake_init(&a, 'a', &log, &turn);
    fake_init(&b, 'b', &log, &turn);
    a.defers = &b;
    sl_turn_begin(&turn);
    assert_true(sl_turn_defer(&turn, &a.task));
    sl_turn_end(&turn);
    assert_int_equal(log.count, 2);
    assert_memory_equal(log.ran, "ab", 2);
    assert_false(sl_turn_defer(&turn, &b.task));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_is_deferred_outside_a_turn),
        cmocka_unit_test(tasks_run_once_each_at_the_end_in_the_order_deferred),
        cmocka_unit_test(only_the_outermost_end_runs_the_tasks),
        cmocka_unit_test(a_cancelled_task_does_not_run),
        cmocka_unit_test(what_a_task_defers_runs_in_the_same_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
