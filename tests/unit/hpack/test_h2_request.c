/* hpack/h2_request.c: RFC 9113 §8's rules on a request's fields, a field at
 * a time and then the head as a whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "h2_request.h"

struct field {
    const char *name;
    const char *value;
    size_t value_len; /* 0: strlen(value) */
};

#define GOOD_HEAD                                                                                  \
    {":method", "POST", 0}, {":scheme", "https", 0}, {":path", "/bid?x=1", 0},                     \
    {                                                                                              \
        ":authority", "bidder.example:8443", 0                                                     \
    }

static enum sl_h2_field_verdict feed(struct sl_h2_request_check *c, const struct field *f)
{
    size_t value_len = f->value_len > 0 ? f->value_len : strlen(f->value);
    return sl_h2_request_check_field(c, (const uint8_t *)f->name, strlen(f->name),
                                     (const uint8_t *)f->value, value_len);
}

/* A check that has kept a whole head's pseudo-headers. */
static void start_good_head(struct sl_h2_request_check *c)
{
    const struct field head[] = {GOOD_HEAD};
    sl_h2_request_check_init(c, false);
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        assert_int_equal(feed(c, &head[i]), SL_H2_FIELD_KEEP);
}

/* The verdict on the last field after the others were kept, and whether the
 * head is whole then. */
static enum sl_h2_field_verdict last_verdict(const struct field *fields, size_t count,
                                             bool *is_whole)
{
    struct sl_h2_request_check c;
    sl_h2_request_check_init(&c, false);
    for (size_t i = 0; i + 1 < count; i++)
        assert_int_equal(feed(&c, &fields[i]), SL_H2_FIELD_KEEP);
    enum sl_h2_field_verdict v = feed(&c, &fields[count - 1]);
    *is_whole = sl_h2_request_check_head(&c);
    return v;
}

#define LAST_VERDICT(is_whole, ...)                                                                \
    last_verdict((const struct field[]){__VA_ARGS__},                                              \
                 sizeof((const struct field[]){__VA_ARGS__}) / sizeof(struct field), is_whole)

static void a_usual_request_is_kept_whole(void **state)
{
    bool is_whole;
    assert_int_equal(LAST_VERDICT(&is_whole, GOOD_HEAD, {"content-type", "application/json", 0},
                                  {"content-length", "1109", 0}, {"te", "Trailers", 0},
                                  {"user-agent", "h2load nghttp2/1.52.0 \t(x)", 0}),
                     SL_H2_FIELD_KEEP);
    assert_true(is_whole);
}

