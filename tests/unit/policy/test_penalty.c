#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "penalty.h"

static struct sl_ip v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct sl_ip ip;
    const uint8_t bytes[4] = {a, b, c, d};
    sl_ip_set(&ip, SL_IP_V4, bytes);
    return ip;
}

static void an_address_is_in_until_its_time_ends(void **state)
{
    struct sl_penalty_box box = {0};
    struct sl_ip abuser = v4(192, 0, 2, 1), other = v4(192, 0, 2, 2);
    assert_false(sl_penalty_has(&box, &abuser, 0));
    sl_penalty_add(&box, &abuser, 1000);
    assert_true(sl_penalty_has(&box, &abuser, 999));
    assert_false(sl_penalty_has(&box, &abuser, 1000));
    assert_false(sl_penalty_has(&box, &other, 500));
}

static void adding_again_extends_and_never_shortens(void **state)
{
    struct sl_penalty_box box = {0};
    struct sl_ip abuser = v4(192, 0, 2, 1);
    sl_penalty_add(&box, &abuser, 1000);
    sl_penalty_add(&box, &abuser, 3000);
    assert_true(sl_penalty_has(&box, &abuser, 2999));
    sl_penalty_add(&box, &abuser, 2000);
    assert_true(sl_penalty_has(&box, &abuser, 2999));
    /* one slot for it, however often it is added */
    for (int i = 0; i < SL_PENALTY_SLOTS - 1; i++) {
        struct sl_ip ip = v4(10, 0, 0, (uint8_t)i);
        sl_penalty_add(&box, &ip, 5000);
    }
    assert_true(sl_penalty_has(&box, &abuser, 2999));
}

static void a_full_box_drops_the_oldest(void **state)
{
    struct sl_penalty_box box = {0};
    for (int i = 0; i <= SL_PENALTY_SLOTS; i++) {
        struct sl_ip ip = v4(10, 0, 1, (uint8_t)i);
        sl_penalty_add(&box, &ip, 5000);
    }
    struct sl_ip first = v4(10, 0, 1, 0), second = v4(10, 0, 1, 1),
                 last = v4(10, 0, 1, SL_PENALTY_SLOTS);
    assert_false(sl_penalty_has(&box, &first, 0));
    assert_true(sl_penalty_has(&box, &second, 0));
    assert_true(sl_penalty_has(&box, &last, 0));
}

static void families_do_not_mix(void **state)
{
    struct sl_penalty_box box = {0};
    struct sl_ip four = v4(0, 0, 0, 1), six;
    const uint8_t bytes[16] = {[15] = 1}; /* ::1 */
    sl_ip_set(&six, SL_IP_V6, bytes);
    sl_penalty_add(&box, &six, 1000);
    assert_true(sl_penalty_has(&box, &six, 0));
    assert_false(sl_penalty_has(&box, &four, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_address_is_in_until_its_time_ends),
        cmocka_unit_test(adding_again_extends_and_never_shortens),
        cmocka_unit_test(a_full_box_drops_the_oldest),
        cmocka_unit_test(families_do_not_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
