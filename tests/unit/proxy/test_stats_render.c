/* The JSON and Prometheus renderings of a hand-built segment: figures in the
 * right places, valid structure, histograms cumulative and consistent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stats.h"
#include "stats_render.h"

static struct sl_stats_segment *seg;
static struct sl_stats_worker *total;

static int setup(void **state)
{
    static struct sl_backend_config backends[1] = {{.name = "bidders"}};
    static struct sl_class_config classes[2] = {{.name = "critical"}, {.name = "bulk"}};
    static struct sl_config cfg;
    cfg.backends = backends;
    cfg.backend_count = 1;
    cfg.classes = classes;
    cfg.class_count = 2;
    char err[256];
    if (sl_stats_create(NULL, &cfg, 2, &seg, err, sizeof(err)) != 0)
        return -1;
    struct sl_stats_worker *w = &seg->workers[0];
    w->pid = 42;
    w->connections_open = 3;
    w->counts[0][0].received = 10;
    w->counts[0][0].admitted = 9;
    w->counts[0][0].shed[SL_SHED_DEADLINE] = 1;
    w->counts[0][1].received = 5;
    w->counts[0][1].shed[SL_SHED_QUEUE_FULL] = 5;
    w->counts[0][0].responses[1] = 9; /* 2xx */
    w->backends[0].limit = 16;
    w->backends[0].knee = 12;
    w->backends[0].no_load_us = 4500;
    w->backends[0].probing = 1;
    w->backends[0].connect_errors = 2;
    w->counts[0][1].queued = 3;
    w->counts[0][1].backlog_us = 7500;
    seg->workers[1].counts[0][1].queued = 2;
    seg->workers[1].counts[0][1].backlog_us = 2000;
    seg->workers[1].backends[0].no_load_us = 4000;
    w->accepted[SL_PROTO_H2_TLS] = 4;
    seg->workers[1].pid = 43; /* a second worker, idle */
    seg->workers[1].accepted[SL_PROTO_H2_TLS] = 1;
    sl_hist_record(&w->latency_by_class[0], 1500);                  /* 1.5 ms */
    sl_hist_record(&w->latency_by_class[0], 40000);                 /* 40 ms */
    sl_hist_record(&w->shed_latency_by_class[1], 600);              /* 0.6 ms */
    sl_hist_record(&seg->workers[1].shed_latency_by_class[1], 300); /* the other worker's */
    total = malloc(sizeof(*total));
    if (total == NULL)
        return -1;
    sl_stats_sum(seg, total);
    return 0;
}

static int teardown(void **state)
{
    free(total);
    sl_stats_unmap(seg);
    return 0;
}

static char *render(void (*fn)(FILE *, const struct sl_stats_segment *,
                               const struct sl_stats_worker *))
{
    /* the stream's pointer lives on the heap: gcc 12 at -O2 takes a returned copy of a
     * local that open_memstream wrote through for a dangling pointer */
    struct memstream {
        char *text;
        size_t len;
    } *ms = calloc(1, sizeof(*ms));
    assert_non_null(ms);
    FILE *out = open_memstream(&ms->text, &ms->len);
    assert_non_null(out);
    fn(out, seg, total);
    assert_int_equal(fclose(out), 0);
    char *text = ms->text;
    free(ms);
    return text;
}

