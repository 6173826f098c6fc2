/* Header lists and HTTP/2 ↔ HTTP/1.1 translation. Expected heads are written out
 * by hand; none is produced by the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "copy.h"
#include "headers.h"

struct fixture {
    struct sl_arena *arena;
    struct sl_header_list list;
};

static const struct sl_forward_info https_client = {.client_addr = "192.0.2.7", .scheme = "https"};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    /* the smallest chunk, so that most tests also cross chunk boundaries */
    f->arena = sl_arena_new(256);
    if (f->arena == NULL) {
        free(f);
        return -1;
    }
    sl_header_list_init(&f->list, f->arena);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_arena_free(f->arena);
    free(f);
    return 0;
}

static void add(struct sl_header_list *list, const char *name, const char *value)
{
    assert_int_equal(sl_header_list_add(list, name, strlen(name), value, strlen(value), 0), 0);
}

static void add_pseudo(struct sl_header_list *list, const char *method, const char *path)
{
    add(list, ":method", method);
    add(list, ":scheme", "https");
    add(list, ":authority", "example.com");
    add(list, ":path", path);
}

static void assert_head(struct fixture *f, bool has_body, const char *expected,
                        bool expected_chunked)
{
    char *out = NULL;
    size_t len = 0;
    bool is_chunked = !expected_chunked;
    int rc =
        sl_h1_request_head(&f->list, &https_client, has_body, f->arena, &out, &len, &is_chunked);
    assert_int_equal(rc, 0);
    assert_non_null(out);
    assert_string_equal(out, expected);
    assert_int_equal(len, strlen(expected));
    assert_int_equal(is_chunked, expected_chunked);
}

static void assert_head_invalid_with(struct fixture *f, const struct sl_forward_info *fwd)
{
    char *out = NULL;
    size_t len = 0;
    bool is_chunked = false;
    int rc = sl_h1_request_head(&f->list, fwd, false, f->arena, &out, &len, &is_chunked);
    assert_int_equal(rc, SL_EINVALID);
    assert_null(out);
    assert_int_equal(len, 0);
}

static void assert_head_invalid(struct fixture *f)
{
    assert_head_invalid_with(f, &https_client);
}

static void assert_nv(const nghttp2_nv *nv, const char *name, const char *value, uint8_t flags)
{
    assert_int_equal(nv->namelen, strlen(name));
    assert_memory_equal(nv->name, name, nv->namelen);
    assert_int_equal(nv->name[nv->namelen], '\0');
    assert_int_equal(nv->valuelen, strlen(value));
    assert_memory_equal(nv->value, value, nv->valuelen);
    assert_int_equal(nv->value[nv->valuelen], '\0');
    assert_int_equal(nv->flags, flags);
}

/* ---- the list ---- */

static void test_list_add_copies_and_counts_bytes(void **state)
{
    struct fixture *f = *state;
    char name[] = "x-id";
    char value[] = "12345";
    assert_int_equal(sl_header_list_add(&f->list, name, 4, value, 5, NGHTTP2_NV_FLAG_NO_INDEX), 0);
    add(&f->list, "accept", "*/*");
    name[0] = 'Z';
    value[0] = 'Z';
    assert_int_equal(f->list.count, 2);
    assert_nv(&f->list.items[0], "x-id", "12345", NGHTTP2_NV_FLAG_NO_INDEX);
    assert_nv(&f->list.items[1], "accept", "*/*", NGHTTP2_NV_FLAG_NONE);
    assert_int_equal(f->list.total_bytes, (4 + 5 + 32) + (6 + 3 + 32));
}

static void test_list_add_takes_only_given_lengths(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sl_header_list_add(&f->list, "hostname", 4, "example.org", 7, 0), 0);
    assert_nv(&f->list.items[0], "host", "example", 0);
}

static void test_list_grows_beyond_initial_capacity(void **state)
{
    struct fixture *f = *state;
    char name[32];
    char value[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "x-h%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        add(&f->list, name, value);
    }
    assert_int_equal(f->list.count, 300);
    assert_true(f->list.capacity >= 300);
    assert_nv(&f->list.items[0], "x-h0", "v0", 0);
    assert_nv(&f->list.items[16], "x-h16", "v16", 0);
    assert_nv(&f->list.items[299], "x-h299", "v299", 0);
}

static void test_list_lowercased_field_keeps_its_value(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sl_header_list_add_lowercased(&f->list, "Content-TYPE", 12, "Text/Plain", 10),
                     0);
    assert_int_equal(sl_header_list_add_lowercased(&f->list, "X-Empty", 7, "", 0), 0);
    assert_nv(&f->list.items[0], "content-type", "Text/Plain", 0);
    assert_nv(&f->list.items[1], "x-empty", "", 0);
    assert_int_equal(f->list.total_bytes, (12 + 10 + 32) + (7 + 0 + 32));
    assert_false(f->list.may_have_uppercase);
}

/* Every byte value at every offset of a long name: only A-Z change. */
static void test_list_name_lowercases_every_byte_and_only_letters(void **state)
{
    struct fixture *f = *state;
    char name[255];
    for (size_t shift = 0; shift < 8; shift++) {
        sl_header_list_init(&f->list, f->arena);
        for (size_t i = 0; i < sizeof(name); i++)
            name[i] = (char)(1 + (i + shift) % 255);
        assert_int_equal(sl_header_list_add_lowercased(&f->list, name, sizeof(name), "", 0), 0);
        const uint8_t *stored = f->list.items[0].name;
        for (size_t i = 0; i < sizeof(name); i++) {
            unsigned char c = (unsigned char)name[i];
            unsigned char want = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
            assert_int_equal(stored[i], want);
        }
    }
}

