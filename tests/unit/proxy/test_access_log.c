/* The access log: the JSON line (escaping, nulls, cuts), sampling, and
 * writing, reopening and closing real files in the fixture's directory.
 * Expected lines are written out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "access_log.h"
#include "clock.h"
#include "config.h"
#include "config_fixture.h"
#include "stats.h"

static const struct sl_access_entry bid = {
    .unix_us = 1764700000123456ull, /* 2025-12-02T18:26:40.123456Z */
    .listener = "public",
    .peer = "192.0.2.7",
    .protocol = "h2c",
    .method = "POST",
    .authority = "bidder.example",
    .path = "/bid?id=\"7\"&q=a\\b",
    .status = 200,
    .class_name = "bid",
    .code = "--",
    .backend = "bidders",
    .server = "unix:/run/bidder.sock",
    .bytes_in = 1109,
    .bytes_out = 299,
    .total_us = 812,
    .upstream_us = 640,
};

static void test_line_has_every_field_escaped(void **state)
{
    char buf[4096];
    size_t len = sl_access_format(&bid, buf, sizeof(buf));
    const char *expected =
        "{\"time\":\"2025-12-02T18:26:40.123456Z\",\"listener\":\"public\",\"peer\":\"192.0.2.7\","
        "\"protocol\":\"h2c\",\"method\":\"POST\",\"authority\":\"bidder.example\","
        "\"path\":\"/bid?id=\\\"7\\\"&q=a\\\\b\",\"status\":200,\"class\":\"bid\",\"shed\":null,"
        "\"code\":\"--\",\"backend\":\"bidders\",\"server\":\"unix:/run/bidder.sock\","
        "\"bytes_in\":1109,\"bytes_out\":299,\"total_us\":812,\"upstream_us\":640}\n";
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(buf, expected, len);
}

/* A request answered before any rule or backend: nulls, and the shed reason
 * only when shed. Control and non-ASCII bytes are \u00XX. */
static void test_nulls_and_odd_bytes(void **state)
{
    struct sl_access_entry e = {
        .unix_us = 0,
        .listener = "127.0.0.1:8080",
        .peer = "unix",
        .protocol = "http1",
        .method = "G\x01T",
        .path = "/caf\xc3\xa9",
        .status = 431,
        .shed_reason = "overload", /* not shed: not written */
        .code = "PR",
        .upstream_us = -1,
    };
    char buf[4096];
    size_t len = sl_access_format(&e, buf, sizeof(buf));
    const char *expected =
        "{\"time\":\"1970-01-01T00:00:00.000000Z\",\"listener\":\"127.0.0.1:8080\","
        "\"peer\":\"unix\",\"protocol\":\"http1\",\"method\":\"G\\u0001T\",\"authority\":null,"
        "\"path\":\"/caf\\u00c3\\u00a9\",\"status\":431,\"class\":null,\"shed\":null,"
        "\"code\":\"PR\",\"backend\":null,\"server\":null,\"bytes_in\":0,\"bytes_out\":0,"
        "\"total_us\":0,\"upstream_us\":null}\n";
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(buf, expected, len);
    e.is_shed = true;
    len = sl_access_format(&e, buf, sizeof(buf));
    buf[len] = '\0';
    assert_non_null(strstr(buf, ",\"shed\":\"overload\","));
}

static void test_long_fields_are_cut_and_small_buffers_refused(void **state)
{
    char *path = malloc(3 * SL_ACCESS_FIELD_MAX);
    assert_non_null(path);
    memset(path, 'a', 3 * SL_ACCESS_FIELD_MAX - 1);
    path[3 * SL_ACCESS_FIELD_MAX - 1] = '\0';
    struct sl_access_entry e = bid;
    e.path = path;
    char *buf = malloc(SL_ACCESS_LINE_MAX);
    assert_non_null(buf);
    size_t len = sl_access_format(&e, buf, SL_ACCESS_LINE_MAX);
    assert_true(len > SL_ACCESS_FIELD_MAX);
    assert_true(len < 2 * SL_ACCESS_FIELD_MAX);
    assert_int_equal(sl_access_format(&bid, buf, 100), 0);
    /* a line fits a buffer of its exact length, and not one byte less */
    size_t whole = sl_access_format(&bid, buf, SL_ACCESS_LINE_MAX);
    assert_int_equal(sl_access_format(&bid, buf, whole), whole);
    assert_int_equal(sl_access_format(&bid, buf, whole - 1), 0);
    free(buf);
    free(path);
}

/* --- the log itself --- */

static char log_path[160];

