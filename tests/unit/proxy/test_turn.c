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

/* A turn and two tasks on it, a and b. */
struct fixture {
    struct sl_turn turn;
    struct log log;
    struct fake a, b;
};

static int setup(void **state)
{
    struct fixture *f = test_calloc(1, sizeof(*f));
    sl_turn_init(&f->turn);
    fake_init(&f->a, 'a', &f->log, &f->turn);
    fake_init(&f->b, 'b', &f->log, &f->turn);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    test_free(*state);
    return 0;
}

static void nothing_is_deferred_outside_a_turn(void **state)
{
    struct fixture *f = *state;
    assert_false(sl_turn_defer(&f->turn, &f->a.task));
    sl_turn_begin(&f->turn);
    sl_turn_end(&f->turn);
    assert_int_equal(f->log.count, 0);
}

static void tasks_run_once_each_at_the_end_in_the_order_deferred(void **state)
{
    struct fixture *f = *state;
    sl_turn_begin(&f->turn);
    assert_true(sl_turn_defer(&f->turn, &f->b.task));
    assert_true(sl_turn_defer(&f->turn, &f->a.task));
    assert_true(sl_turn_defer(&f->turn, &f->b.task));
    assert_int_equal(f->log.count, 0);
    sl_turn_end(&f->turn);
    assert_int_equal(f->log.count, 2);
    assert_memory_equal(f->log.ran, "ba", 2);
    assert_false(sl_turn_defer(&f->turn, &f->a.task)); /* the turn is over */
}

static void only_the_outermost_end_runs_the_tasks(void **state)
{
    struct fixture *f = *state;
    sl_turn_begin(&f->turn);
    sl_turn_begin(&f->turn);
    assert_true(sl_turn_defer(&f->turn, &f->a.task));
    sl_turn_end(&f->turn);
    assert_int_equal(f->log.count, 0);
    sl_turn_end(&f->turn);
    assert_int_equal(f->log.count, 1);
}

static void a_cancelled_task_does_not_run(void **state)
{
    struct fixture *f = *state;
    sl_turn_cancel(&f->a.task); /* not queued: nothing happens */
    sl_turn_begin(&f->turn);
    assert_true(sl_turn_defer(&f->turn, &f->a.task));
    assert_true(sl_turn_defer(&f->turn, &f->b.task));
    sl_turn_cancel(&f->a.task);
    sl_turn_end(&f->turn);
    assert_int_equal(f->log.count, 1);
    assert_int_equal(f->log.ran[0], 'b');
}

static void what_a_task_defers_runs_in_the_same_end(void **state)
{
    struct fixture *f = *state;
    f->a.defers = &f->b;
    sl_turn_begin(&f->turn);
    assert_true(sl_turn_defer(&f->turn, &f->a.task));
    sl_turn_end(&f->turn);
    assert_int_equal(f->log.count, 2);
    assert_memory_equal(f->log.ran, "ab", 2);
    assert_false(sl_turn_defer(&f->turn, &f->b.task));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(nothing_is_deferred_outside_a_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_run_once_each_at_the_end_in_the_order_deferred, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(only_the_outermost_end_runs_the_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(a_cancelled_task_does_not_run, setup, teardown),
        cmocka_unit_test_setup_teardown(what_a_task_defers_runs_in_the_same_end, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
