/* hpack/h1_response.c: every response read whole, then again a byte at a time
 * (the pieces a slow socket gives), must come out the same; the framing each
 * head announces; the lines and framings a proxy must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "h1_response.h"
#include "headers.h"

/* What the callbacks saw, as text: "name=value|" per field, "[status]" per
 * head, and the body bytes apart. */
struct seen {
    char events[4096];
    size_t events_len;
    char body[4096];
    size_t body_len;
    unsigned heads;
    int stop_at_head; /* returned by on_head when non-zero */
};

static void add_event(struct seen *s, const char *text, size_t len)
{
    assert_true(s->events_len + len < sizeof(s->events));
    memcpy(s->events + s->events_len, text, len);
    s->events_len += len;
    s->events[s->events_len] = '\0';
}

static int on_field(void *ctx, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    struct seen *s = ctx;
    add_event(s, name, name_len);
    add_event(s, "=", 1);
    add_event(s, value, value_len);
    add_event(s, "|", 1);
    return 0;
}

static int on_head(void *ctx, const struct sl_h1_response_head *head)
{
    struct seen *s = ctx;
    char text[16];
    int n = snprintf(text, sizeof(text), "[%u]", head->status);
    add_event(s, text, (size_t)n);
    s->heads++;
    return s->stop_at_head;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct seen *s = ctx;
    assert_true(len > 0);
    assert_true(s->body_len + len < sizeof(s->body));
    memcpy(s->body + s->body_len, data, len);
    s->body_len += len;
    s->body[s->body_len] = '\0';
    return 0;
}

static const struct sl_h1_response_callbacks callbacks = {on_field, on_head, on_body};

#define LIMIT 65536

/* Reads text in pieces of step bytes (all of it when step is 0). Returns what
 * the last parse call returned; *consumed counts the bytes that were the
 * response's. */
static int read_in_pieces(struct sl_h1_response_parser *p, const char *text, size_t len,
                          size_t step, size_t *consumed)
{
    size_t at = 0;
    int rc = 0;
    *consumed = 0;
    do {
        size_t n = step == 0 || len - at < step ? len - at : step;
        size_t used = 0;
        rc = sl_h1_response_parse(p, text + at, n, &used);
        *consumed += used;
        if (rc != 0)
            break;
        assert_int_equal(used, n);
        at += n;
    } while (at < len);
    return rc;
}

struct outcome {
    int rc;
    size_t consumed;
    struct seen seen;
    struct sl_h1_response_head head;
    const char *error;
};

static struct outcome read_response(const char *text, size_t step, bool is_head_request,
                                    size_t limit)
{
    struct outcome o;
    memset(&o, 0, sizeof(o));
    struct sl_h1_response_parser p;
    sl_h1_response_parser_init(&p, &callbacks, &o.seen, is_head_request, limit);
    o.rc = read_in_pieces(&p, text, strlen(text), step, &o.consumed);
    o.head = p.head;
    o.error = p.error;
    sl_h1_response_parser_deinit(&p);
    return o;
}

/* Whole and a byte at a time agree, and return rc; the whole reading is returned. */
static struct outcome read_both_ways(const char *text, int rc)
{
    struct outcome whole = read_response(text, 0, false, LIMIT);
    struct outcome bytewise = read_response(text, 1, false, LIMIT);
    assert_int_equal(whole.rc, rc);
    assert_int_equal(bytewise.rc, rc);
    assert_string_equal(whole.seen.events, bytewise.seen.events);
    assert_int_equal(whole.seen.body_len, bytewise.seen.body_len);
    assert_memory_equal(whole.seen.body, bytewise.seen.body, whole.seen.body_len);
    return whole;
}

static void test_length_framed_response(void **state)
{
    const char *text = "HTTP/1.1 200 OK\r\nServer: b\r\nContent-Type: application/json\r\n"
                       "Content-Length: 5\r\n\r\nhello";
    struct outcome o = read_both_ways(text, 1);
    assert_string_equal(o.seen.events,
                        "Server=b|Content-Type=application/json|Content-Length=5|[200]");
    assert_string_equal(o.seen.body, "hello");
    assert_int_equal(o.consumed, strlen(text));
    assert_int_equal(o.head.body, SL_H1_BODY_LENGTH);
    assert_int_equal(o.head.content_length, 5);
    assert_true(o.head.keeps_alive);
    assert_false(o.head.is_http10);
}

