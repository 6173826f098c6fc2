#include "front_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "front.h"
#include "log.h"

/* TLS 1.3's largest record (RFC 8446 §5.1): the stage is sealed in pieces of
 * this, each one record. */
#define TLS_RECORD_BYTES 16384

/* Cleartext bytes, or records OpenSSL sealed, to the socket by one write(2)
 * when nothing waits, the rest queued behind what does. */
static bool send_or_queue(struct bufferevent *bev, const void *data, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    size_t sent = 0;
    if (evbuffer_get_length(out) == 0) {
        ssize_t n;
        do
            n = write(bufferevent_getfd(bev), data, len);
        while (n < 0 && errno == EINTR);
        /* an error is sl_front_write_out's to find, on the bytes queued */
        sent = n > 0 ? (size_t)n : 0;
    }
    if (sent == len)
        return true;
    return evbuffer_add(out, (const uint8_t *)data + sent, len - sent) == 0;
}

/* --- TLS: OpenSSL's output BIO is the front's output --- */

static int output_bio_write(BIO *bio, const char *data, size_t len, size_t *written)
{
    if (!send_or_queue(BIO_get_data(bio), data, len))
        return 0;
    *written = len;
    return 1;
}

static long output_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    return cmd == BIO_CTRL_FLUSH; /* what it took is out or queued already */
}

static BIO_METHOD *output_bio_method(void)
{
    static BIO_METHOD *method; /* one per process, never freed */
    if (method == NULL) {
        method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice front output");
        if (method != NULL && (BIO_meth_set_write_ex(method, output_bio_write) != 1 ||
                               BIO_meth_set_ctrl(method, output_bio_ctrl) != 1)) {
            BIO_meth_free(method);
            method = NULL;
        }
    }
    return method;
}