/* Names of every length up to three words: the last eight bytes overlap the
 * word before, and what follows the name is left alone. */
static void test_list_name_of_any_length_is_lowercased_whole(void **state)
{
    struct fixture *f = *state;
    const char *mixed = "Ab@Z[`zA-{_~Y9Xq@Gk`W0[aQZ";
    for (size_t len = 1; len <= 24; len++) {
        sl_header_list_init(&f->list, f->arena);
        assert_int_equal(sl_header_list_add_lowercased(&f->list, mixed, len, "v", 1), 0);
        const nghttp2_nv *nv = &f->list.items[0];
        assert_int_equal(nv->namelen, len);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)mixed[i];
            assert_int_equal(nv->name[i], c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        assert_int_equal(nv->name[len], '\0');
        assert_string_equal((const char *)nv->value, "v");
    }
}

static void test_list_find_ignores_case(void **state)
{
    struct fixture *f = *state;
    add(&f->list, "Content-Type", "text/html");
    add(&f->list, "host", "a.example");
    add(&f->list, "HOST", "b.example");
    const nghttp2_nv *nv = sl_header_list_find(&f->list, "content-type");
    assert_non_null(nv);
    assert_nv(nv, "Content-Type", "text/html", 0);
    nv = sl_header_list_find(&f->list, "Host");
    assert_ptr_equal(nv, &f->list.items[1]);
    assert_null(sl_header_list_find(&f->list, "hos"));
    assert_null(sl_header_list_find(&f->list, "hostx"));
    assert_null(sl_header_list_find(&f->list, "accept"));
}

static void test_list_remove_keeps_the_others_in_order(void **state)
{
    struct fixture *f = *state;
    add(&f->list, "a", "1");
    add(&f->list, "X-Budget", "50");
    add(&f->list, "b", "2");
    add(&f->list, "x-budget", "60");
    size_t before = f->list.total_bytes;
    assert_int_equal(sl_header_list_remove(&f->list, "x-budget"), 2);
    assert_int_equal(f->list.count, 2);
    assert_nv(&f->list.items[0], "a", "1", 0);
    assert_nv(&f->list.items[1], "b", "2", 0);
    assert_int_equal(f->list.total_bytes, before - 2 * (8 + 2 + 32));
    assert_int_equal(sl_header_list_remove(&f->list, "x-budget"), 0);
}

/* ---- HTTP/2 request → HTTP/1.1 head ---- */