static void test_values_lose_surrounding_whitespace(void **state)
{
    struct outcome o = read_both_ways("HTTP/1.1 204 \r\nA:  x y \t\r\nB:\r\nC:\t\r\n\r\n", 1);
    assert_string_equal(o.seen.events, "A=x y|B=|C=|[204]");
    struct outcome short_line = read_both_ways("HTTP/1.1 204\r\nX: caf\xc3\xa9\r\n\r\n", 1);
    assert_string_equal(short_line.seen.events, "X=caf\xc3\xa9|[204]");
}

static void test_bytes_after_the_response_are_left(void **state)
{
    const char *text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    struct outcome o = read_response(text, 0, false, LIMIT);
    assert_int_equal(o.rc, 1);
    assert_int_equal(o.consumed, strlen(text) - strlen("HTTP/1.1 200 OK\r\n"));
    assert_string_equal(o.seen.body, "ok");
}

static void test_ended_parser_reads_nothing_more(void **state)
{
    struct seen seen = {0};
    struct sl_h1_response_parser p;
    sl_h1_response_parser_init(&p, &callbacks, &seen, false, LIMIT);
    const char *text = "HTTP/1.1 204 No Content\r\n\r\n";
    size_t used;
    assert_int_equal(sl_h1_response_parse(&p, text, strlen(text), &used), 1);
    assert_int_equal(sl_h1_response_parse(&p, "x", 1, &used), 1);
    assert_int_equal(used, 0);
    assert_int_equal(seen.heads, 1);
    sl_h1_response_parser_deinit(&p);
}

static void test_chunked_body_with_extensions_and_trailers(void **state)
{
    const char *text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5;name=value\r\nhello\r\n1a \r\nabcdefghijklmnopqrstuvwxyz\r\n"
                       "0\r\nX-Trailer: t\r\nY: u\r\n\r\n";
    struct outcome o = read_both_ways(text, 1);
    assert_string_equal(o.seen.body, "helloabcdefghijklmnopqrstuvwxyz");
    assert_string_equal(o.seen.events, "Transfer-Encoding=chunked|[200]"); /* no trailers */
    assert_int_equal(o.consumed, strlen(text));
    assert_int_equal(o.head.body, SL_H1_BODY_CHUNKED);
    assert_true(o.head.keeps_alive);
}

static void test_chunked_framing_errors(void **state)
{
    const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const char *bodies[] = {
        "\r\n",                           /* no size */
        "g\r\n",                          /* not hex */
        "5x\r\nhello\r\n0\r\n\r\n",       /* junk after the size */
        "5\nhello\r\n0\r\n\r\n",          /* bare LF */
        "5\r\nhelloX\r\n0\r\n\r\n",       /* data longer than its size */
        "5\r\nhello\r\r\n0\r\n\r\n",      /* bare CR after the data */
        "10000000000000000\r\n",          /* 2^64 */
        "5;a=\x01\r\nhello\r\n0\r\n\r\n", /* control byte in an extension */
        "0\r\nX: \x01\r\n\r\n",           /* control byte in a trailer */
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "%s%s", head, bodies[i]);
        struct outcome o = read_both_ways(text, SL_EINVALID);
        assert_non_null(o.error);
    }
}

static void test_chunk_size_line_is_bounded(void **state)
{
    static char text[8192];
    int n = snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    memset(text + n, 'e', 5000);
    strcpy(text + n + 5000, "\r\nx\r\n0\r\n\r\n");
    read_both_ways(text, SL_EINVALID);
}

static void test_trailers_share_the_head_limit(void **state)
{
    const char *text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\nX-Trailer: a long enough trailer\r\n\r\n";
    size_t head = strlen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_int_equal(read_response(text, 0, false, head + 40).rc, 1);
    assert_int_equal(read_response(text, 0, false, head + 10).rc, SL_ETOOBIG);
}