SSL *sl_tls_session_new(SSL_CTX *ctx, struct bufferevent *bev)
{
    BIO_METHOD *method = output_bio_method();
    SSL *ssl = method != NULL ? SSL_new(ctx) : NULL;
    BIO *in = ssl != NULL ? BIO_new_socket(bufferevent_getfd(bev), BIO_NOCLOSE) : NULL;
    BIO *out = in != NULL ? BIO_new(method) : NULL;
    if (out == NULL) {
        BIO_free(in);
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_data(out, bev);
    BIO_set_init(out, 1);
    SSL_set0_rbio(ssl, in);
    SSL_set0_wbio(ssl, out);
    SSL_set_accept_state(ssl);
    return ssl;
}

/* Logs why OpenSSL failed and empties its error queue: every failure does,
 * so a success leaves nothing there for SSL_get_error to misread, and no
 * call has to clear it first. */
static void log_failure(const char *who, const char *what, int err)
{
    int saved_errno = errno;
    char reason[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    else if (err == SSL_ERROR_SYSCALL)
        snprintf(reason, sizeof(reason), "%s", strerror(saved_errno));
    SL_DEBUG("%s: TLS %s failed (%d): %s", who, what, err, reason);
    ERR_clear_error();
    errno = saved_errno;
}

static void log_front_failure(const struct sl_front *f, const char *what, int err)
{
    char who[SL_ADDR_TEXT_MAX + 32];
    snprintf(who, sizeof(who), "conn=%llu peer=%s", (unsigned long long)f->id, f->peer);
    log_failure(who, what, err);
}

int sl_tls_handshake_step(SSL *ssl, const char *listener)
{
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return 1;
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_READ)
        return 0;
    char who[SL_ADDR_TEXT_MAX + 16];
    snprintf(who, sizeof(who), "listener %s", listener);
    log_failure(who, "handshake", err);
    return -1;
}

static ssize_t tls_read(struct sl_front *f, uint8_t *buf, size_t len)
{
    size_t got;
    if (SSL_read_ex(f->ssl, buf, len, &got) == 1)
        return (ssize_t)got;
    int err = SSL_get_error(f->ssl, 0);
    if (err == SSL_ERROR_WANT_READ) {
        errno = EAGAIN;
        return -1;
    }
    if (err == SSL_ERROR_ZERO_RETURN)
        return 0; /* close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) the end of the stream */
    if (err != SSL_ERROR_SYSCALL)
        errno = EPROTO;
    log_front_failure(f, "read", err);
    return -1;
}

/* OpenSSL's output never blocks: a write takes all of data, or the session
 * has failed. */
static bool seal(struct sl_front *f, const void *data, size_t len)
{
    size_t written;
    if (len == 0 || SSL_write_ex(f->ssl, data, len, &written) == 1)
        return true;
    log_front_failure(f, "write", SSL_get_error(f->ssl, 0));
    return false;
}

void sl_front_close_notify(struct sl_front *f)
{
    if (f->ssl != NULL && SSL_is_init_finished(f->ssl) && SSL_shutdown(f->ssl) < 0)
        ERR_clear_error();
}

/* The stage in records while the socket takes them. */
static bool seal_stage(struct sl_front *f, struct bufferevent *bev)
{
    struct evbuffer *plain = f->tls_plain;
    struct evbuffer *out = bufferevent_get_output(bev);
    while (evbuffer_get_length(plain) > 0 && evbuffer_get_length(out) == 0) {
        size_t len = evbuffer_get_length(plain);
        size_t n = len < TLS_RECORD_BYTES ? len : TLS_RECORD_BYTES;
        const uint8_t *data = evbuffer_pullup(plain, (ev_ssize_t)n);
        if (data == NULL || !seal(f, data, n))
            return false;
        evbuffer_drain(plain, n);
    }
    return true;
}

/* --- either --- */

ssize_t sl_front_read(struct sl_front *f, int fd, size_t max, const uint8_t **data)
{
    static uint8_t buf[SL_FRONT_READ_BYTES]; /* each read is taken whole before the next */
    size_t len = max < sizeof(buf) ? max : sizeof(buf);
    *data = buf;
    return f->ssl != NULL ? tls_read(f, buf, len) : read(fd, buf, len);
}

bool sl_front_has_pending(const struct sl_front *f)
{
    return f->ssl != NULL && SSL_has_pending(f->ssl);
}

struct evbuffer *sl_front_output(struct sl_front *f, struct bufferevent *bev)
{
    return f->tls_plain != NULL ? f->tls_plain : bufferevent_get_output(bev);
}

size_t sl_front_output_length(const struct sl_front *f, struct bufferevent *bev)
{
    size_t staged = f->tls_plain != NULL ? evbuffer_get_length(f->tls_plain) : 0;
    return staged + evbuffer_get_length(bufferevent_get_output(bev));
}

/* Writes what the output holds until the socket is full; returns what the
 * last write returned. */
static int write_queued(struct evbuffer *out, evutil_socket_t fd)
{
    int n = 0;
    /* a bufferevent keeps its output's start frozen, thawing it to write */
    evbuffer_unfreeze(out, 1);
    while (evbuffer_get_length(out) > 0) {
        n = evbuffer_write(out, fd);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
    }
    evbuffer_freeze(out, 1);
    return n;
}

bool sl_front_write_out(struct sl_front *f, struct bufferevent *bev)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    size_t left;
    int n = 0;
    for (;;) {
        if (f->tls_plain != NULL && !seal_stage(f, bev))
            return false;
        left = evbuffer_get_length(out);
        if (left > 0) {
            n = write_queued(out, bufferevent_getfd(bev));
            left = evbuffer_get_length(out);
        }
        /* the socket took it all, and the stage may hold more */
        if (left > 0 || f->tls_plain == NULL || evbuffer_get_length(f->tls_plain) == 0)
            break;
    }
    if (left == 0) {
        /* in the loop turn that added it, deleting the write event costs no
         * syscall; most flushes find it not added at all */
        if (bufferevent_get_enabled(bev) & EV_WRITE)
            bufferevent_disable(bev, EV_WRITE);
        return true;
    }
    if (n < 0 && errno == EAGAIN) {
        bufferevent_enable(bev, EV_WRITE);
        return true;
    }
    return false;
}

bool sl_front_write_or_queue(struct sl_front *f, struct bufferevent *bev, const void *data,
                             size_t len)
{
    if (f->tls_plain != NULL && evbuffer_get_length(f->tls_plain) > 0)
        return evbuffer_add(f->tls_plain, data, len) == 0; /* behind what is staged */
    return f->ssl != NULL ? seal(f, data, len) : send_or_queue(bev, data, len);
}