static void test_request_minimal_get(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/index.html?q=1");
    assert_head(f, false,
                "GET /index.html?q=1 HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

/* The head is written into space guessed from the list's byte count; a
 * count that understates the fields (here set to none) makes the writer run
 * again into space of the length it counted, with the same result. */
static void test_request_head_longer_than_its_guess_is_written_whole(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "POST", "/bid");
    add(&f->list, "cookie", "a=1");
    add(&f->list, "x-forwarded-for", "198.51.100.1");
    add(&f->list, "cookie", "b=2");
    add(&f->list, "user-agent", "exchange-client/1.0 (a long product token for the guess)");
    add(&f->list, "content-type", "application/json");
    char *first, *second;
    size_t first_len, second_len;
    bool is_chunked;
    assert_int_equal(sl_h1_request_head(&f->list, &https_client, true, f->arena, &first, &first_len,
                                        &is_chunked),
                     0);
    assert_true(first_len > 128 + strlen("192.0.2.7") + strlen("https"));
    f->list.total_bytes = 0;
    assert_int_equal(sl_h1_request_head(&f->list, &https_client, true, f->arena, &second,
                                        &second_len, &is_chunked),
                     0);
    assert_int_equal(second_len, first_len);
    assert_string_equal(second, first);
    assert_true(strstr(first, "Cookie: a=1; b=2\r\n") != NULL);
    assert_true(strstr(first, "X-Forwarded-For: 198.51.100.1, 192.0.2.7\r\n") != NULL);
    assert_true(strstr(first, "Transfer-Encoding: chunked\r\n\r\n") != NULL);
}

static void test_request_forwards_fields_in_order_as_received(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "accept", "application/json");
    add(&f->list, "user-agent", "exchange/1.0");
    add(&f->list, "x-openrtb-version", "2.5");
    add(&f->list, "X-Mixed-Case", "Kept As Is");
    add(&f->list, "x-empty", "");
    assert_head(f, false,
                "GET / HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "accept: application/json\r\n"
                "user-agent: exchange/1.0\r\n"
                "x-openrtb-version: 2.5\r\n"
                "X-Mixed-Case: Kept As Is\r\n"
                "x-empty: \r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_drops_hop_by_hop(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "keep-alive", "timeout=5");
    add(&f->list, "accept", "*/*");
    add(&f->list, "proxy-connection", "keep-alive");
    add(&f->list, "transfer-encoding", "chunked");
    add(&f->list, "upgrade", "websocket");
    add(&f->list, "te", "trailers");
    add(&f->list, "http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA");
    add(&f->list, "expect", "100-continue");
    add(&f->list, "connection", "keep-alive");
    add(&f->list, "Keep-Alive", "max=3");
    add(&f->list, "TE", "gzip");
    assert_head(f, false,
                "GET / HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "accept: */*\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_drops_names_listed_in_connection(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "x-before", "listed later, still dropped");
    add(&f->list, "connection", "close, X-Foo ,x-bar,\t x-baz\t,, ");
    add(&f->list, "x-foo", "1");
    add(&f->list, "x-bar", "2");
    add(&f->list, "x-kept", "3");
    add(&f->list, "connection", "x-before");
    add(&f->list, "x-baz", "4");
    add(&f->list, "x-ba", "prefix of a listed name");
    add(&f->list, "x-bazz", "extension of a listed name");
    assert_head(f, false,
                "GET / HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "x-kept: 3\r\n"
                "x-ba: prefix of a listed name\r\n"
                "x-bazz: extension of a listed name\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_joins_cookie_crumbs(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "cookie", "a=1");
    add(&f->list, "accept", "*/*");
    add(&f->list, "cookie", "b=2");
    add(&f->list, "cookie", "");
    add(&f->list, "cookie", "c=3; d=4");
    assert_head(f, false,
                "GET / HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "accept: */*\r\n"
                "Cookie: a=1; b=2; c=3; d=4\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_single_cookie(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "cookie", "session=abc");
    assert_head(f, false,
                "GET / HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "Cookie: session=abc\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_appends_client_to_one_xff(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "x-forwarded-for", "203.0.113.9");
    assert_head(f, false,
                "GET / HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "X-Forwarded-For: 203.0.113.9, 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_joins_several_xff_then_client(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "x-forwarded-for", "203.0.113.9, 198.51.100.1");
    add(&f->list, "accept", "*/*");
    add(&f->list, "X-Forwarded-For", "2001:db8::1");
    assert_head(f, false,
                "GET / HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "accept: */*\r\n"
                "X-Forwarded-For: 203.0.113.9, 198.51.100.1, 2001:db8::1, 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_replaces_xfp(void **state)
{
    struct fixture *f = *state;
    static const struct sl_forward_info plain = {.client_addr = "unix", .scheme = "http"};
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "x-forwarded-proto", "https");
    add(&f->list, "X-Forwarded-Proto", "ftp");
    char *out = NULL;
    size_t len = 0;
    bool is_chunked = true;
    assert_int_equal(sl_h1_request_head(&f->list, &plain, false, f->arena, &out, &len, &is_chunked),
                     0);
    assert_string_equal(out, "GET / HTTP/1.1\r\n"
                             "Host: example.com\r\n"
                             "X-Forwarded-For: unix\r\n"
                             "X-Forwarded-Proto: http\r\n"
                             "\r\n");
    assert_int_equal(len, strlen(out));
    assert_false(is_chunked);
}

static void test_request_body_without_length_is_chunked(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "POST", "/bid");
    add(&f->list, "content-type", "application/json");
    assert_head(f, true,
                "POST /bid HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "content-type: application/json\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "Transfer-Encoding: chunked\r\n"
                "\r\n",
                true);
}

static void test_request_body_with_length_keeps_it(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "POST", "/bid");
    add(&f->list, "content-length", "1234");
    add(&f->list, "content-type", "application/json");
    assert_head(f, true,
                "POST /bid HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "content-length: 1234\r\n"
                "content-type: application/json\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_no_body_is_not_chunked(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "DELETE", "/item/7");
    assert_head(f, false,
                "DELETE /item/7 HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_received_te_chunked_is_replaced(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "POST", "/bid");
    add(&f->list, "transfer-encoding", "gzip, chunked");
    assert_head(f, true,
                "POST /bid HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "Transfer-Encoding: chunked\r\n"
                "\r\n",
                true);
}

static void test_request_length_listed_in_connection_means_chunked(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "POST", "/bid");
    add(&f->list, "connection", "content-length");
    add(&f->list, "content-length", "10");
    assert_head(f, true,
                "POST /bid HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "Transfer-Encoding: chunked\r\n"
                "\r\n",
                true);
}

static void test_request_authority_wins_over_host(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "host", "other.example");
    add(&f->list, "accept", "*/*");
    assert_head(f, false,
                "GET / HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "accept: */*\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_host_without_authority(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":scheme", "http");
    add(&f->list, ":path", "/health");
    add(&f->list, "accept", "*/*");
    add(&f->list, "host", "backend.internal:8080");
    assert_head(f, false,
                "GET /health HTTP/1.1\r\n"
                "Host: backend.internal:8080\r\n"
                "accept: */*\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_without_authority_or_host_is_invalid(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":scheme", "https");
    add(&f->list, ":path", "/");
    add(&f->list, "accept", "*/*");
    assert_head_invalid(f);
}

static void test_request_two_hosts_without_authority_is_invalid(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":path", "/");
    add(&f->list, "host", "a.example");
    add(&f->list, "host", "b.example");
    assert_head_invalid(f);
}

static void test_request_options_asterisk(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "OPTIONS", "*");
    assert_head(f, false,
                "OPTIONS * HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "X-Forwarded-For: 192.0.2.7\r\n"
                "X-Forwarded-Proto: https\r\n"
                "\r\n",
                false);
}

static void test_request_asterisk_only_for_options(void **state)
{
    struct fixture *f = *state;
    static const char *const methods[] = {"GET", "options", "POST"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        sl_header_list_init(&f->list, f->arena);
        add_pseudo(&f->list, methods[i], "*");
        assert_head_invalid(f);
    }
}

static void test_request_missing_method_is_invalid(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":scheme", "https");
    add(&f->list, ":authority", "example.com");
    add(&f->list, ":path", "/");
    assert_head_invalid(f);
}

static void test_request_missing_path_is_invalid(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":scheme", "https");
    add(&f->list, ":authority", "example.com");
    assert_head_invalid(f);
}

static void test_request_empty_list_is_invalid(void **state)
{
    struct fixture *f = *state;
    assert_head_invalid(f);
}

static void test_request_bad_request_targets_are_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const paths[] = {
        "", "http://evil.example/", "*", "/a b", "/a\tb", "/a\x7f", "index.html",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        sl_header_list_init(&f->list, f->arena);
        add_pseudo(&f->list, "GET", paths[i]);
        assert_head_invalid(f);
    }
}

static void test_request_bad_methods_are_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const methods[] = {"", "GET /x", "GE(T", "G:T"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        sl_header_list_init(&f->list, f->arena);
        add_pseudo(&f->list, methods[i], "/");
        assert_head_invalid(f);
    }
}

