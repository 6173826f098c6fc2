/* hpack/h1.c: the request-head and framing checks that stop request smuggling,
 * one case per payload a smuggler would send, next to the heads that must pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "h1.h"
#include "headers.h"

static int check(const char *head)
{
    return sl_h1_check_request_head(head, strlen(head));
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
    assert_int_equal(sl_h1_check_request_head(nul, sizeof(nul) - 1), SL_EINVALID);
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
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_base64url),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