static void test_no_body_after_head_request_204_304_and_1xx(void **state)
{
    const char *with_length = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    struct outcome head = read_response(with_length, 0, true, LIMIT);
    assert_int_equal(head.rc, 1);
    assert_int_equal(head.head.body, SL_H1_BODY_NONE);
    assert_true(head.head.keeps_alive);
    struct outcome not_modified = read_both_ways("HTTP/1.1 304 Not Modified\r\n"
                                                 "Content-Length: 10\r\n\r\n",
                                                 1);
    assert_int_equal(not_modified.head.body, SL_H1_BODY_NONE);
    struct outcome empty = read_both_ways("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1);
    assert_int_equal(empty.head.body, SL_H1_BODY_NONE);
    assert_int_equal(empty.seen.body_len, 0);
}

static void test_interim_heads_come_before_the_final_one(void **state)
{
    const char *text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct outcome o = read_both_ways(text, 1);
    assert_string_equal(o.seen.events, "[100]Link=</a>|[103]Content-Length=2|[200]");
    assert_string_equal(o.seen.body, "ok");
    assert_int_equal(o.seen.heads, 3);
}

static void test_interim_heads_share_the_limit(void **state)
{
    const char *text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
                       "HTTP/1.1 204 No Content\r\n\r\n";
    size_t len = strlen(text);
    assert_int_equal(read_response(text, 0, false, len).rc, 1);
    assert_int_equal(read_response(text, 0, false, len - 1).rc, SL_ETOOBIG);
    assert_int_equal(read_response(text, 1, false, len - 1).rc, SL_ETOOBIG);
}

static void test_callback_stops_the_parser(void **state)
{
    struct outcome o;
    memset(&o, 0, sizeof(o));
    o.seen.stop_at_head = -7;
    struct sl_h1_response_parser p;
    sl_h1_response_parser_init(&p, &callbacks, &o.seen, false, LIMIT);
    const char *text = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    size_t used;
    assert_int_equal(sl_h1_response_parse(&p, text, strlen(text), &used), -7);
    assert_int_equal(p.head.status, 101);
    assert_int_equal(sl_h1_response_parse(&p, text, strlen(text), &used), SL_EINVALID);
    sl_h1_response_parser_deinit(&p);
}

static void test_until_close_body_ends_at_eof(void **state)
{
    struct seen seen = {0};
    struct sl_h1_response_parser p;
    sl_h1_response_parser_init(&p, &callbacks, &seen, false, LIMIT);
    const char *text = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nall of it";
    size_t used;
    assert_int_equal(sl_h1_response_parse(&p, text, strlen(text), &used), 0);
    assert_int_equal(p.head.body, SL_H1_BODY_UNTIL_CLOSE);
    assert_false(p.head.keeps_alive);
    assert_int_equal(sl_h1_response_eof(&p), 1);
    assert_string_equal(seen.body, "all of it");
    sl_h1_response_parser_deinit(&p);
}

static void test_eof_before_the_end_is_an_error(void **state)
{
    const char *cut[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        "HTTP/1.1 200 OK\r\nContent-",
    };
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        struct seen seen = {0};
        struct sl_h1_response_parser p;
        sl_h1_response_parser_init(&p, &callbacks, &seen, false, LIMIT);
        size_t used;
        assert_int_equal(sl_h1_response_parse(&p, cut[i], strlen(cut[i]), &used), 0);
        assert_int_equal(sl_h1_response_eof(&p), SL_EINVALID);
        assert_non_null(p.error);
        sl_h1_response_parser_deinit(&p);
    }
}

static void test_connection_persistence(void **state)
{
    assert_false(read_both_ways("HTTP/1.1 204 x\r\nConnection: Close\r\n\r\n", 1).head.keeps_alive);
    assert_false(
        read_both_ways("HTTP/1.1 204 x\r\nConnection: te, close\r\n\r\n", 1).head.keeps_alive);
    assert_false(read_both_ways("HTTP/1.0 204 x\r\n\r\n", 1).head.keeps_alive);
    struct outcome http10 = read_both_ways("HTTP/1.0 204 x\r\nConnection: Keep-Alive\r\n\r\n", 1);
    assert_true(http10.head.is_http10);
    assert_true(http10.head.keeps_alive);
    assert_true(read_both_ways("HTTP/1.1 204 x\r\nConnection: closed\r\n\r\n", 1).head.keeps_alive);
}

static void test_ambiguous_framing_is_refused(void **state)
{
    const char *heads[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        struct outcome o = read_both_ways(heads[i], SL_EINVALID);
        assert_int_equal(o.seen.heads, 0);
    }
}