static void test_request_unknown_pseudo_header_is_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {":protocol", ":status", ":", ":methods"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sl_header_list_init(&f->list, f->arena);
        add_pseudo(&f->list, "GET", "/");
        add(&f->list, names[i], "x");
        assert_head_invalid(f);
    }
}

static void test_request_repeated_pseudo_header_is_invalid(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, ":path", "/admin");
    assert_head_invalid(f);
}

static void test_request_pseudo_header_after_regular_is_invalid(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":authority", "example.com");
    add(&f->list, "accept", "*/*");
    add(&f->list, ":path", "/");
    assert_head_invalid(f);
}

static void test_request_crlf_in_value_is_invalid(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "x-note", "a\r\nX-Admin: 1");
    assert_head_invalid(f);
}

static void test_request_lone_cr_or_lf_in_value_is_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const values[] = {"a\rb", "a\nb", "\n", "abc\r"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        sl_header_list_init(&f->list, f->arena);
        add_pseudo(&f->list, "GET", "/");
        add(&f->list, "x-note", values[i]);
        assert_head_invalid(f);
    }
}

static void test_request_nul_in_value_is_invalid(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    assert_int_equal(sl_header_list_add(&f->list, "x-note", 6, "a\0b", 3, 0), 0);
    assert_head_invalid(f);
}

static int head_of_value(struct fixture *f, const char *value, size_t len)
{
    sl_header_list_init(&f->list, f->arena);
    add_pseudo(&f->list, "GET", "/");
    assert_int_equal(sl_header_list_add(&f->list, "x-note", 6, value, len, 0), 0);
    char *out = NULL;
    size_t out_len = 0;
    bool is_chunked;
    return sl_h1_request_head(&f->list, &https_client, false, f->arena, &out, &out_len,
                              &is_chunked);
}

/* CR, LF or NUL is refused wherever it stands in a value; every other byte
 * passes, other controls and obs-text too (RFC 9110 §5.5 lets a recipient
 * keep them where they cannot end a line). */
static void test_request_unsafe_byte_anywhere_in_a_value_is_invalid(void **state)
{
    struct fixture *f = *state;
    static const char unsafe[] = {'\r', '\n', '\0'};
    char value[21];
    for (size_t at = 0; at < sizeof(value); at++) {
        for (size_t u = 0; u < sizeof(unsafe); u++) {
            memset(value, 'v', sizeof(value));
            value[at] = unsafe[u];
            assert_int_equal(head_of_value(f, value, sizeof(value)), SL_EINVALID);
        }
    }
    for (unsigned c = 1; c < 256; c++) {
        if (c == '\r' || c == '\n')
            continue;
        memset(value, (int)c, sizeof(value));
        value[0] = 'v'; /* no leading whitespace to trim */
        value[sizeof(value) - 1] = 'v';
        assert_int_equal(head_of_value(f, value, sizeof(value)), 0);
    }
}

static void test_request_bad_names_are_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {"x-a\r\nx-b", "x-a\n", "x a", "x:a", "", "x-a\x80"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sl_header_list_init(&f->list, f->arena);
        add_pseudo(&f->list, "GET", "/");
        add(&f->list, names[i], "v");
        assert_head_invalid(f);
    }
}

static void test_request_nul_in_name_is_invalid(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    assert_int_equal(sl_header_list_add(&f->list, "x\0y", 3, "v", 1, 0), 0);
    assert_head_invalid(f);
}

static void test_request_crlf_in_pseudo_headers_is_invalid(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":authority", "example.com\r\nX-Admin: 1");
    add(&f->list, ":path", "/");
    assert_head_invalid(f);

    sl_header_list_init(&f->list, f->arena);
    add(&f->list, ":method", "GET");
    add(&f->list, ":authority", "example.com");
    add(&f->list, ":path", "/ HTTP/1.1\r\nX-Admin: 1\r\n");
    assert_head_invalid(f);

    sl_header_list_init(&f->list, f->arena);
    add(&f->list, ":method", "GET");
    add(&f->list, ":scheme", "https\r\n");
    add(&f->list, ":authority", "example.com");
    add(&f->list, ":path", "/");
    assert_head_invalid(f);
}

static void test_request_crlf_in_forward_info_is_invalid(void **state)
{
    struct fixture *f = *state;
    static const struct sl_forward_info bad_addr = {.client_addr = "1.2.3.4\r\nX-Admin: 1",
                                                    .scheme = "https"};
    static const struct sl_forward_info bad_scheme = {.client_addr = "1.2.3.4",
                                                      .scheme = "https\n"};
    add_pseudo(&f->list, "GET", "/");
    assert_head_invalid_with(f, &bad_addr);
    assert_head_invalid_with(f, &bad_scheme);
}

static void test_request_bad_content_length_is_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const values[] = {"", "12a", "-1", " 12", "1 2", "0x10"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        sl_header_list_init(&f->list, f->arena);
        add_pseudo(&f->list, "POST", "/");
        add(&f->list, "content-length", values[i]);
        assert_head_invalid(f);
    }
}

