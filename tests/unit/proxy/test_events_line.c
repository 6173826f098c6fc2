/* statsd and DogStatsD lines, and datagrams of whole lines. Expected texts are
 * written out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "events_line.h"

static void assert_line(const struct sl_events_line *l, const char *expected)
{
    assert_false(l->is_overflow);
    assert_int_equal(l->len, strlen(expected));
    assert_memory_equal(l->text, expected, l->len);
}

static void test_plain_counter_with_parts(void **state)
{
    struct sl_events_line l;
    sl_events_line_start(&l, "sluice", 6, "requests");
    sl_events_line_part(&l, "bid");
    sl_events_line_part(&l, "bidders");
    sl_events_line_part(&l, "2xx");
    sl_events_line_value(&l, 3, "c", 1.0);
    assert_line(&l, "sluice.requests.bid.bidders.2xx:3|c");
}

/* A '.' in a backend name would add a level; ':' or '|' would end the name. */
static void test_parts_keep_the_name_shape(void **state)
{
    struct sl_events_line l;
    sl_events_line_start(&l, "p", 1, "backend");
    sl_events_line_part(&l, "analytics.v2:x|y z");
    sl_events_line_part(&l, "in-flight_1");
    sl_events_line_value(&l, 7, "g", 1.0);
    assert_line(&l, "p.backend.analytics_v2_x_y_z.in-flight_1:7|g");
}

static void test_timing_in_ms_with_a_rate(void **state)
{
    struct sl_events_line l;
    sl_events_line_start(&l, "sluice", 6, "latency");
    sl_events_line_value(&l, 12345 / 1000.0, "ms", 0.25);
    assert_line(&l, "sluice.latency:12.345|ms|@0.25");
    sl_events_line_start(&l, "sluice", 6, "latency");
    sl_events_line_value(&l, 2, "ms", 1.0);
    assert_line(&l, "sluice.latency:2|ms");
}

static void test_dogstatsd_tags(void **state)
{
    struct sl_events_line l;
    sl_events_line_start(&l, "sluice", 6, "requests");
    sl_events_line_value(&l, 5, "c", 1.0);
    sl_events_line_tag(&l, "class", "bid");
    sl_events_line_tag(&l, "backend", "a,b|c#d e");
    sl_events_line_tag(&l, "env", "prod:eu");
    assert_line(&l, "sluice.requests:5|c|#class:bid,backend:a_b_c_d_e,env:prod:eu");
}

static void test_line_too_long_is_marked(void **state)
{
    struct sl_events_line l;
    char part[SL_EVENTS_LINE_MAX];
    memset(part, 'a', sizeof(part) - 1);
    part[sizeof(part) - 1] = '\0';
    sl_events_line_start(&l, "sluice", 6, "x");
    sl_events_line_part(&l, part);
    sl_events_line_value(&l, 1, "c", 1.0);
    assert_true(l.is_overflow);
    assert_true(l.len <= SL_EVENTS_LINE_MAX);
}

/* --- packing --- */

static char datagrams[8][64];
static size_t datagram_lens[8];
static int datagram_count;
static int refuse_sends;

static int record_send(void *arg, const char *data, size_t len)
{
    if (refuse_sends)
        return -1;
    assert_true(datagram_count < 8);
    assert_true(len < sizeof(datagrams[0]));
    memcpy(datagrams[datagram_count], data, len);
    datagrams[datagram_count][len] = '\0';
    datagram_lens[datagram_count++] = len;
    return 0;
}

static void make_line(struct sl_events_line *l, const char *name)
{
    sl_events_line_start(l, "s", 1, name);
    sl_events_line_value(l, 1, "c", 1.0);
}

static int reset_sends(void **state)
{
    datagram_count = 0;
    refuse_sends = 0;
    return 0;
}

/* "s.aaaa:1|c" is 10 bytes: two lines and their '\n' fill 21 of a 21-byte
 * datagram exactly; a third starts the next one. */
static void test_pack_fills_datagrams_with_whole_lines(void **state)
{
    char buf[21];
    struct sl_events_packer p = {.buf = buf, .cap = sizeof(buf), .send = record_send};
    struct sl_events_line l;
    make_line(&l, "aaaa");
    sl_events_pack(&p, &l);
    make_line(&l, "bbbb");
    sl_events_pack(&p, &l);
    assert_int_equal(datagram_count, 0);
    make_line(&l, "cccc");
    sl_events_pack(&p, &l);
    assert_int_equal(datagram_count, 1);
    assert_string_equal(datagrams[0], "s.aaaa:1|c\ns.bbbb:1|c");
    sl_events_pack_flush(&p);
    assert_int_equal(datagram_count, 2);
    assert_string_equal(datagrams[1], "s.cccc:1|c");
    assert_int_equal(p.sent_lines, 3);
    assert_int_equal(p.dropped_lines, 0);
    sl_events_pack_flush(&p); /* nothing left: nothing sent */
    assert_int_equal(datagram_count, 2);
}

static void test_pack_drops_what_cannot_go(void **state)
{
    char buf[12];
    struct sl_events_packer p = {.buf = buf, .cap = sizeof(buf), .send = record_send};
    struct sl_events_line l;
    make_line(&l, "far-too-long");
    sl_events_pack(&p, &l);
    assert_int_equal(p.dropped_lines, 1);
    make_line(&l, "ok");
    sl_events_pack(&p, &l);
    make_line(&l, "no");
    sl_events_pack(&p, &l); /* sends "s.ok:1|c" first */
    refuse_sends = 1;
    sl_events_pack_flush(&p);
    assert_int_equal(datagram_count, 1);
    assert_string_equal(datagrams[0], "s.ok:1|c");
    assert_int_equal(p.sent_lines, 1);
    assert_int_equal(p.dropped_lines, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_counter_with_parts),
        cmocka_unit_test(test_parts_keep_the_name_shape),
        cmocka_unit_test(test_timing_in_ms_with_a_rate),
        cmocka_unit_test(test_dogstatsd_tags),
        cmocka_unit_test(test_line_too_long_is_marked),
        cmocka_unit_test_setup(test_pack_fills_datagrams_with_whole_lines, reset_sends),
        cmocka_unit_test_setup(test_pack_drops_what_cannot_go, reset_sends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
