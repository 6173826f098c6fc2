/* The bump allocator behind header lists and configs. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"

static int setup(void **state)
{
    /* the smallest chunk, so that a few allocations already need a second one */
    struct sl_arena *arena = sl_arena_new(256);
    if (arena == NULL)
        return -1;
    *state = arena;
    return 0;
}

static int teardown(void **state)
{
    sl_arena_free(*state);
    return 0;
}

static bool is_aligned(const void *p)
{
    return (uintptr_t)p % alignof(max_align_t) == 0;
}

static void assert_filled(const unsigned char *p, size_t len, unsigned char byte)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != byte)
            fail_msg("byte %zu is 0x%02x, expected 0x%02x", i, p[i], byte);
    }
}

static void test_alloc_is_aligned_for_any_type(void **state)
{
    struct sl_arena *arena = *state;
    static const size_t sizes[] = {1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 31, 33, 100, 255, 256, 1000};
    unsigned char *blocks[sizeof(sizes) / sizeof(sizes[0])];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        blocks[i] = sl_arena_alloc(arena, sizes[i]);
        assert_non_null(blocks[i]);
        assert_true(is_aligned(blocks[i]));
        memset(blocks[i], (int)i, sizes[i]);
    }
    /* no block overlaps another */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        assert_filled(blocks[i], sizes[i], (unsigned char)i);
}

static void test_growth_keeps_earlier_blocks(void **state)
{
    struct sl_arena *arena = *state;
    enum { BLOCKS = 1000, BLOCK_BYTES = 40 };
    unsigned char *blocks[BLOCKS];
    for (size_t i = 0; i < BLOCKS; i++) {
        blocks[i] = sl_arena_alloc(arena, BLOCK_BYTES);
        assert_non_null(blocks[i]);
        memset(blocks[i], (int)(i & 0xff), BLOCK_BYTES);
    }
    for (size_t i = 0; i < BLOCKS; i++)
        assert_filled(blocks[i], BLOCK_BYTES, (unsigned char)(i & 0xff));
}

static void test_large_alloc_beyond_a_chunk(void **state)
{
    struct sl_arena *arena = *state;
    unsigned char *small = sl_arena_alloc(arena, 10);
    assert_non_null(small);
    memset(small, 's', 10);

    const size_t large_bytes = 1024 * 1024;
    unsigned char *large = sl_arena_alloc(arena, large_bytes);
    assert_non_null(large);
    assert_true(is_aligned(large));
    memset(large, 'L', large_bytes);

    unsigned char *after = sl_arena_alloc(arena, 10);
    assert_non_null(after);
    memset(after, 'a', 10);

    unsigned char *second_large = sl_arena_alloc(arena, 3000);
    assert_non_null(second_large);
    memset(second_large, 'M', 3000);

    assert_filled(small, 10, 's');
    assert_filled(large, large_bytes, 'L');
    assert_filled(after, 10, 'a');
    assert_filled(second_large, 3000, 'M');
    assert_int_equal(sl_arena_used(arena), 10 + large_bytes + 10 + 3000);
}

static void test_reset_reuses_the_first_chunk(void **state)
{
    struct sl_arena *arena = *state;
    void *first = sl_arena_alloc(arena, 16);
    assert_non_null(first);
    for (int round = 0; round < 50; round++) {
        assert_non_null(sl_arena_alloc(arena, 200));
        assert_non_null(sl_arena_alloc(arena, 5000));
        assert_non_null(sl_arena_alloc(arena, 100));
        sl_arena_reset(arena);
        assert_int_equal(sl_arena_used(arena), 0);
        void *again = sl_arena_alloc(arena, 16);
        assert_ptr_equal(again, first);
    }
}

static void test_reset_then_grow_again(void **state)
{
    struct sl_arena *arena = *state;
    for (int round = 0; round < 20; round++) {
        unsigned char *blocks[64];
        for (size_t i = 0; i < 64; i++) {
            blocks[i] = sl_arena_alloc(arena, 100 + i * 10);
            assert_non_null(blocks[i]);
            memset(blocks[i], (int)i, 100 + i * 10);
        }
        for (size_t i = 0; i < 64; i++)
            assert_filled(blocks[i], 100 + i * 10, (unsigned char)i);
        sl_arena_reset(arena);
    }
}