static void test_request_repeated_content_length_is_invalid(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "POST", "/");
    add(&f->list, "content-length", "5");
    add(&f->list, "Content-Length", "5");
    assert_head_invalid(f);
}

static void test_request_huge_header(void **state)
{
    struct fixture *f = *state;
    enum { VALUE_BYTES = 64 * 1024, FIELDS = 200 };
    char *big = malloc(VALUE_BYTES + 1);
    char *expected = malloc(2 * VALUE_BYTES + FIELDS * 64 + 1024);
    assert_non_null(big);
    assert_non_null(expected);
    memset(big, 'v', VALUE_BYTES);
    big[VALUE_BYTES] = '\0';

    add_pseudo(&f->list, "POST", "/bid");
    add(&f->list, "x-big", big);
    size_t n =
        (size_t)sprintf(expected, "POST /bid HTTP/1.1\r\nHost: example.com\r\nx-big: %s\r\n", big);
    for (int i = 0; i < FIELDS; i++) {
        char name[16];
        char value[16];
        snprintf(name, sizeof(name), "x-f%d", i);
        snprintf(value, sizeof(value), "%d", i * 7);
        add(&f->list, name, value);
        n += (size_t)sprintf(expected + n, "%s: %s\r\n", name, value);
    }
    add(&f->list, "cookie", big);
    add(&f->list, "cookie", "k=v");
    sprintf(expected + n,
            "Cookie: %s; k=v\r\n"
            "X-Forwarded-For: 192.0.2.7\r\n"
            "X-Forwarded-Proto: https\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n",
            big);
    assert_head(f, true, expected, true);
    free(expected);
    free(big);
}

/* ---- HTTP/1.1 response → HTTP/2 fields ---- */

static void test_response_status_first_with_its_digits(void **state)
{
    struct fixture *f = *state;
    static const struct {
        unsigned status;
        const char *digits;
    } cases[] = {{200, "200"}, {204, "204"}, {301, "301"}, {404, "404"},
                 {503, "503"}, {510, "510"}, {599, "599"}};
    add(&f->list, "content-type", "text/plain");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nghttp2_nv *out = NULL;
        size_t count = 0;
        assert_int_equal(sl_h2_response_fields(&f->list, cases[i].status, f->arena, &out, &count),
                         0);
        assert_int_equal(count, 2);
        assert_nv(&out[0], ":status", cases[i].digits, NGHTTP2_NV_FLAG_NONE);
        assert_nv(&out[1], "content-type", "text/plain", NGHTTP2_NV_FLAG_NONE);
    }
}

static void test_response_without_fields(void **state)
{
    struct fixture *f = *state;
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 204, f->arena, &out, &count), 0);
    assert_int_equal(count, 1);
    assert_nv(&out[0], ":status", "204", NGHTTP2_NV_FLAG_NONE);
}

static void test_response_lowercases_names_not_values(void **state)
{
    struct fixture *f = *state;
    add(&f->list, "Content-Type", "Text/HTML; Charset=UTF-8");
    add(&f->list, "X-MiXeD-9", "AbC");
    add(&f->list, "server", "Gunicorn");
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 4);
    assert_nv(&out[0], ":status", "200", 0);
    assert_nv(&out[1], "content-type", "Text/HTML; Charset=UTF-8", 0);
    assert_nv(&out[2], "x-mixed-9", "AbC", 0);
    assert_nv(&out[3], "server", "Gunicorn", 0);
    /* the received list is left as it was */
    assert_nv(&f->list.items[0], "Content-Type", "Text/HTML; Charset=UTF-8", 0);
}

/* Fields from an HTTP/1.1 head are lowercased as they come, so their names
 * are borrowed as they are; one added by sl_header_list_add afterwards may
 * be in any case, and is lowercased again. */
static void test_response_lowercased_as_read_borrows_names(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sl_header_list_add_lowercased(&f->list, "Content-Type", 12, "text/plain", 10),
                     0);
    assert_false(f->list.may_have_uppercase);
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 2);
    assert_nv(&out[1], "content-type", "text/plain", 0);
    assert_ptr_equal(out[1].name, f->list.items[0].name);
    add(&f->list, "X-Later", "1");
    assert_true(f->list.may_have_uppercase);
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 3);
    assert_nv(&out[2], "x-later", "1", 0);
}

static void test_response_drops_connection_specific(void **state)
{
    struct fixture *f = *state;
    add(&f->list, "Connection", "Keep-Alive, X-Trace ,\tx-hop");
    add(&f->list, "Keep-Alive", "timeout=5, max=100");
    add(&f->list, "Date", "Mon, 01 Jan 2024 00:00:00 GMT");
    add(&f->list, "Proxy-Connection", "keep-alive");
    add(&f->list, "Transfer-Encoding", "chunked");
    add(&f->list, "Upgrade", "h2c");
    add(&f->list, "TE", "trailers");
    add(&f->list, "X-TRACE", "abc");
    add(&f->list, "x-hop", "1");
    add(&f->list, "x-kept", "2");
    add(&f->list, "connection", "close");
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 3);
    assert_nv(&out[0], ":status", "200", 0);
    assert_nv(&out[1], "date", "Mon, 01 Jan 2024 00:00:00 GMT", 0);
    assert_nv(&out[2], "x-kept", "2", 0);
}

static void test_response_keeps_content_length(void **state)
{
    struct fixture *f = *state;
    add(&f->list, "Content-Length", "42");
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 2);
    assert_nv(&out[1], "content-length", "42", 0);
}

