/* The cleartext front's own write path (front.h): a write the socket takes
 * only in part leaves the rest queued, in order, for sl_front_write_out. The
 * socket is one end of a socketpair with a small send buffer that the test
 * reads only when it wants the writer to make progress. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "front.h"

#define FIRST_BYTES (512 * 1024)
#define SECOND_BYTES (64 * 1024)

struct fixture {
    struct event_base *base;
    struct bufferevent *bev;
    int peer; /* the client's end */
    struct sl_front front;
    uint8_t *sent;
    size_t sent_len;
    uint8_t *received;
    size_t received_len;
};

static void set_small_buffers(int fd)
{
    int bytes = 4096;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    set_small_buffers(fds[0]);
    set_small_buffers(fds[1]);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->bev = bufferevent_socket_new(f->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(f->bev);
    f->peer = fds[1];
    f->front.is_tls = false;
    f->sent = malloc(FIRST_BYTES + SECOND_BYTES);
    f->received = malloc(FIRST_BYTES + SECOND_BYTES);
    assert_non_null(f->sent);
    assert_non_null(f->received);
    /* a pattern whose every 4 KiB differs, so a reordered piece shows */
    for (size_t i = 0; i < FIRST_BYTES + SECOND_BYTES; i++)
        f->sent[i] = (uint8_t)(i * 7 + i / 4096);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bufferevent_free(f->bev);
    event_base_free(f->base);
    close(f->peer);
    free(f->sent);
    free(f->received);
    free(f);
    return 0;
}

static size_t queued(const struct fixture *f)
{
    return evbuffer_get_length(bufferevent_get_output(f->bev));
}

/* Reads what the socket holds for the client now. */
static void read_peer(struct fixture *f)
{
    while (f->received_len < FIRST_BYTES + SECOND_BYTES) {
        ssize_t n = read(f->peer, f->received + f->received_len,
                         FIRST_BYTES + SECOND_BYTES - f->received_len);
        if (n <= 0) {
            assert_true(n < 0 && errno == EAGAIN);
            return;
        }
        f->received_len += (size_t)n;
    }
}

static void send_part(struct fixture *f, size_t len)
{
    assert_true(sl_front_write_or_queue(&f->front, f->bev, f->sent + f->sent_len, len));
    f->sent_len += len;
}

/* Reads on the client's side and writes the queue out until it is empty; the
 * client then holds every byte sent, in order. */
static void drain_to_peer(struct fixture *f)
{
    for (int turns = 0; queued(f) > 0; turns++) {
        assert_true(turns < 100000);
        read_peer(f);
        assert_true(sl_front_write_out(&f->front, f->bev));
    }
    read_peer(f);
    assert_int_equal(f->received_len, f->sent_len);
    assert_memory_equal(f->received, f->sent, f->sent_len);
}

static void test_the_rest_of_a_partial_write_is_queued(void **state)
{
    struct fixture *f = *state;
    send_part(f, FIRST_BYTES);
    size_t left = queued(f);
    assert_true(left > 0 && left < FIRST_BYTES); /* part went out, part waits */
    read_peer(f);
    assert_int_equal(f->received_len + left, FIRST_BYTES);
    drain_to_peer(f);
}

static void test_bytes_sent_while_some_wait_go_after_them(void **state)
{
    struct fixture *f = *state;
    send_part(f, FIRST_BYTES);
    size_t left = queued(f);
    assert_true(left > 0);
    read_peer(f); /* the socket has room again: a direct write would jump the queue */
    send_part(f, SECOND_BYTES);
    assert_int_equal(queued(f), left + SECOND_BYTES);
    drain_to_peer(f);
}

static void test_a_write_the_socket_takes_whole_queues_nothing(void **state)
{
    struct fixture *f = *state;
    send_part(f, 1000);
    assert_int_equal(queued(f), 0);
    read_peer(f);
    assert_int_equal(f->received_len, 1000);
    assert_memory_equal(f->received, f->sent, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_rest_of_a_partial_write_is_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bytes_sent_while_some_wait_go_after_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_write_the_socket_takes_whole_queues_nothing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
