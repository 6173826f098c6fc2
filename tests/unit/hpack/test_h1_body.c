/* hpack/h1_body.c on the shapes a request body takes on the HTTP/1.1 front
 * (chunked bodies and their errors are read through h1_response too): what
 * is left of a length, where a body ends, and the end of the connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "h1.h"
#include "h1_body.h"
#include "headers.h"

struct taken {
    char bytes[256];
    size_t len;
};

static int take(void *ctx, const char *data, size_t len)
{
    struct taken *t = ctx;
    assert_true(len > 0 && t->len + len <= sizeof(t->bytes));
    memcpy(t->bytes + t->len, data, len);
    t->len += len;
    return 0;
}

static void test_a_length_counts_down_and_stops_at_its_end(void **state)
{
    struct sl_h1_body b;
    struct taken t = {0};
    sl_h1_body_init(&b, SL_H1_BODY_LENGTH, 10, 0);
    assert_int_equal(sl_h1_body_length_left(&b), 10);
    size_t used;
    assert_int_equal(sl_h1_body_read(&b, "0123", 4, &used, take, &t), 0);
    assert_int_equal(used, 4);
    assert_int_equal(sl_h1_body_length_left(&b), 6);
    assert_false(sl_h1_body_is_done(&b));
    assert_int_equal(sl_h1_body_read(&b, "456789GET /", 11, &used, take, &t), 1);
    assert_int_equal(used, 6);
    assert_true(sl_h1_body_is_done(&b));
    assert_int_equal(sl_h1_body_length_left(&b), 0);
    assert_memory_equal(t.bytes, "0123456789", 10);
    assert_int_equal(t.len, 10);
}

static void test_no_body_and_a_zero_length_are_done_at_once(void **state)
{
    struct sl_h1_body b;
    sl_h1_body_init(&b, SL_H1_BODY_NONE, 0, 0);
    assert_true(sl_h1_body_is_done(&b));
    sl_h1_body_init(&b, SL_H1_BODY_LENGTH, 0, 0);
    assert_true(sl_h1_body_is_done(&b));
    size_t used;
    struct taken t = {0};
    assert_int_equal(sl_h1_body_read(&b, "next", 4, &used, take, &t), 1);
    assert_int_equal(used, 0);
    assert_int_equal(t.len, 0);
}

static void test_the_close_ends_only_a_body_it_delimits(void **state)
{
    struct sl_h1_body b;
    sl_h1_body_init(&b, SL_H1_BODY_LENGTH, 3, 0);
    assert_int_equal(sl_h1_body_eof(&b), SL_EINVALID);
    assert_non_null(b.error);
    sl_h1_body_init(&b, SL_H1_BODY_UNTIL_CLOSE, 0, 0);
    assert_int_equal(sl_h1_body_length_left(&b), 0);
    assert_int_equal(sl_h1_body_eof(&b), 1);
    sl_h1_body_init(&b, SL_H1_BODY_CHUNKED, 0, 0);
    assert_int_equal(sl_h1_body_eof(&b), SL_EINVALID);
}

/* Every cut of a chunked body gives the same data and the same end. */
static void test_chunked_body_cut_anywhere(void **state)
{
    const char *body = "3\r\nabc\r\nA;x=1\r\n0123456789\r\n0\r\nT: v\r\n\r\nGET";
    size_t len = strlen(body) - 3;
    for (size_t cut = 0; cut <= len; cut++) {
        struct sl_h1_body b;
        struct taken t = {0};
        sl_h1_body_init(&b, SL_H1_BODY_CHUNKED, 0, 64);
        size_t first, second;
        assert_int_equal(sl_h1_body_read(&b, body, cut, &first, take, &t), cut == len ? 1 : 0);
        assert_int_equal(sl_h1_body_read(&b, body + cut, strlen(body) - cut, &second, take, &t), 1);
        assert_int_equal(first + second, len);
        assert_int_equal(t.len, 13);
        assert_memory_equal(t.bytes, "abc0123456789", 13);
    }
}

static int refuse(void *ctx, const char *data, size_t len)
{
    return -3;
}

static void test_a_refusing_receiver_spends_the_reader(void **state)
{
    struct sl_h1_body b;
    sl_h1_body_init(&b, SL_H1_BODY_LENGTH, 5, 0);
    size_t used;
    assert_int_equal(sl_h1_body_read(&b, "ab", 2, &used, refuse, NULL), -3);
    assert_int_equal(sl_h1_body_read(&b, "ab", 2, &used, refuse, NULL), SL_EINVALID);
}

static enum sl_h1_body_kind kind_of(const char *name, const char *value,
                                    enum sl_h1_body_kind unframed)
{
    struct sl_h1_head_notes n = {0};
    if (name != NULL)
        sl_h1_note_field(&n, name, strlen(name), value, strlen(value));
    enum sl_h1_body_kind kind = SL_H1_BODY_LENGTH + SL_H1_BODY_CHUNKED; /* neither: set or fail */
    assert_int_equal(sl_h1_body_kind_of(&n, unframed, &kind), 0);
    return kind;
}

static void test_the_fields_say_how_a_body_is_framed(void **state)
{
    assert_int_equal(kind_of("Transfer-Encoding", "chunked", SL_H1_BODY_NONE), SL_H1_BODY_CHUNKED);
    assert_int_equal(kind_of("Content-Length", "12", SL_H1_BODY_NONE), SL_H1_BODY_LENGTH);
    assert_int_equal(kind_of("Content-Length", "0", SL_H1_BODY_UNTIL_CLOSE), SL_H1_BODY_NONE);
    assert_int_equal(kind_of(NULL, NULL, SL_H1_BODY_NONE), SL_H1_BODY_NONE);
    assert_int_equal(kind_of("X-Other", "1", SL_H1_BODY_UNTIL_CLOSE), SL_H1_BODY_UNTIL_CLOSE);
    struct sl_h1_head_notes n = {0};
    sl_h1_note_field(&n, "content-length", 14, "18446744073709551616", 20);
    enum sl_h1_body_kind kind;
    assert_int_equal(sl_h1_body_kind_of(&n, SL_H1_BODY_NONE, &kind), SL_EINVALID);
}

/* The trailers' budget is spent by their bytes, CRLFs aside. */
static void test_trailers_stop_at_their_budget(void **state)
{
    const char *body = "0\r\nX: 12\r\n\r\n"; /* 5 trailer bytes */
    for (size_t budget = 4; budget <= 5; budget++) {
        struct sl_h1_body b;
        struct taken t = {0};
        sl_h1_body_init(&b, SL_H1_BODY_CHUNKED, 0, budget);
        size_t used;
        int rc = sl_h1_body_read(&b, body, strlen(body), &used, take, &t);
        assert_int_equal(rc, budget == 5 ? 1 : SL_ETOOBIG);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_length_counts_down_and_stops_at_its_end),
        cmocka_unit_test(test_no_body_and_a_zero_length_are_done_at_once),
        cmocka_unit_test(test_the_close_ends_only_a_body_it_delimits),
        cmocka_unit_test(test_chunked_body_cut_anywhere),
        cmocka_unit_test(test_a_refusing_receiver_spends_the_reader),
        cmocka_unit_test(test_the_fields_say_how_a_body_is_framed),
        cmocka_unit_test(test_trailers_stop_at_their_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
