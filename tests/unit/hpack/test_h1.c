/* hpack/h1.c: reading a request head with the checks that stop request
 * smuggling, one case per payload a smuggler would send, next to the heads
 * that must pass; what a head that passes is read as; the framing checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "h1.h"
#include "headers.h"

static int ignore_field(void *ctx, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    return 0;
}

/* The whole reading of a head, as the HTTP/1.1 front does it. */
static int read_head(const char *head, size_t len)
{
    struct sl_h1_request_line line;
    size_t fields = sl_h1_read_request_line(head, len, &line);
    if (fields == 0)
        return SL_EINVALID;
    return sl_h1_read_fields(head, len, fields, ignore_field, NULL);
}

static int check(const char *head)
{
    return read_head(head, strlen(head));
}

static void test_good_heads_pass(void **state)
{
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(check("GET / HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(check("POST /bid?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                           "X-Empty:\r\nX-Tab: a\tb\r\nX-Obs: caf\xc3\xa9\r\n\r\n"),
                     0);
    assert_int_equal(check("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(check("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}

static void test_request_line_oddities_fail(void **state)
{
    assert_int_equal(check("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET /\r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / http/1.1\r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("\r\n\r\n"), SL_EINVALID);
}

static void test_bare_cr_lf_and_nul_fail(void **state)
{
    assert_int_equal(check("GET / HTTP/1.1\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: a\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: a\r\n\n"), SL_EINVALID);
    const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\nHost: a\r\n\r\n";
    assert_int_equal(read_head(nul, sizeof(nul) - 1), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n"), SL_EINVALID);
}

static void test_obs_fold_and_bad_names_fail(void **state)
{
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\n: a\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nNo colon\r\n\r\n"), SL_EINVALID);
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: a\r\n"), SL_EINVALID); /* no end */
}

static int framing(const char *const *fields, bool is_http10)
{
    struct sl_h1_framing f = {0};
    for (size_t i = 0; fields[i] != NULL; i += 2)
        sl_h1_framing_note(&f, fields[i], strlen(fields[i]), fields[i + 1], strlen(fields[i + 1]));
    return sl_h1_framing_check(&f, is_http10);
}

/* Collects "name=value|" per field. */
static int collect_field(void *ctx, const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    char *out = ctx;
    size_t at = strlen(out);
    assert_true(at + name_len + value_len + 3 < 256);
    memcpy(out + at, name, name_len);
    out[at + name_len] = '=';
    memcpy(out + at + name_len + 1, value, value_len);
    strcpy(out + at + name_len + 1 + value_len, "|");
    return 0;
}

static void test_request_line_and_fields_are_read(void **state)
{
    const char *head = "POST /bid?x=1 HTTP/1.0\r\nHost: a\r\nX-Trim: \t b c \t\r\n"
                       "X-Empty:\r\nHost: a\r\n\r\n";
    size_t len = strlen(head);
    struct sl_h1_request_line line;
    size_t fields = sl_h1_read_request_line(head, len, &line);
    assert_int_equal(fields, strlen("POST /bid?x=1 HTTP/1.0\r\n"));
    assert_int_equal(line.method_len, 4);
    assert_memory_equal(line.method, "POST", 4);
    assert_int_equal(line.target_len, 8);
    assert_memory_equal(line.target, "/bid?x=1", 8);
    assert_true(line.is_http10);
    char seen[256] = "";
    assert_int_equal(sl_h1_read_fields(head, len, fields, collect_field, seen), 0);
    assert_string_equal(seen, "Host=a|X-Trim=b c|X-Empty=|Host=a|");
    assert_int_not_equal(sl_h1_read_request_line("GET / HTTP/1.1\r\n\r\n", 18, &line), 0);
    assert_false(line.is_http10);
}

/* Values are passed a word at a time: a control byte anywhere in one of
 * any length is still found, and HTAB and obs-text anywhere still pass. */
static void test_values_of_every_length_are_checked_to_their_last_byte(void **state)
{
    char head[96];
    for (size_t len = 1; len < 40; len++) {
        for (size_t at = 0; at < len; at++) {
            char value[48];
            memset(value, 'v', len);
            value[len] = '\0';
            value[at] = '\x01';
            snprintf(head, sizeof(head), "X-V: %s\r\n\r\n", value);
            assert_int_equal(sl_h1_read_fields(head, strlen(head), 0, ignore_field, NULL),
                             SL_EINVALID);
            value[at] = at % 2 ? '\t' : '\xe9';
            if (at == 0 || at == len - 1)
                value[at] = 'x'; /* HTAB at an end is trimmed, not part of the value */
            snprintf(head, sizeof(head), "X-V: %s\r\n\r\n", value);
            char seen[256] = "";
            assert_int_equal(sl_h1_read_fields(head, strlen(head), 0, collect_field, seen), 0);
            assert_int_equal(strlen(seen), strlen("X-V=|") + len);
        }
    }
}

static int stop_reading(void *ctx, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    return -5;
}

static void test_a_field_callback_stops_the_reading(void **state)
{
    const char *head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(sl_h1_read_fields(head, strlen(head), 16, stop_reading, NULL), -5);
}

/* Handed bytes that do not end a head, the reader refuses them rather than
 * scanning past their end. */
static void test_fields_without_the_final_crlf_are_refused(void **state)
{
    const char text[] = "Host: a\r\nX: b";
    assert_int_equal(sl_h1_read_fields(text, sizeof(text) - 1, 0, ignore_field, NULL), SL_EINVALID);
    assert_int_equal(sl_h1_read_fields("\r\n", 2, 0, ignore_field, NULL), 0);
    assert_int_equal(sl_h1_read_fields("\r\n", 2, 1, ignore_field, NULL), SL_EINVALID);
    assert_int_equal(sl_h1_read_fields("", 0, 0, ignore_field, NULL), SL_EINVALID);
}

static void note(struct sl_h1_head_notes *n, const char *name, const char *value)
{
    sl_h1_note_field(n, name, strlen(name), value, strlen(value));
}

static void test_notes_of_length_and_connection(void **state)
{
    struct sl_h1_head_notes n = {0};
    note(&n, "Content-Length", "42");
    note(&n, "X-Other", "close");
    assert_true(n.is_length_read);
    assert_int_equal(n.length, 42);
    assert_int_equal(n.framing.content_length_count, 1);
    assert_true(sl_h1_keeps_alive(&n, false));
    assert_false(sl_h1_keeps_alive(&n, true));
    note(&n, "connection", "Upgrade, Keep-Alive");
    assert_true(sl_h1_keeps_alive(&n, true));
    note(&n, "CONNECTION", "close");
    assert_false(sl_h1_keeps_alive(&n, false));
    note(&n, "content-length", "18446744073709551616"); /* 2^64 */
    assert_false(n.is_length_read);
    assert_int_equal(n.framing.content_length_count, 2);
    note(&n, "Transfer-Encoding", "chunked");
    assert_int_equal(n.framing.transfer_encoding_count, 1);
}

static void test_framing(void **state)
{
    const char *none[] = {"Host", "a", NULL};
    const char *length[] = {"Content-Length", "12", NULL};
    const char *chunked[] = {"transfer-encoding", "Chunked", NULL};
    assert_int_equal(framing(none, false), 0);
    assert_int_equal(framing(length, false), 0);
    assert_int_equal(framing(length, true), 0);
    assert_int_equal(framing(chunked, false), 0);

    const char *both[] = {"Content-Length", "3", "Transfer-Encoding", "chunked", NULL};
    const char *two_lengths[] = {"Content-Length", "3", "content-length", "3", NULL};
    const char *bad_length[] = {"Content-Length", "3a", NULL};
    const char *signed_length[] = {"Content-Length", "+3", NULL};
    const char *empty_length[] = {"Content-Length", "", NULL};
    const char *gzip_chunked[] = {"Transfer-Encoding", "gzip, chunked", NULL};
    const char *chunked_gzip[] = {"Transfer-Encoding", "chunked, gzip", NULL};
    const char *two_te[] = {"Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL};
    const char *xchunked[] = {"Transfer-Encoding", "xchunked", NULL};
    assert_int_equal(framing(both, false), SL_EINVALID);
    assert_int_equal(framing(two_lengths, false), SL_EINVALID);
    assert_int_equal(framing(bad_length, false), SL_EINVALID);
    assert_int_equal(framing(signed_length, false), SL_EINVALID);
    assert_int_equal(framing(empty_length, false), SL_EINVALID);
    assert_int_equal(framing(gzip_chunked, false), SL_EINVALID);
    assert_int_equal(framing(chunked_gzip, false), SL_EINVALID);
    assert_int_equal(framing(two_te, false), SL_EINVALID);
    assert_int_equal(framing(xchunked, false), SL_EINVALID);
    assert_int_equal(framing(chunked, true), SL_EINVALID); /* HTTP/1.0 */
}

static void test_base64url(void **state)
{
    unsigned char out[18];
    size_t n;
    /* the HTTP2-Settings curl sends: MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE
     * 10485760, ENABLE_PUSH 0 */
    const unsigned char want[] = {0, 3, 0, 0, 0, 100, 0, 4, 0, 0xa0, 0, 0, 0, 2, 0, 0, 0, 0};
    assert_int_equal(sl_base64url_decode("AAMAAABkAAQAoAAAAAIAAAAA", 24, out, sizeof(out), &n), 0);
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(sl_base64url_decode("_-8", 3, out, sizeof(out), &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], 0xef);
    assert_int_equal(sl_base64url_decode("", 0, out, sizeof(out), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sl_base64url_decode("AAA=", 4, out, sizeof(out), &n), SL_EINVALID);
    assert_int_equal(sl_base64url_decode("AA+A", 4, out, sizeof(out), &n), SL_EINVALID);
    assert_int_equal(sl_base64url_decode("AAAAA", 5, out, sizeof(out), &n), SL_EINVALID);
    assert_int_equal(sl_base64url_decode("AAMAAABkAAQAoAAAAAIAAAAAAAAA", 28, out, sizeof(out), &n),
                     SL_EINVALID); /* 21 bytes do not fit in 18 */
}

static void test_reasons(void **state)
{
    assert_string_equal(sl_h1_reason(200), "OK");
    assert_string_equal(sl_h1_reason(503), "Service Unavailable");
    assert_string_equal(sl_h1_reason(299), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_heads_pass),
        cmocka_unit_test(test_request_line_oddities_fail),
        cmocka_unit_test(test_bare_cr_lf_and_nul_fail),
        cmocka_unit_test(test_obs_fold_and_bad_names_fail),
        cmocka_unit_test(test_request_line_and_fields_are_read),
        cmocka_unit_test(test_values_of_every_length_are_checked_to_their_last_byte),
        cmocka_unit_test(test_a_field_callback_stops_the_reading),
        cmocka_unit_test(test_fields_without_the_final_crlf_are_refused),
        cmocka_unit_test(test_notes_of_length_and_connection),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_base64url),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
