/* proxy/http/h2_mem.c: blocks of every size are aligned and hold what they
 * were asked for, freed blocks are reused, calloc and realloc keep their
 * promises, and an nghttp2 session runs on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "h2_mem.h"

static nghttp2_mem *mem;

static void *take(size_t size)
{
    void *p = mem->malloc(size, mem->mem_user_data);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
    return p;
}

static void give(void *p)
{
    mem->free(p, mem->mem_user_data);
}

static int teardown(void **state)
{
    (void)state;
    sl_h2_mem_release();
    return 0;
}

/* Every byte asked for can be written (AddressSanitizer would see one past
 * a block's class), up to sizes no class holds. */
static void test_every_size_is_aligned_and_whole(void **state)
{
    (void)state;
    for (size_t size = 0; size <= 5000; size += size < 300 ? 1 : 97) {
        uint8_t *p = take(size);
        memset(p, 0xab, size);
        give(p);
    }
}

static void test_a_freed_block_is_taken_again(void **state)
{
    (void)state;
    void *a = take(100);
    give(a);
    /* had a gone back to malloc, malloc would hand its chunk out here */
    void *other = malloc(128);
    assert_non_null(other);
    void *b = take(90); /* the same class */
    assert_ptr_equal(a, b);
    give(b);
    free(other);
}

static void test_calloc_zeroes_a_reused_block(void **state)
{
    (void)state;
    uint8_t *p = take(200);
    memset(p, 0xff, 200);
    give(p);
    uint8_t *q = mem->calloc(10, 20, mem->mem_user_data);
    assert_ptr_equal(p, q);
    for (size_t i = 0; i < 200; i++)
        assert_int_equal(q[i], 0);
    give(q);
    assert_null(mem->calloc(SIZE_MAX / 2, 4, mem->mem_user_data));
    /* sizes whose header would wrap the request to malloc */
    assert_null(mem->malloc(SIZE_MAX, mem->mem_user_data));
    void *large = take(9000);
    assert_null(mem->realloc(large, SIZE_MAX - 4, mem->mem_user_data));
    give(large); /* still the caller's after a failed realloc */
}

/* Across classes, into a size no class holds, and back. */
static void test_realloc_keeps_the_bytes(void **state)
{
    (void)state;
    const size_t sizes[] = {10, 40, 500, 3000, 9000, 20000, 700, 5};
    uint8_t *p = mem->realloc(NULL, 1, mem->mem_user_data);
    assert_non_null(p);
    p[0] = 0;
    size_t filled = 1;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        p = mem->realloc(p, sizes[i], mem->mem_user_data);
        assert_non_null(p);
        size_t kept = filled < sizes[i] ? filled : sizes[i];
        for (size_t j = 0; j < kept; j++)
            assert_int_equal(p[j], (uint8_t)j);
        for (size_t j = 0; j < sizes[i]; j++)
            p[j] = (uint8_t)j;
        filled = sizes[i];
    }
    give(p);
    give(NULL);
}

/* More blocks than a class keeps: the extra go back to malloc, and every
 * one can be taken and freed again. */
static void test_a_burst_larger_than_what_is_kept(void **state)
{
    (void)state;
    enum { N = SL_H2_MEM_KEEP + 50 };
    static void *blocks[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            blocks[i] = take(1000);
            memset(blocks[i], i, 1000);
        }
        for (int i = 0; i < N; i++)
            give(blocks[i]);
    }
}

/* The server answers each request with a 204 as its head arrives. */
static int answer(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    static const nghttp2_nv status = {(uint8_t *)":status", (uint8_t *)"204", 7, 3,
                                      NGHTTP2_NV_FLAG_NONE};
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        assert_int_equal(nghttp2_submit_response(session, frame->hd.stream_id, &status, 1, NULL),
                         0);
    return 0;
}

static int count_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                       void *user_data)
{
    assert_int_equal(error_code, NGHTTP2_NO_ERROR);
    if (user_data != NULL) /* the client's count */
        ++*(int *)user_data;
    return 0;
}

/* What one session has to send, into the other. */
static void pump(nghttp2_session *from, nghttp2_session *to)
{
    const uint8_t *data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(from, &data)) > 0)
        assert_int_equal(nghttp2_session_mem_recv(to, data, (size_t)n), n);
    assert_int_equal(n, 0);
}

/* Requests from a client session through a server session and back, both
 * on this allocator: streams, queued items and field copies come and go. */
static void test_sessions_run_on_it(void **state)
{
    (void)state;
    nghttp2_session_callbacks *cbs;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, answer);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, count_close);
    int closed = 0;
    nghttp2_session *client, *server;
    assert_int_equal(nghttp2_session_client_new3(&client, cbs, &closed, NULL, mem), 0);
    assert_int_equal(nghttp2_session_server_new3(&server, cbs, NULL, NULL, mem), 0);
    assert_int_equal(nghttp2_submit_settings(client, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    assert_int_equal(nghttp2_submit_settings(server, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    const nghttp2_nv head[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)"/bid", 5, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)"x", 10, 1, NGHTTP2_NV_FLAG_NONE},
    };
    for (int i = 0; i < 500; i++) {
        assert_true(nghttp2_submit_request(client, NULL, head, 4, NULL, NULL) > 0);
        pump(client, server);
        pump(server, client);
    }
    assert_int_equal(closed, 500);
    nghttp2_session_del(client);
    nghttp2_session_del(server);
    nghttp2_session_callbacks_del(cbs);
}

int main(void)
{
    mem = sl_h2_mem();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_every_size_is_aligned_and_whole, teardown),
        cmocka_unit_test_teardown(test_a_freed_block_is_taken_again, teardown),
        cmocka_unit_test_teardown(test_calloc_zeroes_a_reused_block, teardown),
        cmocka_unit_test_teardown(test_realloc_keeps_the_bytes, teardown),
        cmocka_unit_test_teardown(test_a_burst_larger_than_what_is_kept, teardown),
        cmocka_unit_test_teardown(test_sessions_run_on_it, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