static void test_reset_of_an_unused_arena(void **state)
{
    struct sl_arena *arena = *state;
    sl_arena_reset(arena);
    sl_arena_reset(arena);
    assert_int_equal(sl_arena_used(arena), 0);
    assert_non_null(sl_arena_alloc(arena, 8));
}

static void test_strndup_copies_len_bytes_and_terminates(void **state)
{
    struct sl_arena *arena = *state;
    char source[] = "content-type: text/plain";
    char *copy = sl_arena_strndup(arena, source, 12);
    assert_non_null(copy);
    assert_string_equal(copy, "content-type");
    assert_ptr_not_equal(copy, source);
    source[0] = 'X';
    assert_string_equal(copy, "content-type");
}

static void test_strndup_of_empty_and_embedded_nul(void **state)
{
    struct sl_arena *arena = *state;
    char *empty = sl_arena_strndup(arena, "ignored", 0);
    assert_non_null(empty);
    assert_string_equal(empty, "");

    char *binary = sl_arena_strndup(arena, "a\0b", 3);
    assert_non_null(binary);
    assert_memory_equal(binary, "a\0b", 4);
}

static void test_strndup_larger_than_a_chunk(void **state)
{
    struct sl_arena *arena = *state;
    char source[4000];
    memset(source, 'q', sizeof(source));
    char *copy = sl_arena_strndup(arena, source, sizeof(source));
    assert_non_null(copy);
    assert_filled((unsigned char *)copy, sizeof(source), 'q');
    assert_int_equal(copy[sizeof(source)], '\0');
}

static void test_used_counts_requested_bytes(void **state)
{
    struct sl_arena *arena = *state;
    assert_int_equal(sl_arena_used(arena), 0);
    assert_non_null(sl_arena_alloc(arena, 1));
    assert_int_equal(sl_arena_used(arena), 1);
    assert_non_null(sl_arena_alloc(arena, 10));
    assert_int_equal(sl_arena_used(arena), 11);
    assert_non_null(sl_arena_strndup(arena, "abc", 3));
    assert_int_equal(sl_arena_used(arena), 15);
    assert_non_null(sl_arena_alloc(arena, 5000));
    assert_int_equal(sl_arena_used(arena), 5015);
    sl_arena_reset(arena);
    assert_int_equal(sl_arena_used(arena), 0);
    assert_non_null(sl_arena_alloc(arena, 7));
    assert_int_equal(sl_arena_used(arena), 7);
}

static void test_tiny_chunk_size_still_works(void **state)
{
    (void)state;
    struct sl_arena *arena = sl_arena_new(0);
    assert_non_null(arena);
    unsigned char *p = sl_arena_alloc(arena, 1000);
    assert_non_null(p);
    memset(p, 'z', 1000);
    char *s = sl_arena_strndup(arena, "host", 4);
    assert_string_equal(s, "host");
    assert_filled(p, 1000, 'z');
    sl_arena_free(arena);
}

static void test_free_accepts_null(void **state)
{
    (void)state;
    sl_arena_free(NULL);
}

/* Sizes within a chunk header of SIZE_MAX must fail rather than wrap around in
 * the size arithmetic. None of them may reach malloc, so ASan's abort on huge
 * requests does not apply. */
static void test_impossible_size_fails_and_arena_stays_usable(void **state)
{
    struct sl_arena *arena = *state;
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 16};
    assert_non_null(sl_arena_alloc(arena, 5));
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        assert_null(sl_arena_alloc(arena, sizes[i]));
    assert_int_equal(sl_arena_used(arena), 5);
    char *s = sl_arena_strndup(arena, "still", 5);
    assert_string_equal(s, "still");
    assert_int_equal(sl_arena_used(arena), 11);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_alloc_is_aligned_for_any_type),
        T(test_growth_keeps_earlier_blocks),
        T(test_large_alloc_beyond_a_chunk),
        T(test_reset_reuses_the_first_chunk),
        T(test_reset_then_grow_again),
        T(test_reset_of_an_unused_arena),
        T(test_strndup_copies_len_bytes_and_terminates),
        T(test_strndup_of_empty_and_embedded_nul),
        T(test_strndup_larger_than_a_chunk),
        T(test_used_counts_requested_bytes),
        T(test_tiny_chunk_size_still_works),
        T(test_free_accepts_null),
        T(test_impossible_size_fails_and_arena_stays_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