static void test_malformed_lines_are_refused(void **state)
{
    const char *heads[] = {
        "HTTP/1.1 200 OK\nX: a\r\n\r\n",         /* bare LF ending the status line */
        "HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n", /* bare LF ending a field line */
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",    /* bare CR */
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", /* obs-fold */
        "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",      /* whitespace before the colon */
        "HTTP/1.1 200 OK\r\n: a\r\n\r\n",        /* no name */
        "HTTP/1.1 200 OK\r\nX(: a\r\n\r\n",      /* not a token */
        "HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n",   /* control byte */
        "HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n",   /* DEL */
        "HTTP/1.1 200 OK\r\nX\r\n\r\n",          /* no colon */
        "HTTP/1.1 200 OK\r\n\rX: a\r\n\r\n",     /* a line of a bare CR */
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        struct outcome o = read_both_ways(heads[i], SL_EINVALID);
        assert_non_null(o.error);
    }
    const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    struct seen seen = {0};
    struct sl_h1_response_parser p;
    sl_h1_response_parser_init(&p, &callbacks, &seen, false, LIMIT);
    size_t used;
    assert_int_equal(sl_h1_response_parse(&p, nul, sizeof(nul) - 1, &used), SL_EINVALID);
    sl_h1_response_parser_deinit(&p);
}

static void test_lf_only_head_fails_without_waiting(void **state)
{
    struct outcome o = read_both_ways("HTTP/1.1 200 OK\nContent-Length: 0\n\n", SL_EINVALID);
    assert_non_null(strstr(o.error, "bare LF"));
}

static void test_head_over_the_limit(void **state)
{
    const char *text = "HTTP/1.1 204 No Content\r\nX: 0123456789\r\n\r\n";
    size_t len = strlen(text);
    assert_int_equal(read_response(text, 0, false, len).rc, 1);
    assert_int_equal(read_response(text, 0, false, len - 1).rc, SL_ETOOBIG);
    assert_int_equal(read_response(text, 1, false, len - 1).rc, SL_ETOOBIG);
    assert_int_equal(read_response(text, 7, false, len - 1).rc, SL_ETOOBIG);
    /* a head that never ends stops at the limit, not at the end of memory */
    static char endless[200000];
    memcpy(endless, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(endless + 20, 'a', sizeof(endless) - 21);
    assert_int_equal(read_response(endless, 4096, false, LIMIT).rc, SL_ETOOBIG);
}

/* The empty line that ends a head may straddle any two reads. */
static void test_head_end_split_anywhere(void **state)
{
    const char *text = "HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 3\r\n\r\nxyz";
    size_t len = strlen(text);
    for (size_t cut = 1; cut < len; cut++) {
        struct seen seen = {0};
        struct sl_h1_response_parser p;
        sl_h1_response_parser_init(&p, &callbacks, &seen, false, LIMIT);
        size_t first, second;
        assert_int_equal(sl_h1_response_parse(&p, text, cut, &first), 0);
        assert_int_equal(sl_h1_response_parse(&p, text + cut, len - cut, &second), 1);
        assert_int_equal(first + second, len);
        assert_string_equal(seen.events, "A=b|Content-Length=3|[200]");
        assert_string_equal(seen.body, "xyz");
        sl_h1_response_parser_deinit(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_framed_response),
        cmocka_unit_test(test_values_lose_surrounding_whitespace),
        cmocka_unit_test(test_bytes_after_the_response_are_left),
        cmocka_unit_test(test_ended_parser_reads_nothing_more),
        cmocka_unit_test(test_chunked_body_with_extensions_and_trailers),
        cmocka_unit_test(test_chunked_framing_errors),
        cmocka_unit_test(test_chunk_size_line_is_bounded),
        cmocka_unit_test(test_trailers_share_the_head_limit),
        cmocka_unit_test(test_no_body_after_head_request_204_304_and_1xx),
        cmocka_unit_test(test_interim_heads_come_before_the_final_one),
        cmocka_unit_test(test_interim_heads_share_the_limit),
        cmocka_unit_test(test_callback_stops_the_parser),
        cmocka_unit_test(test_until_close_body_ends_at_eof),
        cmocka_unit_test(test_eof_before_the_end_is_an_error),
        cmocka_unit_test(test_connection_persistence),
        cmocka_unit_test(test_ambiguous_framing_is_refused),
        cmocka_unit_test(test_malformed_lines_are_refused),
        cmocka_unit_test(test_lf_only_head_fails_without_waiting),
        cmocka_unit_test(test_head_over_the_limit),
        cmocka_unit_test(test_head_end_split_anywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