static void broken_fields_make_the_request_malformed(void **state)
{
    static const struct field cases[][2] = {
        {{"connection", "close", 0}},
        {{"keep-alive", "5", 0}},
        {{"proxy-connection", "keep-alive", 0}},
        {{"transfer-encoding", "chunked", 0}},
        {{"upgrade", "h2c", 0}},
        {{"te", "gzip", 0}},
        {{"x-Upper", "1", 0}},
        {{"X(y", "1", 0}}, /* uppercase, even in a name that is not a token */
        {{":path", "/again", 0}},
        {{":status", "200", 0}},
        {{":protocol", "websocket", 0}},
        {{"content-length", "12a", 0}},
        {{"content-length", "", 0}},
        {{"content-length", "1234567890123456789", 0}},
        {{"content-length", "5", 0}, {"content-length", "5", 0}},
        {{"host", "a", 0}, {"host", "b", 0}},
        {{"host", "", 0}},
        {{"", "empty name", 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_h2_request_check c;
        start_good_head(&c);
        enum sl_h2_field_verdict v = feed(&c, &cases[i][0]);
        if (cases[i][1].name != NULL) {
            assert_int_equal(v, SL_H2_FIELD_KEEP);
            v = feed(&c, &cases[i][1]);
        }
        if (v != SL_H2_FIELD_MALFORMED)
            fail_msg("case %zu (%s: %s) was not malformed", i, cases[i][0].name, cases[i][0].value);
    }
}

static void bad_pseudo_header_values_are_malformed(void **state)
{
    static const struct field cases[] = {
        {":method", "", 0},        {":method", "G T", 0},    {":path", "", 0},
        {":path", "/a b", 0},      {":path", "/a\x7f", 0},   {":scheme", "1http", 0},
        {":scheme", "ht tp", 0},   {":authority", "", 0},    {":authority", "a b", 0},
        {":authority", "a\"b", 0}, {":authority", "a/b", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_h2_request_check c;
        sl_h2_request_check_init(&c, false);
        if (feed(&c, &cases[i]) != SL_H2_FIELD_MALFORMED)
            fail_msg("case %zu (%s: %s) was not malformed", i, cases[i].name, cases[i].value);
    }
}

static void a_pseudo_header_after_a_regular_field_is_malformed(void **state)
{
    bool is_whole;
    assert_int_equal(LAST_VERDICT(&is_whole, {":method", "GET", 0}, {":scheme", "http", 0},
                                  {":path", "/", 0}, {"accept", "*/*", 0}, {":authority", "x", 0}),
                     SL_H2_FIELD_MALFORMED);
}

static void fields_a_backend_could_misread_are_dropped(void **state)
{
    static const struct field cases[] = {
        {"x-lead", " padded", 0},
        {"x-trail", "padded\t", 0},
        {"x-cr", "a\rb", 0},
        {"x-lf", "a\nb", 0},
        {"x-nul", "a\0b", 3},
        {"x-del",
         "a\x7f"
         "b",
         0},
        {"x-ctl", "0123456789\x01long", 0},
        {"x(y", "1", 0},
        {"x y", "1", 0},
        {"host", "a b", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_h2_request_check c;
        start_good_head(&c);
        if (feed(&c, &cases[i]) != SL_H2_FIELD_DROP)
            fail_msg("case %zu (%s) was not dropped", i, cases[i].name);
        /* and what follows is checked as before */
        const struct field after = {":path", "/", 0};
        assert_int_equal(feed(&c, &after), SL_H2_FIELD_MALFORMED);
    }
}

static void text_of_every_length_is_checked_to_its_last_byte(void **state)
{
    char value[40];
    for (size_t len = 2; len < sizeof(value); len++) {
        for (size_t at = 1; at + 1 < len; at++) {
            memset(value, 'a', len);
            value[at] = '\x01';
            struct sl_h2_request_check c;
            sl_h2_request_check_init(&c, false);
            const struct field f = {"x-v", value, len};
            assert_int_equal(feed(&c, &f), SL_H2_FIELD_DROP);
            value[at] = '\t'; /* HTAB inside a value is text */
            assert_int_equal(feed(&c, &f), SL_H2_FIELD_KEEP);
            value[at] = '\xe9'; /* obs-text */
            assert_int_equal(feed(&c, &f), SL_H2_FIELD_KEEP);
        }
    }
}

static void head_completeness(void **state)
{
    bool is_whole;
    LAST_VERDICT(&is_whole, {":method", "GET", 0}, {":path", "/", 0}, {":authority", "x", 0});
    assert_false(is_whole); /* no :scheme */
    LAST_VERDICT(&is_whole, {":method", "GET", 0}, {":scheme", "http", 0}, {":authority", "x", 0});
    assert_false(is_whole); /* no :path */
    LAST_VERDICT(&is_whole, {":scheme", "http", 0}, {":path", "/", 0}, {":authority", "x", 0});
    assert_false(is_whole); /* no :method */
    LAST_VERDICT(&is_whole, {":method", "GET", 0}, {":scheme", "http", 0}, {":path", "/", 0});
    assert_false(is_whole); /* neither :authority nor host */
    LAST_VERDICT(&is_whole, {":method", "GET", 0}, {":scheme", "http", 0}, {":path", "/", 0},
                 {"host", "x", 0});
    assert_true(is_whole);
    LAST_VERDICT(&is_whole, {":method", "GET", 0}, {":scheme", "https", 0}, {":path", "x", 0},
                 {":authority", "x", 0});
    assert_false(is_whole); /* an http(s) target is absolute */
    LAST_VERDICT(&is_whole, {":method", "GET", 0}, {":scheme", "urn", 0}, {":path", "x", 0},
                 {":authority", "x", 0});
    assert_true(is_whole); /* other schemes' paths are theirs */
    LAST_VERDICT(&is_whole, {":method", "OPTIONS", 0}, {":scheme", "http", 0}, {":path", "*", 0},
                 {":authority", "x", 0});
    assert_true(is_whole);
    LAST_VERDICT(&is_whole, {":method", "GET", 0}, {":scheme", "http", 0}, {":path", "*", 0},
                 {":authority", "x", 0});
    assert_false(is_whole); /* "*" is OPTIONS's alone */
    LAST_VERDICT(&is_whole, {":method", "CONNECT", 0}, {":authority", "x:443", 0});
    assert_true(is_whole);
    LAST_VERDICT(&is_whole, {":method", "CONNECT", 0}, {":authority", "x:443", 0},
                 {":path", "/", 0});
    assert_false(is_whole);
}

static void content_length_is_read(void **state)
{
    struct sl_h2_request_check c;
    sl_h2_request_check_init(&c, false);
    assert_int_equal(c.content_length, -1);
    const struct field f = {"content-length", "000123456789012345678", 0};
    assert_int_equal(feed(&c, &f), SL_H2_FIELD_MALFORMED); /* too many digits to trust */
    sl_h2_request_check_init(&c, false);
    const struct field g = {"content-length", "987654321098765432", 0};
    assert_int_equal(feed(&c, &g), SL_H2_FIELD_KEEP);
    assert_true(c.content_length == 987654321098765432ll);
}

static void trailers_hold_no_pseudo_header(void **state)
{
    struct sl_h2_request_check c;
    sl_h2_request_check_init(&c, true);
    const struct field ok = {"grpc-status", "0", 0}, pseudo = {":path", "/", 0};
    assert_int_equal(feed(&c, &ok), SL_H2_FIELD_KEEP);
    sl_h2_request_check_init(&c, true);
    assert_int_equal(feed(&c, &pseudo), SL_H2_FIELD_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_usual_request_is_kept_whole),
        cmocka_unit_test(broken_fields_make_the_request_malformed),
        cmocka_unit_test(bad_pseudo_header_values_are_malformed),
        cmocka_unit_test(a_pseudo_header_after_a_regular_field_is_malformed),
        cmocka_unit_test(fields_a_backend_could_misread_are_dropped),
        cmocka_unit_test(text_of_every_length_is_checked_to_its_last_byte),
        cmocka_unit_test(head_completeness),
        cmocka_unit_test(content_length_is_read),
        cmocka_unit_test(trailers_hold_no_pseudo_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