static struct sl_config *load_with_log(const char *keys)
{
    char yaml[512];
    snprintf(log_path, sizeof(log_path), "%.100s/access.log", cfg_dir);
    snprintf(yaml, sizeof(yaml), MINIMAL "access_log:\n  path: %s\n%s", log_path, keys);
    return load_ok(yaml);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* A log opened on a fresh loop and stats slot, with the config it reads. */
struct fixture {
    struct sl_config *cfg;
    struct event_base *base;
    struct sl_stats_worker *slot;
    struct sl_access_log *log;
};

static struct fixture open_fixture(const char *keys)
{
    struct fixture f = {.cfg = load_with_log(keys), .base = event_base_new()};
    f.slot = calloc(1, sizeof(*f.slot));
    char err[256];
    f.log = sl_access_log_open(f.base, f.cfg, f.slot, err, sizeof(err));
    assert_non_null(f.log);
    return f;
}

/* Frees what open_fixture made; the log is closed by the test, which checks
 * what closing writes. */
static void close_fixture(struct fixture *f)
{
    free(f->slot);
    event_base_free(f->base);
    sl_config_free(f->cfg);
    unlink(log_path);
}

static void test_sampling_and_shed(void **state)
{
    struct fixture f = open_fixture("  sample: 3\n  always_log_shed: true\n");
    int wanted = 0;
    for (int i = 0; i < 9; i++)
        wanted += sl_access_log_wants(f.log, false);
    assert_int_equal(wanted, 3);
    for (int i = 0; i < 4; i++)
        assert_true(sl_access_log_wants(f.log, true));
    sl_access_log_close(f.log);
    close_fixture(&f);
}

/* The wall clock worked out from a monotonic reading follows that reading
 * to the microsecond within a second, and agrees with the wall clock. */
static void test_wall_clock_from_the_monotonic_reading(void **state)
{
    struct fixture f = open_fixture("");
    uint64_t before = sl_clock_unix_us();
    uint64_t now_ns = sl_clock_ns();
    uint64_t first = sl_access_log_unix_us(f.log, now_ns);
    uint64_t after = sl_clock_unix_us();
    assert_true(first >= before - 1 && first <= after + 1); /* the ns cut to µs */
    assert_int_equal(sl_access_log_unix_us(f.log, now_ns + 2500000), first + 2500);
    assert_int_equal(sl_access_log_unix_us(f.log, now_ns + 999999000), first + 999999);
    sl_access_log_close(f.log);
    close_fixture(&f);
}

/* Lines wait in the buffer; a reopen writes them to the file as it was, and
 * the next lines go to the path's new file; close writes the rest. */
static void test_buffer_reopen_close_lose_nothing(void **state)
{
    struct fixture f = open_fixture("  flush_interval_ms: 60000\n");
    for (int i = 0; i < 5; i++)
        sl_access_log_write(f.log, &bid);
    assert_int_equal(count_lines(log_path), 0); /* still buffered */
    char rotated[200];
    snprintf(rotated, sizeof(rotated), "%s.1", log_path);
    assert_int_equal(rename(log_path, rotated), 0);
    sl_access_log_reopen(f.log);
    assert_int_equal(count_lines(rotated), 5);
    for (int i = 0; i < 2; i++)
        sl_access_log_write(f.log, &bid);
    sl_access_log_close(f.log);
    assert_int_equal(count_lines(log_path), 2);
    assert_int_equal(f.slot->access_log_lines, 7);
    assert_int_equal(f.slot->access_log_dropped, 0);
    unlink(rotated);
    close_fixture(&f);
}

static void test_unopenable_file_is_an_error(void **state)
{
    struct sl_config *cfg = load_ok(MINIMAL "access_log:\n  path: /nonexistent-dir/a.log\n");
    struct event_base *base = event_base_new();
    struct sl_stats_worker slot = {0};
    char err[256] = "";
    assert_null(sl_access_log_open(base, cfg, &slot, err, sizeof(err)));
    assert_string_equal(err, "cannot open the access log /nonexistent-dir/a.log: No such file or "
                             "directory");
    event_base_free(base);
    sl_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_has_every_field_escaped),
        cmocka_unit_test(test_nulls_and_odd_bytes),
        cmocka_unit_test(test_long_fields_are_cut_and_small_buffers_refused),
        cmocka_unit_test(test_sampling_and_shed),
        cmocka_unit_test(test_wall_clock_from_the_monotonic_reading),
        cmocka_unit_test(test_buffer_reopen_close_lose_nothing),
        cmocka_unit_test(test_unopenable_file_is_an_error),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