static void test_response_chunked_drops_content_length(void **state)
{
    struct fixture *f = *state;
    add(&f->list, "Content-Length", "42");
    add(&f->list, "Transfer-Encoding", "chunked");
    add(&f->list, "etag", "\"x\"");
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 2);
    assert_nv(&out[0], ":status", "200", 0);
    assert_nv(&out[1], "etag", "\"x\"", 0);
}

static void test_response_sensitive_values_never_indexed(void **state)
{
    struct fixture *f = *state;
    add(&f->list, "Set-Cookie", "a=1; HttpOnly");
    add(&f->list, "set-cookie", "b=2");
    add(&f->list, "Authorization", "Bearer x");
    add(&f->list, "cookie", "c=3");
    add(&f->list, "Proxy-Authorization", "Basic eA==");
    add(&f->list, "content-type", "text/plain");
    add(&f->list, "x-set-cookie", "not sensitive");
    add(&f->list, "www-authenticate", "Bearer");
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 401, f->arena, &out, &count), 0);
    assert_int_equal(count, 9);
    assert_nv(&out[0], ":status", "401", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&out[1], "set-cookie", "a=1; HttpOnly", NGHTTP2_NV_FLAG_NO_INDEX);
    assert_nv(&out[2], "set-cookie", "b=2", NGHTTP2_NV_FLAG_NO_INDEX);
    assert_nv(&out[3], "authorization", "Bearer x", NGHTTP2_NV_FLAG_NO_INDEX);
    assert_nv(&out[4], "cookie", "c=3", NGHTTP2_NV_FLAG_NO_INDEX);
    assert_nv(&out[5], "proxy-authorization", "Basic eA==", NGHTTP2_NV_FLAG_NO_INDEX);
    assert_nv(&out[6], "content-type", "text/plain", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&out[7], "x-set-cookie", "not sensitive", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&out[8], "www-authenticate", "Bearer", NGHTTP2_NV_FLAG_NONE);
}

static void test_response_keeps_received_flags(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sl_header_list_add(&f->list, "x-token", 7, "t", 1, NGHTTP2_NV_FLAG_NO_INDEX),
                     0);
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 2);
    assert_nv(&out[1], "x-token", "t", NGHTTP2_NV_FLAG_NO_INDEX);
}

static void test_response_status_out_of_range_is_invalid(void **state)
{
    struct fixture *f = *state;
    static const unsigned statuses[] = {0, 99, 100, 101, 103, 199, 600, 999, 1200};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        nghttp2_nv *out = NULL;
        size_t count = 0;
        assert_int_equal(sl_h2_response_fields(&f->list, statuses[i], f->arena, &out, &count),
                         SL_EINVALID);
        assert_null(out);
        assert_int_equal(count, 0);
    }
}

static void test_response_unsafe_fields_are_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {"x-a", "x-a", "x-a", "x a", "x:a", "", "x\r\ny"};
    static const char *const values[] = {"a\r\nb", "a\nb", "a\r", "v", "v", "v", "v"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sl_header_list_init(&f->list, f->arena);
        add(&f->list, "content-type", "text/plain");
        add(&f->list, names[i], values[i]);
        nghttp2_nv *out = NULL;
        size_t count = 0;
        assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), SL_EINVALID);
        assert_null(out);
    }
}

/* A list whose reader checked it is taken at its word, both ways: these
 * bytes would be refused in an unchecked list (the tests above). */
static void test_a_checked_list_is_not_checked_again(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "x-note", "a\rb");
    f->list.is_checked = true;
    char *head = NULL;
    size_t head_len = 0;
    bool is_chunked;
    assert_int_equal(
        sl_h1_request_head(&f->list, &https_client, false, f->arena, &head, &head_len, &is_chunked),
        0);
    sl_header_list_init(&f->list, f->arena);
    add(&f->list, "x a", "v");
    f->list.is_checked = true;
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 2);
}

static void test_response_nul_in_value_is_invalid(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sl_header_list_add(&f->list, "x-a", 3, "a\0b", 3, 0), 0);
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), SL_EINVALID);
}

/* RFC 9110 §5.6.2, written out here rather than taken from the code under test */
static const char tchars[] = "!#$%&'*+-.^_`|~0123456789"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool is_listed_tchar(int c)
{
    return c != 0 && memchr(tchars, c, sizeof(tchars) - 1) != NULL;
}

static void test_tchar_is_exactly_rfc_9110s_set(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++)
        assert_int_equal(sl_http_is_tchar((unsigned char)c), is_listed_tchar(c));
}

/* each byte in the middle of a name and of a value, one response each */
static int response_with_byte(struct fixture *f, int c, bool in_name)
{
    char field[3] = {'x', (char)c, 'y'};
    sl_header_list_init(&f->list, f->arena);
    assert_int_equal(sl_header_list_add(&f->list, in_name ? field : "x-a", 3, in_name ? "v" : field,
                                        in_name ? 1 : 3, 0),
                     0);
    nghttp2_nv *out = NULL;
    size_t count = 0;
    return sl_h2_response_fields(&f->list, 200, f->arena, &out, &count);
}

static void test_response_accepts_exactly_the_safe_bytes(void **state)
{
    struct fixture *f = *state;
    for (int c = 0; c < 256; c++) {
        bool unsafe = c == '\r' || c == '\n' || c == '\0';
        assert_int_equal(response_with_byte(f, c, false), unsafe ? SL_EINVALID : 0);
        assert_int_equal(response_with_byte(f, c, true), is_listed_tchar(c) ? 0 : SL_EINVALID);
    }
}

