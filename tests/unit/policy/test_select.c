#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "select.h"

static void single_server_is_always_chosen(void **state)
{
    uint32_t inflight[] = {7};
    uint32_t cursor = 0;
    for (uint32_t r = 0; r < 10; r++)
        assert_int_equal(sl_select_server(inflight, 1, r * 7919u, &cursor), 0);
}

static void equal_load_takes_turns(void **state)
{
    uint32_t inflight[] = {2, 2, 2};
    uint32_t cursor = 0;
    size_t seen[3] = {0};
    for (uint32_t r = 0; r < 9; r++)
        seen[sl_select_server(inflight, 3, r * 2654435761u, &cursor)]++;
    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[1], 3);
    assert_int_equal(seen[2], 3);
}

static void two_servers_pick_the_less_loaded(void **state)
{
    uint32_t inflight[] = {5, 1};
    uint32_t cursor = 0;
    for (uint32_t r = 0; r < 50; r++)
        assert_int_equal(sl_select_server(inflight, 2, r * 2654435761u, &cursor), 1);
}

/* With two random candidates the most loaded server can only win against
 * itself, which the draw excludes: it is never picked. */
static void most_loaded_of_many_is_never_picked(void **state)
{
    uint32_t inflight[] = {3, 9, 3, 4, 2};
    uint32_t cursor = 0;
    size_t seen[5] = {0};
    for (uint32_t r = 0; r < 1000; r++)
        seen[sl_select_server(inflight, 5, r * 2654435761u + 12345u, &cursor)]++;
    assert_int_equal(seen[1], 0);
    /* the least loaded wins every draw it is part of: 4 of the 10 pairs */
    assert_true(seen[4] > 300);
}

static void candidates_are_distinct(void **state)
{
    /* if both candidates were the same loaded server it would be returned */
    uint32_t inflight[] = {0, 100};
    uint32_t cursor = 0;
    for (uint32_t r = 0; r < 200; r++)
        assert_int_equal(sl_select_server(inflight, 2, r, &cursor), 0);
}

static void tie_between_candidates_alternates(void **state)
{
    /* servers 0 and 1 tie, 2 is busier: draws of {0,1} alternate via the cursor */
    uint32_t inflight[] = {1, 1, 8};
    uint32_t cursor = 0;
    size_t seen[3] = {0};
    for (uint32_t r = 0; r < 3000; r++)
        seen[sl_select_server(inflight, 3, r * 2654435761u, &cursor)]++;
    assert_int_equal(seen[2], 0);
    assert_true(seen[0] > 1000 && seen[1] > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_server_is_always_chosen),
        cmocka_unit_test(equal_load_takes_turns),
        cmocka_unit_test(two_servers_pick_the_less_loaded),
        cmocka_unit_test(most_loaded_of_many_is_never_picked),
        cmocka_unit_test(candidates_are_distinct),
        cmocka_unit_test(tie_between_candidates_alternates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
