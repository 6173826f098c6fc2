/* hpack/indexing.c: over a connection's responses, which fields are left out
 * of the HPACK table, and that the memory stays within its names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "indexing.h"

#define FIELDS_MAX 24

struct response {
    nghttp2_nv fields[FIELDS_MAX];
    char values[FIELDS_MAX][32];
    size_t count;
};

static void add(struct response *r, const char *name, const char *value, uint8_t flags)
{
    assert_true(r->count < FIELDS_MAX && strlen(value) < sizeof(r->values[0]));
    strcpy(r->values[r->count], value);
    r->fields[r->count] = (nghttp2_nv){
        .name = (uint8_t *)name,
        .value = (uint8_t *)r->values[r->count],
        .namelen = strlen(name),
        .valuelen = strlen(value),
        .flags = flags,
    };
    r->count++;
}

static bool is_unindexed(const struct response *r, size_t i)
{
    return r->fields[i].flags & NGHTTP2_NV_FLAG_NO_INDEX;
}

/* A typical response of one connection, its request counter at n. */
static void counted_response(struct response *r, unsigned n)
{
    char counter[16];
    snprintf(counter, sizeof(counter), "%u", n);
    *r = (struct response){0};
    add(r, ":status", "200", NGHTTP2_NV_FLAG_NONE);
    add(r, "server", "demo", NGHTTP2_NV_FLAG_NONE);
    add(r, "x-connection-requests", counter, NGHTTP2_NV_FLAG_NONE);
    add(r, "content-type", "application/json", NGHTTP2_NV_FLAG_NONE);
}

static void test_repeated_fields_stay_indexed(void **state)
{
    (void)state;
    struct sl_indexing_memory m;
    sl_indexing_init(&m);
    for (int round = 0; round < 5; round++) {
        struct response r = {0};
        add(&r, "server", "demo", NGHTTP2_NV_FLAG_NONE);
        add(&r, "content-type", "application/json", NGHTTP2_NV_FLAG_NONE);
        sl_indexing_choose(&m, r.fields, r.count);
        assert_false(is_unindexed(&r, 0));
        assert_false(is_unindexed(&r, 1));
    }
}

static void test_a_counter_is_unindexed_from_its_second_value(void **state)
{
    (void)state;
    struct sl_indexing_memory m;
    sl_indexing_init(&m);
    /* 1..2000: values of one to four digits, each next to the one before */
    for (unsigned n = 1; n <= 2000; n++) {
        struct response r;
        counted_response(&r, n);
        sl_indexing_choose(&m, r.fields, r.count);
        assert_int_equal(is_unindexed(&r, 2), n > 1);
        assert_false(is_unindexed(&r, 0));
        assert_false(is_unindexed(&r, 1));
        assert_false(is_unindexed(&r, 3));
    }
}

/* Values of 1 to 23 bytes that differ in one byte only, wherever it is: the
 * hash reads words, the last overlapping the one before. */
static void test_a_change_in_any_byte_is_seen(void **state)
{
    (void)state;
    for (size_t len = 1; len < 24; len++) {
        for (size_t at = 0; at < len; at++) {
            struct sl_indexing_memory m;
            sl_indexing_init(&m);
            char value[32];
            memset(value, 'a', len);
            value[len] = '\0';
            const char bytes[] = "abcc";
            for (int round = 0; round < 4; round++) {
                value[at] = bytes[round];
                struct response r = {0};
                add(&r, "x-id", value, NGHTTP2_NV_FLAG_NONE);
                sl_indexing_choose(&m, r.fields, r.count);
                /* new, new again (changing), then the same */
                assert_int_equal(is_unindexed(&r, 0), round == 1 || round == 2);
            }
        }
    }
}

/* date: the same value for many responses, then a new one */
static void test_a_value_that_changes_now_and_then_is_indexed_at_each_change(void **state)
{
    (void)state;
    struct sl_indexing_memory m;
    sl_indexing_init(&m);
    const char *dates[] = {"Mon, 07 Dec 2026 17:00:00 GMT", "Mon, 07 Dec 2026 17:00:01 GMT",
                           "Mon, 07 Dec 2026 17:00:02 GMT"};
    for (size_t d = 0; d < 3; d++) {
        for (int repeat = 0; repeat < 4; repeat++) {
            struct response r = {0};
            add(&r, "date", dates[d], NGHTTP2_NV_FLAG_NONE);
            sl_indexing_choose(&m, r.fields, r.count);
            assert_false(is_unindexed(&r, 0));
        }
    }
}

static void test_a_changing_name_that_settles_is_indexed_again(void **state)
{
    (void)state;
    struct sl_indexing_memory m;
    sl_indexing_init(&m);
    const char *values[] = {"a", "b", "c", "c", "c", "d", "d"};
    const bool unindexed[] = {false, true, true, false, false, false, false};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct response r = {0};
        add(&r, "x-shard", values[i], NGHTTP2_NV_FLAG_NONE);
        sl_indexing_choose(&m, r.fields, r.count);
        assert_int_equal(is_unindexed(&r, 0), unindexed[i]);
    }
}

/* Pseudo-fields and never-indexed fields take no name of the memory: with
 * them, SL_INDEXING_NAMES other names still fit. */
static void test_names_beyond_the_memory_are_never_indexed(void **state)
{
    (void)state;
    struct sl_indexing_memory m;
    sl_indexing_init(&m);
    static char names[SL_INDEXING_NAMES + 1][16];
    for (int round = 0; round < 2; round++) {
        struct response r = {0};
        add(&r, ":status", "200", NGHTTP2_NV_FLAG_NONE);
        add(&r, "set-cookie", round ? "b=2" : "a=1", NGHTTP2_NV_FLAG_NO_INDEX);
        for (size_t i = 0; i <= SL_INDEXING_NAMES; i++) {
            snprintf(names[i], sizeof(names[i]), "x-name-%zu", i);
            add(&r, names[i], "same", NGHTTP2_NV_FLAG_NONE);
        }
        sl_indexing_choose(&m, r.fields, r.count);
        assert_false(is_unindexed(&r, 0));
        assert_true(is_unindexed(&r, 1)); /* kept, not cleared */
        for (size_t i = 0; i < SL_INDEXING_NAMES; i++)
            assert_false(is_unindexed(&r, 2 + i));
        assert_true(is_unindexed(&r, 2 + SL_INDEXING_NAMES));
    }
}

static void test_each_connection_has_its_own_memory(void **state)
{
    (void)state;
    struct sl_indexing_memory one, two;
    sl_indexing_init(&one);
    sl_indexing_init(&two);
    for (unsigned n = 1; n <= 3; n++) {
        struct response r;
        counted_response(&r, n);
        sl_indexing_choose(&one, r.fields, r.count);
    }
    struct response r;
    counted_response(&r, 4);
    sl_indexing_choose(&two, r.fields, r.count);
    assert_false(is_unindexed(&r, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeated_fields_stay_indexed),
        cmocka_unit_test(test_a_counter_is_unindexed_from_its_second_value),
        cmocka_unit_test(test_a_change_in_any_byte_is_seen),
        cmocka_unit_test(test_a_value_that_changes_now_and_then_is_indexed_at_each_change),
        cmocka_unit_test(test_a_changing_name_that_settles_is_indexed_again),
        cmocka_unit_test(test_names_beyond_the_memory_are_never_indexed),
        cmocka_unit_test(test_each_connection_has_its_own_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
