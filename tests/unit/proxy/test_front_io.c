/* A front's own reads and writes (front_io.h), cleartext and TLS: a write the
 * socket takes only in part leaves the rest queued, in order, for
 * sl_front_write_out; over TLS the client decrypts every byte in order, the
 * plaintext stage is sealed only while the socket takes it, and what OpenSSL
 * read ahead is reported as pending. The socket is one end of a socketpair
 * with small buffers, which the test reads only when it wants the writer to
 * make progress; the TLS client is OpenSSL's, on the other end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "front.h"
#include "front_io.h"
#include "tls.h"

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
    /* TLS only */
    char dir[64]; /* the certificate and key files */
    SSL_CTX *server_ctx;
    SSL_CTX *client_ctx;
    SSL *client; /* on peer */
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
    if (f->client != NULL) {
        SSL_free(f->client);
        SSL_free(f->front.ssl);
        if (f->front.tls_plain != NULL)
            evbuffer_free(f->front.tls_plain);
        SSL_CTX_free(f->client_ctx);
        SSL_CTX_free(f->server_ctx);
        char path[96];
        snprintf(path, sizeof(path), "%s/cert.pem", f->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/key.pem", f->dir);
        unlink(path);
        rmdir(f->dir);
    }
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

/* What the TLS client can decrypt now. */
static void read_peer_tls(struct fixture *f)
{
    while (f->received_len < FIRST_BYTES + SECOND_BYTES) {
        size_t n;
        if (SSL_read_ex(f->client, f->received + f->received_len,
                        FIRST_BYTES + SECOND_BYTES - f->received_len, &n) != 1) {
            assert_int_equal(SSL_get_error(f->client, 0), SSL_ERROR_WANT_READ);
            return;
        }
        f->received_len += n;
    }
}

/* Reads what the socket holds for the client now. */
static void read_peer(struct fixture *f)
{
    if (f->client != NULL) {
        read_peer_tls(f);
        return;
    }
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

static size_t staged(const struct fixture *f)
{
    return f->front.tls_plain != NULL ? evbuffer_get_length(f->front.tls_plain) : 0;
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
    for (int turns = 0; queued(f) > 0 || staged(f) > 0; turns++) {
        assert_true(turns < 100000);
        read_peer(f);
        assert_true(sl_front_write_out(&f->front, f->bev));
        /* nothing waits in the stage unless the socket is full: no write
         * event would come to seal it */
        assert_true(queued(f) > 0 || staged(f) == 0);
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

/* --- TLS --- */

/* A self-signed P-256 certificate and its key, as PEM files in f->dir. */
static void write_certificate(struct fixture *f, char *cert, char *key, size_t len)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_front_io.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(cert, len, "%s/cert.pem", f->dir);
    snprintf(key, len, "%s/key.pem", f->dir);
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(pkey);
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    FILE *out = fopen(cert, "w");
    assert_non_null(out);
    assert_int_equal(PEM_write_X509(out, x), 1);
    fclose(out);
    out = fopen(key, "w");
    assert_non_null(out);
    assert_int_equal(PEM_write_PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL), 1);
    fclose(out);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

/* Both ends step until both are done; the server's bytes leave through the
 * front's output as everything it sends does. */
static void handshake(struct fixture *f)
{
    for (int turns = 0; turns < 100; turns++) {
        int client = SSL_do_handshake(f->client);
        int server = sl_tls_handshake_step(f->front.ssl, "test");
        assert_true(server >= 0);
        assert_true(sl_front_write_out(&f->front, f->bev));
        if (client == 1 && server == 1)
            return;
        assert_true(client == 1 || SSL_get_error(f->client, client) == SSL_ERROR_WANT_READ);
    }
    fail_msg("the handshake did not end");
}

/* The cleartext fixture with a TLS session on it, through the listener's own
 * context (sl_tls_server_ctx), handshake done. */
static int setup_tls(void **state)
{
    setup(state);
    struct fixture *f = *state;
    char cert[96], key[96], err[256];
    write_certificate(f, cert, key, sizeof(cert));
    f->server_ctx = sl_tls_server_ctx(cert, key, err, sizeof(err));
    assert_non_null(f->server_ctx);
    f->client_ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(f->client_ctx);
    f->front.ssl = sl_tls_session_new(f->server_ctx, f->bev);
    assert_non_null(f->front.ssl);
    snprintf(f->front.peer, sizeof(f->front.peer), "test");
    f->client = SSL_new(f->client_ctx);
    assert_non_null(f->client);
    assert_int_equal(SSL_set_fd(f->client, f->peer), 1);
    SSL_set_connect_state(f->client);
    handshake(f);
    return 0;
}

/* The same as the cleartext front's, with the TLS client reading. */
static void test_tls_the_rest_of_a_partial_write_is_queued(void **state)
{
    struct fixture *f = *state;
    send_part(f, FIRST_BYTES);
    assert_true(queued(f) > 0); /* the socket holds a few KiB: the records wait */
    send_part(f, SECOND_BYTES); /* sealed behind them */
    drain_to_peer(f);
}

/* HTTP/1.1 adds to the plaintext stage; a write-out seals it only while the
 * socket takes the records, so what waits as records stays within one. */
static void test_tls_stage_is_sealed_as_the_socket_takes_it(void **state)
{
    struct fixture *f = *state;
    f->front.tls_plain = evbuffer_new();
    assert_non_null(f->front.tls_plain);
    struct evbuffer *out = sl_front_output(&f->front, f->bev);
    assert_ptr_equal(out, f->front.tls_plain);
    assert_int_equal(evbuffer_add(out, f->sent, FIRST_BYTES), 0);
    f->sent_len = FIRST_BYTES;
    assert_int_equal(sl_front_output_length(&f->front, f->bev), FIRST_BYTES);
    assert_true(sl_front_write_out(&f->front, f->bev));
    assert_true(queued(f) > 0);
    assert_true(queued(f) <= 16384 + 256); /* one record, and its overhead */
    assert_true(staged(f) >= FIRST_BYTES - 2 * 16384);
    /* bytes for the socket while the stage holds some go behind them */
    size_t before = staged(f);
    assert_true(sl_front_write_or_queue(&f->front, f->bev, f->sent + FIRST_BYTES, SECOND_BYTES));
    f->sent_len += SECOND_BYTES;
    assert_int_equal(staged(f), before + SECOND_BYTES);
    drain_to_peer(f);
    assert_int_equal(sl_front_output_length(&f->front, f->bev), 0);
}

static void client_sends(struct fixture *f, const uint8_t *data, size_t len)
{
    size_t written;
    assert_int_equal(SSL_write_ex(f->client, data, len, &written), 1);
    assert_int_equal(written, len);
}

/* Three records that arrive together: OpenSSL reads them in one go, and says
 * so (no read event would), one record's plaintext a read. */
static void test_tls_records_read_ahead_are_pending(void **state)
{
    struct fixture *f = *state;
    int fd = bufferevent_getfd(f->bev);
    for (int i = 0; i < 3; i++)
        client_sends(f, f->sent + i * 1000, 1000);
    const uint8_t *data;
    size_t got = 0;
    for (int i = 0; i < 3; i++) {
        ssize_t n = sl_front_read(&f->front, fd, SL_FRONT_READ_BYTES, &data);
        assert_true(n > 0);
        assert_memory_equal(data, f->sent + got, (size_t)n);
        got += (size_t)n;
        assert_int_equal(sl_front_has_pending(&f->front), got < 3000);
    }
    assert_int_equal(got, 3000);
    assert_int_equal(sl_front_read(&f->front, fd, SL_FRONT_READ_BYTES, &data), -1);
    assert_int_equal(errno, EAGAIN);
}

/* close_notify and a bare close both end the stream, as read(2)'s 0. */
static void test_tls_end_of_stream_reads_zero(void **state)
{
    struct fixture *f = *state;
    int fd = bufferevent_getfd(f->bev);
    const uint8_t *data;
    client_sends(f, f->sent, 100);
    assert_int_equal(SSL_shutdown(f->client), 0); /* close_notify sent */
    assert_int_equal(sl_front_read(&f->front, fd, SL_FRONT_READ_BYTES, &data), 100);
    assert_int_equal(sl_front_read(&f->front, fd, SL_FRONT_READ_BYTES, &data), 0);
}

static void test_tls_close_without_close_notify_reads_zero(void **state)
{
    struct fixture *f = *state;
    int fd = bufferevent_getfd(f->bev);
    const uint8_t *data;
    client_sends(f, f->sent, 100);
    shutdown(f->peer, SHUT_WR);
    assert_int_equal(sl_front_read(&f->front, fd, SL_FRONT_READ_BYTES, &data), 100);
    assert_int_equal(sl_front_read(&f->front, fd, SL_FRONT_READ_BYTES, &data), 0);
    assert_int_equal(ERR_peek_error(), 0); /* nothing left for the next session to misread */
}

/* A record that does not decrypt fails the read, and clears OpenSSL's queue. */
static void test_tls_corrupt_record_fails_the_read(void **state)
{
    struct fixture *f = *state;
    int fd = bufferevent_getfd(f->bev);
    const uint8_t *data;
    /* application data record with a body of garbage */
    static const uint8_t record[5 + 40] = {0x17, 0x03, 0x03, 0x00, 40, 1, 2, 3};
    assert_int_equal(write(f->peer, record, sizeof(record)), (ssize_t)sizeof(record));
    assert_int_equal(sl_front_read(&f->front, fd, SL_FRONT_READ_BYTES, &data), -1);
    assert_int_equal(errno, EPROTO);
    assert_int_equal(ERR_peek_error(), 0);
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
        cmocka_unit_test_setup_teardown(test_tls_the_rest_of_a_partial_write_is_queued, setup_tls,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_stage_is_sealed_as_the_socket_takes_it, setup_tls,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_records_read_ahead_are_pending, setup_tls,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_end_of_stream_reads_zero, setup_tls, teardown),
        cmocka_unit_test_setup_teardown(test_tls_close_without_close_notify_reads_zero, setup_tls,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_corrupt_record_fails_the_read, setup_tls,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