static void test_response_lowercases_every_letter(void **state)
{
    struct fixture *f = *state;
    static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
    add(&f->list, upper, "v");
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(out[1].namelen, 26);
    assert_memory_equal(out[1].name, lower, 26);
}

static void test_response_drops_what_connection_lists(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sl_header_list_add_lowercased(&f->list, "Set-Cookie", 10, "id=42", 5), 0);
    assert_int_equal(sl_header_list_add_lowercased(&f->list, "Connection", 10, "x-internal", 10),
                     0);
    add(&f->list, "X-Internal", "secret");
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 200, f->arena, &out, &count), 0);
    assert_int_equal(count, 2);
    assert_nv(&out[0], ":status", "200", 0);
    assert_nv(&out[1], "set-cookie", "id=42", NGHTTP2_NV_FLAG_NO_INDEX);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* ---- any request → HTTP/2 request fields ---- */

static nghttp2_nv *h2_fields(struct fixture *f, size_t spare, size_t *count)
{
    nghttp2_nv *out = NULL;
    assert_int_equal(sl_h2_request_fields(&f->list, &https_client, spare, f->arena, &out, count),
                     0);
    assert_non_null(out);
    return out;
}

static void test_h2_request_pseudo_headers_then_fields_then_forwarding(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "POST", "/bid?x=1");
    add(&f->list, "Content-Type", "application/json");
    add(&f->list, "content-length", "12");
    size_t n = 0;
    nghttp2_nv *nv = h2_fields(f, 0, &n);
    assert_int_equal(n, 8);
    assert_nv(&nv[0], ":method", "POST", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[1], ":scheme", "https", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[2], ":authority", "example.com", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[3], ":path", "/bid?x=1", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[4], "content-type", "application/json", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[5], "content-length", "12", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[6], "x-forwarded-for", "192.0.2.7", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[7], "x-forwarded-proto", "https", NGHTTP2_NV_FLAG_NONE);
}

/* An HTTP/1.1 client's request: Host becomes :authority. */
static void test_h2_request_host_becomes_authority(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":scheme", "http");
    add(&f->list, ":path", "/");
    add(&f->list, "Host", "bidder.example:8080");
    size_t n = 0;
    nghttp2_nv *nv = h2_fields(f, 0, &n);
    assert_int_equal(n, 6);
    assert_nv(&nv[2], ":authority", "bidder.example:8080", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[4], "x-forwarded-for", "192.0.2.7", NGHTTP2_NV_FLAG_NONE);
}

static void test_h2_request_drops_hop_by_hop_and_joins_xff(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "connection", "keep-alive, x-trace");
    add(&f->list, "x-trace", "1");
    add(&f->list, "te", "trailers");
    add(&f->list, "transfer-encoding", "chunked");
    add(&f->list, "host", "other.example");
    add(&f->list, "x-forwarded-for", "10.0.0.1");
    add(&f->list, "x-forwarded-proto", "http");
    add(&f->list, "accept", "*/*");
    size_t n = 0;
    nghttp2_nv *nv = h2_fields(f, 0, &n);
    assert_int_equal(n, 7);
    assert_nv(&nv[2], ":authority", "example.com", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[4], "accept", "*/*", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[5], "x-forwarded-for", "10.0.0.1, 192.0.2.7", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&nv[6], "x-forwarded-proto", "https", NGHTTP2_NV_FLAG_NONE);
}

static void test_h2_request_cookie_crumbs_stay_apart_never_indexed(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    add(&f->list, "cookie", "a=1");
    add(&f->list, "Authorization", "Bearer x");
    add(&f->list, "cookie", "b=2");
    size_t n = 0;
    nghttp2_nv *nv = h2_fields(f, 0, &n);
    assert_int_equal(n, 9);
    assert_nv(&nv[4], "cookie", "a=1", NGHTTP2_NV_FLAG_NO_INDEX);
    assert_nv(&nv[5], "authorization", "Bearer x", NGHTTP2_NV_FLAG_NO_INDEX);
    assert_nv(&nv[6], "cookie", "b=2", NGHTTP2_NV_FLAG_NO_INDEX);
}

/* The caller's slots are real memory past the fields: writing them is safe
 * (AddressSanitizer would say otherwise). */
static void test_h2_request_leaves_spare_slots(void **state)
{
    struct fixture *f = *state;
    add_pseudo(&f->list, "GET", "/");
    size_t n = 0;
    nghttp2_nv *nv = h2_fields(f, 2, &n);
    assert_int_equal(n, 6);
    nv[n] = nv[0];
    nv[n + 1] = nv[1];
    assert_nv(&nv[n + 1], ":scheme", "https", NGHTTP2_NV_FLAG_NONE);
}

static void test_h2_request_refuses_what_h1_refuses(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":path", "http://evil.example/");
    add(&f->list, ":authority", "example.com");
    nghttp2_nv *out = NULL;
    size_t n = 0;
    assert_int_equal(sl_h2_request_fields(&f->list, &https_client, 0, f->arena, &out, &n),
                     SL_EINVALID);
    assert_null(out);
}

static void test_h2_request_without_authority_or_host_is_invalid(void **state)
{
    struct fixture *f = *state;
    add(&f->list, ":method", "GET");
    add(&f->list, ":path", "/");
    nghttp2_nv *out = NULL;
    size_t n = 0;
    assert_int_equal(sl_h2_request_fields(&f->list, &https_client, 0, f->arena, &out, &n),
                     SL_EINVALID);
}

