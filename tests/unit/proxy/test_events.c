/* The event sink over a real Unix datagram socket: what one flush sends after
 * the slot's counters moved, deltas only at the next, the reservoir's @rate,
 * DogStatsD tags, and drops while nobody listens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "config.h"
#include "config_fixture.h"
#include "events.h"
#include "stats.h"

struct world {
    struct event_base *base;
    struct sl_config *cfg;
    struct sl_stats_worker *slot;
    struct sl_events *ev;
    int receiver;
    char sock_path[100];  /* fits sun_path */
    char received[65536]; /* every datagram of the last receive_all, '\n'-joined */
    int datagrams;
};

static struct world w;

static int bind_receiver(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", w.sock_path);
    unlink(w.sock_path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

static void open_world(const char *events_yaml)
{
    memset(&w, 0, sizeof(w));
    assert_true(strlen(cfg_dir) + 12 < sizeof(w.sock_path));
    snprintf(w.sock_path, sizeof(w.sock_path), "%.80s/events.sock", cfg_dir);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             MINIMAL "  - name: other.v2\n"
                     "    servers: [unix:/tmp/other.sock]\n"
                     "classes:\n"
                     "  - name: bid\n"
                     "  - name: bulk\n"
                     "default_class: bulk\n"
                     "events:\n"
                     "  address: unix:%s\n"
                     "%s",
             w.sock_path, events_yaml);
    w.cfg = load_ok(yaml);
    w.base = event_base_new();
    w.slot = calloc(1, sizeof(*w.slot));
    assert_non_null(w.base);
    assert_non_null(w.slot);
    w.receiver = bind_receiver();
    w.ev = sl_events_new(w.base, w.cfg, w.slot, 3);
    assert_non_null(w.ev);
}

static void close_world(void)
{
    sl_events_free(w.ev);
    if (w.receiver >= 0)
        close(w.receiver);
    unlink(w.sock_path);
    event_base_free(w.base);
    free(w.slot);
    sl_config_free(w.cfg);
}

static void receive_all(void)
{
    size_t at = 0;
    w.datagrams = 0;
    char buf[9000];
    ssize_t n;
    while ((n = recv(w.receiver, buf, sizeof(buf), 0)) > 0) {
        assert_true(at + (size_t)n + 2 < sizeof(w.received));
        memcpy(w.received + at, buf, (size_t)n);
        at += (size_t)n;
        w.received[at++] = '\n';
        w.datagrams++;
    }
    w.received[at] = '\0';
}

static bool has_line(const char *line)
{
    char needle[600];
    snprintf(needle, sizeof(needle), "%s\n", line);
    const char *p = w.received;
    size_t len = strlen(needle);
    while ((p = strstr(p, needle)) != NULL) {
        if (p == w.received || p[-1] == '\n')
            return true;
        p += len;
    }
    return false;
}

static int count_lines_starting(const char *start)
{
    int n = 0;
    for (const char *p = w.received; *p != '\0'; p = strchr(p, '\n') + 1) {
        if (strncmp(p, start, strlen(start)) == 0)
            n++;
    }
    return n;
}

static void test_counters_are_deltas_gauges_are_values(void **state)
{
    open_world("  flush_interval_ms: 60000\n");
    w.slot->counts[0][0].responses[1] = 5; /* demo, bid: 5 2xx */
    w.slot->counts[1][1].shed[0] = 2;      /* other.v2, bulk */
    w.slot->backends[0].inflight = 4;
    w.slot->backends[0].limit = 16;
    w.slot->backends[1].timeouts = 1;
    w.slot->connections_open = 9;
    sl_events_flush(w.ev);
    receive_all();
    assert_true(has_line("sluice.requests.bid.demo.2xx:5|c"));
    char shed[128];
    snprintf(shed, sizeof(shed), "sluice.shed.bulk.other_v2.%s:2|c", sl_shed_reason_name(0));
    assert_true(has_line(shed));
    assert_true(has_line("sluice.backend.demo.inflight:4|g"));
    assert_true(has_line("sluice.backend.demo.limit:16|g"));
    assert_true(has_line("sluice.backend.other_v2.timeouts:1|c"));
    assert_true(has_line("sluice.worker.3.connections:9|g"));
    assert_int_equal(count_lines_starting("sluice.requests."), 1);

    w.slot->counts[0][0].responses[1] = 7;
    sl_events_flush(w.ev);
    receive_all();
    assert_true(has_line("sluice.requests.bid.demo.2xx:2|c"));
    assert_int_equal(count_lines_starting("sluice.shed."), 0);
    assert_int_equal(count_lines_starting("sluice.backend.other_v2.timeouts"), 0);
    assert_true(has_line("sluice.backend.demo.inflight:4|g")); /* gauges every time */
    assert_int_equal(w.slot->events_dropped, 0);
    assert_true(w.slot->events_sent > 0);
    close_world();
}

/* Up to SL_EVENTS_SAMPLES values go as they are; beyond, that many go, each
 * with the rate that makes the aggregator count every response. */
static void test_latency_reservoir_and_rate(void **state)
{
    open_world("  flush_interval_ms: 60000\n");
    sl_events_sample(w.ev, 0, 0, 1500);
    sl_events_sample(w.ev, 0, 0, 2000);
    sl_events_flush(w.ev);
    receive_all();
    assert_true(has_line("sluice.latency.bid.demo:1.500|ms"));
    assert_true(has_line("sluice.latency.bid.demo:2|ms"));
    /* the later responses replace some of the first ones (one each, on average,
     * over the first SL_EVENTS_SAMPLES * ln 4 of them) */
    for (int i = 0; i < 4 * SL_EVENTS_SAMPLES; i++)
        sl_events_sample(w.ev, 1, 1, i < SL_EVENTS_SAMPLES ? 1000 : 5000);
    sl_events_flush(w.ev);
    receive_all();
    assert_int_equal(count_lines_starting("sluice.latency.bid.demo"), 0);
    int early = count_lines_starting("sluice.latency.bulk.other_v2:1|ms|@0.25");
    int late = count_lines_starting("sluice.latency.bulk.other_v2:5|ms|@0.25");
    assert_int_equal(early + late, SL_EVENTS_SAMPLES);
    assert_true(late > 0);
    assert_true(early > 0);
    close_world();
}

static void test_dogstatsd_lines_carry_tags(void **state)
{
    open_world("  flush_interval_ms: 60000\n"
               "  dogstatsd: true\n"
               "  prefix: rtb\n"
               "  tags: {env: prod, region: eu-1}\n");
    w.slot->counts[0][0].responses[1] = 1;
    sl_events_sample(w.ev, 0, 0, 3000);
    sl_events_flush(w.ev);
    receive_all();
    assert_true(
        has_line("rtb.requests:1|c|#class:bid,backend:demo,status:2xx,env:prod,region:eu-1"));
    assert_true(has_line("rtb.latency:3|d|#class:bid,backend:demo,env:prod,region:eu-1"));
    assert_true(has_line("rtb.backend.inflight:0|g|#backend:demo,env:prod,region:eu-1"));
    assert_true(has_line("rtb.worker.connections:0|g|#worker:3,env:prod,region:eu-1"));
    close_world();
}

/* Small datagrams: many of them, none over the size, no line split. */
static void test_datagrams_stay_within_max_packet_bytes(void **state)
{
    open_world("  flush_interval_ms: 60000\n"
               "  max_packet_bytes: 512\n");
    for (int i = 0; i < SL_EVENTS_SAMPLES; i++)
        sl_events_sample(w.ev, 0, 0, 1000 + (uint64_t)i);
    sl_events_flush(w.ev);
    char buf[9000];
    ssize_t n;
    int datagrams = 0;
    while ((n = recv(w.receiver, buf, sizeof(buf), 0)) > 0) {
        assert_true(n <= 512);
        assert_int_not_equal(buf[n - 1], '\n');
        datagrams++;
    }
    assert_true(datagrams > 1);
    assert_int_equal(w.slot->events_dropped, 0);
    close_world();
}

/* Nobody listening: lines are dropped and counted; a new receiver on the same
 * path gets the next flush. */
static void test_receiver_gone_counts_drops_then_resumes(void **state)
{
    open_world("  flush_interval_ms: 60000\n");
    sl_events_flush(w.ev);
    receive_all();
    uint64_t sent = w.slot->events_sent;
    close(w.receiver);
    unlink(w.sock_path);
    w.slot->counts[0][0].responses[1] = 1;
    sl_events_flush(w.ev);
    assert_true(w.slot->events_dropped > 0);
    assert_int_equal(w.slot->events_sent, sent);
    uint64_t dropped = w.slot->events_dropped;
    w.receiver = bind_receiver();
    w.slot->counts[0][0].responses[1] = 2;
    sl_events_flush(w.ev);
    receive_all();
    assert_true(has_line("sluice.requests.bid.demo.2xx:1|c"));
    assert_int_equal(w.slot->events_dropped, dropped);
    assert_true(w.slot->events_sent > sent);
    close_world();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_are_deltas_gauges_are_values),
        cmocka_unit_test(test_latency_reservoir_and_rate),
        cmocka_unit_test(test_dogstatsd_lines_carry_tags),
        cmocka_unit_test(test_datagrams_stay_within_max_packet_bytes),
        cmocka_unit_test(test_receiver_gone_counts_drops_then_resumes),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