static void test_json_holds_the_figures(void **state)
{
    char *text = render(sl_stats_render_json);
    assert_non_null(strstr(text, "\"workers\":2,"));
    assert_non_null(strstr(text, "\"accepted\":{\"h2c\":0,\"h2\":5,\"http1\":0,\"http1_tls\":0}"));
    assert_non_null(strstr(text, "\"per_worker\":[{\"slot\":0,\"pid\":42,"));
    assert_non_null(strstr(text, "},{\"slot\":1,\"pid\":43,"));
    assert_non_null(strstr(text, "\"limit\":16,\"knee\":12,\"no_load_ms\":4.500,\"probing\":1,"
                                 "\"connect_errors\":2,\"timeouts\":0,"));
    assert_non_null(strstr(text, "\"connections_open\":3,"));
    assert_non_null(
        strstr(text, "{\"name\":\"bidders\",\"inflight\":0,\"queued\":0,\"limit\":16,"));
    assert_non_null(strstr(text, "{\"name\":\"critical\",\"received\":10,\"admitted\":9,"
                                 "\"cancelled\":0,\"queued\":0,\"backlog_ms\":0.0,"
                                 "\"shed\":{\"queue_full\":0,\"queue_timeout\":0,"
                                 "\"deadline\":1,\"overload\":0,\"evicted\":0,\"backlog\":0},"
                                 "\"responses\":"
                                 "{\"1xx\":0,\"2xx\":9,\"3xx\":0,\"4xx\":0,\"5xx\":0}}"));
    /* two samples: p50 holds 1.5 ms, p99 the 40 ms one, as bucket upper bounds */
    const char *crit = strstr(text, "\"classes\":[{\"name\":\"critical\",\"responses\":2,");
    assert_non_null(crit);
    double p50, p99;
    assert_int_equal(sscanf(strstr(crit, "\"p50_ms\":"), "\"p50_ms\":%lf", &p50), 1);
    assert_int_equal(sscanf(strstr(crit, "\"p99_ms\":"), "\"p99_ms\":%lf", &p99), 1);
    assert_true(p50 >= 1.5 && p50 <= 1.5 * 1.125);
    assert_true(p99 >= 40 && p99 <= 40 * 1.125);
    assert_non_null(strstr(text, "{\"name\":\"bulk\",\"responses\":0,\"p50_ms\":null,"));
    /* the shed answers, summed over the workers: 0.3 and 0.6 ms */
    assert_non_null(strstr(crit, "\"shed_answers\":0,\"shed_p50_ms\":null,"));
    const char *bulk = strstr(crit, "{\"name\":\"bulk\",");
    assert_non_null(bulk);
    double shed_p50, shed_p99;
    assert_non_null(strstr(bulk, ",\"shed_answers\":2,\"shed_p50_ms\":"));
    assert_int_equal(sscanf(strstr(bulk, "\"shed_p50_ms\":"), "\"shed_p50_ms\":%lf", &shed_p50), 1);
    assert_int_equal(sscanf(strstr(bulk, "\"shed_p99_ms\":"), "\"shed_p99_ms\":%lf", &shed_p99), 1);
    assert_true(shed_p50 >= 0.3 && shed_p50 <= 0.3 * 1.125);
    assert_true(shed_p99 >= 0.6 && shed_p99 <= 0.6 * 1.125);
    /* balanced braces and brackets, one trailing newline */
    int depth = 0;
    for (const char *p = text; *p; p++) {
        depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
        assert_true(depth >= 0);
    }
    assert_int_equal(depth, 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
}

static uint64_t sample(const char *text, const char *line_start)
{
    const char *at = strstr(text, line_start);
    assert_non_null(at);
    return strtoull(at + strlen(line_start), NULL, 10);
}

static void test_prometheus_families_and_histograms(void **state)
{
    char *text = render(sl_stats_render_prometheus);
    assert_non_null(strstr(text, "# HELP sluice_requests_received_total "));
    assert_non_null(strstr(text, "# TYPE sluice_requests_received_total counter\n"));
    assert_int_equal(
        sample(text, "sluice_requests_received_total{backend=\"bidders\",class=\"bulk\"} "), 5);
    assert_int_equal(sample(text, "sluice_backend_connect_errors_total{backend=\"bidders\"} "), 2);
    assert_int_equal(sample(text, "sluice_connections_accepted_total{protocol=\"h2\"} "), 5);
    assert_int_equal(sample(text, "\nsluice_workers "), 2); /* the sample, not its HELP */
    assert_int_equal(sample(text, "sluice_backend_knee{backend=\"bidders\"} "), 12);
    /* summed over workers, but the worst worker's latency and backlog */
    assert_int_equal(sample(text, "sluice_backend_no_load_microseconds{backend=\"bidders\"} "),
                     4500);
    assert_int_equal(sample(text, "sluice_class_queued{backend=\"bidders\",class=\"bulk\"} "), 5);
    assert_int_equal(
        sample(text, "sluice_class_backlog_microseconds{backend=\"bidders\",class=\"bulk\"} "),
        7500);
    assert_int_equal(sample(text, "sluice_requests_shed_total{backend=\"bidders\",class=\"bulk\","
                                  "reason=\"queue_full\"} "),
                     5);
    assert_int_equal(sample(text, "sluice_responses_total{backend=\"bidders\",class=\"critical\","
                                  "code=\"2xx\"} "),
                     9);
    /* the histogram: 1.5 ms and 40 ms, cumulative at power-of-two µs bounds */
    const char *name = "sluice_response_latency_seconds_bucket{class=\"critical\",le=\"";
    assert_int_equal(sample(text, "sluice_response_latency_seconds_bucket{class=\"critical\","
                                  "le=\"0.001023\"} "),
                     0);
    assert_int_equal(sample(text, "sluice_response_latency_seconds_bucket{class=\"critical\","
                                  "le=\"0.002047\"} "),
                     1);
    assert_int_equal(sample(text, "sluice_response_latency_seconds_bucket{class=\"critical\","
                                  "le=\"0.065535\"} "),
                     2);
    assert_int_equal(sample(text, "sluice_response_latency_seconds_bucket{class=\"critical\","
                                  "le=\"+Inf\"} "),
                     2);
    assert_int_equal(sample(text, "sluice_response_latency_seconds_count{class=\"critical\"} "), 2);
    uint64_t previous = 0;
    for (const char *p = strstr(text, name); p != NULL; p = strstr(p + 1, name)) {
        uint64_t count = strtoull(strchr(p, '}') + 2, NULL, 10);
        assert_true(count >= previous); /* cumulative */
        previous = count;
    }
    assert_int_equal(previous, 2);
    assert_non_null(strstr(text, "# TYPE sluice_shed_answer_latency_seconds histogram\n"));
    assert_int_equal(sample(text, "sluice_shed_answer_latency_seconds_bucket{class=\"bulk\","
                                  "le=\"0.000511\"} "),
                     1);
    assert_int_equal(sample(text, "sluice_shed_answer_latency_seconds_count{class=\"bulk\"} "), 2);
    assert_int_equal(sample(text, "sluice_shed_answer_latency_seconds_count{class=\"critical\"} "),
                     0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
}

/* A listener named by a Unix path that is not UTF-8 still gives valid JSON. */
static void test_connections_json_stays_valid_utf8(void **state)
{
    snprintf(seg->header.listener_names[0], SL_STATS_LISTENER_BYTES, "unix:/run/s\xff\"\xc3\xa9");
    seg->header.listener_count = 1;
    struct sl_stats_conn *row = &seg->workers[0].conns[0];
    row->id = 7;
    snprintf(row->peer, sizeof(row->peer), "127.0.0.1:4000");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    sl_stats_render_connections(out, seg, NULL, 0);
    assert_int_equal(fclose(out), 0);
    /* the stray byte replaced, the quote escaped, the valid é kept as it is */
    assert_non_null(strstr(text, "\"listener\":\"unix:/run/s\\ufffd\\\"\xc3\xa9\""));
    assert_non_null(strstr(text, "\"peer\":\"127.0.0.1:4000\""));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_holds_the_figures),
        cmocka_unit_test(test_prometheus_families_and_histograms),
        cmocka_unit_test(test_connections_json_stays_valid_utf8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