/* RFC 9110 §8.6: a 204 carries no Content-Length; a 304 may keep one. */
static void test_response_204_drops_content_length(void **state)
{
    struct fixture *f = *state;
    add(&f->list, "Content-Length", "5");
    add(&f->list, "X-Kept", "1");
    nghttp2_nv *out = NULL;
    size_t count = 0;
    assert_int_equal(sl_h2_response_fields(&f->list, 204, f->arena, &out, &count), 0);
    assert_int_equal(count, 2);
    assert_nv(&out[0], ":status", "204", NGHTTP2_NV_FLAG_NONE);
    assert_nv(&out[1], "x-kept", "1", NGHTTP2_NV_FLAG_NONE);
    assert_int_equal(sl_h2_response_fields(&f->list, 304, f->arena, &out, &count), 0);
    assert_int_equal(count, 3);
    assert_nv(&out[1], "content-length", "5", NGHTTP2_NV_FLAG_NONE);
}

/* sl_copy moves exactly len bytes, at every length its cases split at. */
static void test_short_copies_move_every_byte_and_no_more(void **state)
{
    char from[40], to[48];
    for (size_t i = 0; i < sizeof(from); i++)
        from[i] = (char)('a' + i % 26);
    for (size_t len = 0; len <= sizeof(from); len++) {
        memset(to, '#', sizeof(to));
        sl_copy(to + 1, from, len);
        assert_int_equal(to[0], '#');
        assert_memory_equal(to + 1, from, len);
        for (size_t i = len + 1; i < sizeof(to); i++)
            assert_int_equal(to[i], '#');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_short_copies_move_every_byte_and_no_more),
        T(test_list_add_copies_and_counts_bytes),
        T(test_list_add_takes_only_given_lengths),
        T(test_list_grows_beyond_initial_capacity),
        T(test_list_lowercased_field_keeps_its_value),
        T(test_list_name_lowercases_every_byte_and_only_letters),
        T(test_list_name_of_any_length_is_lowercased_whole),
        T(test_list_find_ignores_case),
        T(test_list_remove_keeps_the_others_in_order),
        T(test_request_minimal_get),
        T(test_request_head_longer_than_its_guess_is_written_whole),
        T(test_request_forwards_fields_in_order_as_received),
        T(test_request_drops_hop_by_hop),
        T(test_request_drops_names_listed_in_connection),
        T(test_request_joins_cookie_crumbs),
        T(test_request_single_cookie),
        T(test_request_appends_client_to_one_xff),
        T(test_request_joins_several_xff_then_client),
        T(test_request_replaces_xfp),
        T(test_request_body_without_length_is_chunked),
        T(test_request_body_with_length_keeps_it),
        T(test_request_no_body_is_not_chunked),
        T(test_request_received_te_chunked_is_replaced),
        T(test_request_length_listed_in_connection_means_chunked),
        T(test_request_authority_wins_over_host),
        T(test_request_host_without_authority),
        T(test_request_without_authority_or_host_is_invalid),
        T(test_request_two_hosts_without_authority_is_invalid),
        T(test_request_options_asterisk),
        T(test_request_asterisk_only_for_options),
        T(test_request_missing_method_is_invalid),
        T(test_request_missing_path_is_invalid),
        T(test_request_empty_list_is_invalid),
        T(test_request_bad_request_targets_are_invalid),
        T(test_request_bad_methods_are_invalid),
        T(test_request_unknown_pseudo_header_is_invalid),
        T(test_request_repeated_pseudo_header_is_invalid),
        T(test_request_pseudo_header_after_regular_is_invalid),
        T(test_request_crlf_in_value_is_invalid),
        T(test_request_lone_cr_or_lf_in_value_is_invalid),
        T(test_request_nul_in_value_is_invalid),
        T(test_request_unsafe_byte_anywhere_in_a_value_is_invalid),
        T(test_request_bad_names_are_invalid),
        T(test_request_nul_in_name_is_invalid),
        T(test_request_crlf_in_pseudo_headers_is_invalid),
        T(test_request_crlf_in_forward_info_is_invalid),
        T(test_request_bad_content_length_is_invalid),
        T(test_request_repeated_content_length_is_invalid),
        T(test_request_huge_header),
        T(test_response_status_first_with_its_digits),
        T(test_response_without_fields),
        T(test_response_lowercases_names_not_values),
        T(test_tchar_is_exactly_rfc_9110s_set),
        T(test_response_accepts_exactly_the_safe_bytes),
        T(test_response_lowercases_every_letter),
        T(test_response_lowercased_as_read_borrows_names),
        T(test_response_drops_connection_specific),
        T(test_response_keeps_content_length),
        T(test_response_chunked_drops_content_length),
        T(test_response_sensitive_values_never_indexed),
        T(test_response_keeps_received_flags),
        T(test_response_status_out_of_range_is_invalid),
        T(test_response_unsafe_fields_are_invalid),
        T(test_response_nul_in_value_is_invalid),
        T(test_a_checked_list_is_not_checked_again),
        T(test_response_drops_what_connection_lists),
        T(test_h2_request_pseudo_headers_then_fields_then_forwarding),
        T(test_h2_request_host_becomes_authority),
        T(test_h2_request_drops_hop_by_hop_and_joins_xff),
        T(test_h2_request_cookie_crumbs_stay_apart_never_indexed),
        T(test_h2_request_leaves_spare_slots),
        T(test_h2_request_refuses_what_h1_refuses),
        T(test_h2_request_without_authority_or_host_is_invalid),
        T(test_response_204_drops_content_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
