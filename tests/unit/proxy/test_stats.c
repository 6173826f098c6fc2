#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "stats.h"

static char path[64];

static int setup(void **state)
{
    snprintf(path, sizeof(path), "/tmp/sluice-test-stats-%d", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

/* Only what the segment reads of a config: the names. */
static struct sl_config *fake_config(struct sl_backend_config *backends, size_t backend_count,
                                     struct sl_class_config *classes, size_t class_count)
{
    static struct sl_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.backends = backends;
    cfg.backend_count = backend_count;
    cfg.classes = classes;
    cfg.class_count = class_count;
    return &cfg;
}

static struct sl_config *two_by_two(void)
{
    static struct sl_backend_config backends[2] = {{.name = "bidders"}, {.name = "analytics"}};
    static struct sl_class_config classes[2] = {{.name = "critical"}, {.name = "bulk"}};
    return fake_config(backends, 2, classes, 2);
}

static void write_slot(struct sl_stats_worker *w, uint64_t pid, uint64_t n)
{
    w->pid = pid;
    w->connections_open = n;
    w->overload_level = n;
    w->backends[1].inflight = n;
    w->counts[1][0].received = 10 * n;
    w->counts[1][0].shed[SL_SHED_EVICTED] = n;
    for (uint64_t i = 1; i <= n; i++) {
        sl_hist_record(&w->latency_by_class[1], 1000 * i);
        sl_hist_record(&w->latency_by_backend[0], 1000 * i);
        sl_hist_record(&w->shed_latency_by_class[0], 100 * i);
    }
}

static void test_create_open_and_sum(void **state)
{
    char err[256];
    struct sl_stats_segment *seg;
    assert_int_equal(sl_stats_create(path, two_by_two(), 3, &seg, err, sizeof(err)), 0);
    write_slot(&seg->workers[0], 100, 2);
    write_slot(&seg->workers[1], 0, 50); /* unused slot: never summed */
    write_slot(&seg->workers[2], 102, 3);

    const struct sl_stats_segment *view;
    assert_int_equal(sl_stats_open(path, &view, err, sizeof(err)), 0);
    assert_int_equal(view->header.worker_slots, 3);
    assert_int_equal(view->header.backend_count, 2);
    assert_int_equal(view->header.class_count, 2);
    assert_string_equal(view->header.backend_names[1], "analytics");
    assert_string_equal(view->header.class_names[0], "critical");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, sl_stats_size(3));

    /* the reader sees the writer's later stores: one shared mapping */
    seg->workers[0].counts[1][0].admitted = 7;
    struct sl_stats_worker *total = malloc(sizeof(*total));
    assert_non_null(total);
    sl_stats_sum(view, total);
    assert_int_equal(total->connections_open, 2 + 3);
    assert_int_equal(total->overload_level, 3); /* the worst worker's */
    assert_int_equal(total->backends[1].inflight, 2 + 3);
    assert_int_equal(total->counts[1][0].received, 20 + 30);
    assert_int_equal(total->counts[1][0].admitted, 7);
    assert_int_equal(total->counts[1][0].shed[SL_SHED_EVICTED], 2 + 3);
    assert_int_equal(total->counts[0][0].received, 0);
    /* latencies 1, 2 ms from one worker and 1, 2, 3 ms from the other: the slowest
     * is the 5th, 3 ms, within its bucket */
    assert_int_equal(sl_hist_total(&total->latency_by_class[1]), 2 + 3);
    assert_int_equal(sl_hist_total(&total->latency_by_backend[0]), 2 + 3);
    assert_int_equal(sl_hist_total(&total->latency_by_class[0]), 0);
    assert_int_equal(sl_hist_total(&total->shed_latency_by_class[0]), 2 + 3);
    assert_int_equal(sl_hist_total(&total->shed_latency_by_class[1]), 0);
    uint64_t p100 = sl_hist_percentile(&total->latency_by_class[1], 100);
    assert_true(p100 >= 3000 && p100 <= 3000 * 9 / 8);
    free(total);
    sl_stats_unmap(view);
    sl_stats_unmap(seg);
}

static void assert_open_fails(const char *reason_part)
{
    char err[256] = "";
    const struct sl_stats_segment *view = (const struct sl_stats_segment *)0x1;
    assert_int_equal(sl_stats_open(path, &view, err, sizeof(err)), -1);
    assert_non_null(strstr(err, reason_part));
    assert_ptr_equal(view, (const struct sl_stats_segment *)0x1);
}

static void patch(size_t offset, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)offset, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Config names are up to 64 bytes: two that differ only in the last one must
 * stay apart (cut to 63, they made duplicate Prometheus series). */
static void test_names_keep_all_64_bytes(void **state)
{
    static char a[65], b[65];
    memset(a, 'b', 64);
    memcpy(b, a, 64);
    b[63] = 'c';
    static struct sl_backend_config backends[2];
    backends[0].name = a;
    backends[1].name = b;
    static struct sl_class_config one = {.name = "c"};
    char err[256];
    struct sl_stats_segment *seg;
    assert_int_equal(
        sl_stats_create(path, fake_config(backends, 2, &one, 1), 1, &seg, err, sizeof(err)), 0);
    assert_string_equal(seg->header.backend_names[0], a);
    assert_string_equal(seg->header.backend_names[1], b);
    sl_stats_unmap(seg);
}

static void test_open_refuses_what_is_not_a_segment(void **state)
{
    assert_open_fails("No such file");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("listeners: []\n", f);
    fclose(f);
    assert_open_fails("is not a sluice stats segment");

    char err[256];
    struct sl_stats_segment *seg;
    assert_int_equal(sl_stats_create(path, two_by_two(), 1, &seg, err, sizeof(err)), 0);
    sl_stats_unmap(seg);
    uint32_t version = SL_STATS_VERSION + 1;
    patch(offsetof(struct sl_stats_header, version), &version, sizeof(version));
    char expected[96];
    snprintf(expected, sizeof(expected), "has stats layout version %u; this reader knows %u",
             SL_STATS_VERSION + 1, SL_STATS_VERSION);
    assert_open_fails(expected);
    version = SL_STATS_VERSION;
    patch(offsetof(struct sl_stats_header, version), &version, sizeof(version));
    assert_int_equal(truncate(path, (off_t)sl_stats_size(1) - 8), 0);
    assert_open_fails("is a damaged stats segment");
}

static void test_create_replaces_and_checks_backends(void **state)
{
    char err[256];
    struct sl_stats_segment *seg;
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("an old file\n", f);
    fclose(f);
    assert_int_equal(sl_stats_create(path, two_by_two(), 2, &seg, err, sizeof(err)), 0);
    assert_int_equal(seg->workers[1].pid, 0);
    sl_stats_unmap(seg);

    static struct sl_backend_config many[SL_STATS_MAX_BACKENDS + 1];
    static struct sl_class_config one = {.name = "c"};
    assert_int_equal(sl_stats_create(path, fake_config(many, SL_STATS_MAX_BACKENDS + 1, &one, 1), 1,
                                     &seg, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "at most 64 backends"));
    snprintf(err, sizeof(err), "%s", "");
    assert_int_equal(
        sl_stats_create("/nonexistent-dir/x.stats", two_by_two(), 1, &seg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x.stats"));
}

/* The segment shows client addresses: not world-readable. Its temporary name
 * cannot be guessed, so a link planted where one would look for it (the
 * predictable name it was once made under, path.PID.tmp) is never written
 * through. */
static void test_create_is_private_and_follows_no_link(void **state)
{
    char err[256], planted[128], victim[128];
    snprintf(victim, sizeof(victim), "%s.victim", path);
    snprintf(planted, sizeof(planted), "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("keep me\n", f);
    fclose(f);
    assert_int_equal(symlink(victim, planted), 0);
    struct sl_stats_segment *seg;
    assert_int_equal(sl_stats_create(path, two_by_two(), 1, &seg, err, sizeof(err)), 0);
    sl_stats_unmap(seg);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_size, 8);
    unlink(planted);
    unlink(victim);
}

/* ---- the connection table ---- */

struct writer {
    struct sl_stats_conn *row;
    volatile int stop;
};

/* Keeps rewriting the row so that its figures always agree with each other. */
static void *rewrite_row(void *arg)
{
    struct writer *wr = arg;
    for (uint64_t k = 1; !wr->stop; k++) {
        sl_stats_conn_begin(wr->row);
        wr->row->id = k;
        wr->row->streams_open = k;
        wr->row->requests = k;
        wr->row->bytes_in = k;
        wr->row->bytes_out = k;
        snprintf(wr->row->peer, sizeof(wr->row->peer), "%llu", (unsigned long long)k);
        sl_stats_conn_end(wr->row);
        sched_yield(); /* a worker does other things between updates */
    }
    return NULL;
}

static void test_rows_read_whole_under_a_concurrent_writer(void **state)
{
    static struct sl_stats_worker w;
    memset(&w, 0, sizeof(w));
    uint32_t hint = 0;
    struct writer wr = {.row = sl_stats_conn_claim(&w, &hint)};
    assert_non_null(wr.row);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, rewrite_row, &wr), 0);
    unsigned whole = 0;
    /* until enough reads came out whole, many of them racing a write */
    for (long i = 0; i < 100000000 && whole < 500000; i++) {
        struct sl_stats_conn copy;
        if (!sl_stats_conn_read(wr.row, &copy))
            continue;
        whole++;
        char peer[32];
        snprintf(peer, sizeof(peer), "%llu", (unsigned long long)copy.id);
        /* a torn copy would mix two writes */
        assert_int_equal(copy.streams_open, copy.id);
        assert_int_equal(copy.requests, copy.id);
        assert_int_equal(copy.bytes_in, copy.id);
        assert_int_equal(copy.bytes_out, copy.id);
        assert_string_equal(copy.peer, peer);
    }
    wr.stop = 1;
    pthread_join(thread, NULL);
    assert_int_equal(whole, 500000);
}

static void test_claim_release_and_overflow(void **state)
{
    static struct sl_stats_worker w;
    memset(&w, 0, sizeof(w));
    uint32_t hint = 0;
    struct sl_stats_conn *rows[SL_STATS_CONN_ROWS];
    for (int i = 0; i < SL_STATS_CONN_ROWS; i++) {
        rows[i] = sl_stats_conn_claim(&w, &hint);
        assert_non_null(rows[i]);
        sl_stats_conn_begin(rows[i]);
        rows[i]->id = (uint64_t)i + 1;
        sl_stats_conn_end(rows[i]);
    }
    assert_null(sl_stats_conn_claim(&w, &hint)); /* full: counted, not shown */
    assert_int_equal(w.conns_untracked, 1);
    sl_stats_conn_release(rows[7]);
    struct sl_stats_conn copy;
    assert_false(sl_stats_conn_read(rows[7], &copy)); /* a free row reads as nothing */
    assert_ptr_equal(sl_stats_conn_claim(&w, &hint), rows[7]);
    assert_true(sl_stats_conn_read(rows[8], &copy));
    assert_int_equal(copy.id, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open_and_sum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_keep_all_64_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_what_is_not_a_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_replaces_and_checks_backends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_is_private_and_follows_no_link, setup,
                                        teardown),
        cmocka_unit_test(test_rows_read_whole_under_a_concurrent_writer),
        cmocka_unit_test(test_claim_release_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
