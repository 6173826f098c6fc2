#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "upstream.h"

/* Client stream ids 1, 3, ..., 2^31 - 1: 2^30 of them. */
static void test_stream_ids_left(void **state)
{
    (void)state;
    assert_int_equal(sl_h2_stream_ids_left(1), 1u << 30);
    assert_int_equal(sl_h2_stream_ids_left(3), (1u << 30) - 1);
    assert_int_equal(sl_h2_stream_ids_left(INT32_MAX - 2), 2);
    assert_int_equal(sl_h2_stream_ids_left(INT32_MAX), 1);
    /* nghttp2's next id once the last one is spent */
    assert_int_equal(sl_h2_stream_ids_left((uint32_t)INT32_MAX + 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_ids_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
