/* The bytes of a client connection, cleartext or TLS, read and written by
 * sluice itself rather than through libevent's bufferevents.
 *
 * A front's bufferevent is kept for its output evbuffer, which holds the wire
 * bytes the socket has not taken yet, and for its write event, which writes
 * them once the socket has room (libevent's own way, adding the event,
 * writing when it fires and deleting it, costs two epoll_ctl a response, so
 * the event is on only while the socket is full). Reads are the front's own:
 * libevent 2.1 reads at most 4 KiB a call and asks FIONREAD before each.
 *
 * TLS: OpenSSL reads the socket itself (read-ahead on: one read(2) takes
 * several records), and what it writes, records and alerts alike, goes to
 * the socket the same way cleartext does: at once when nothing waits,
 * else into the output. That output never blocks OpenSSL, so SSL_write never
 * asks to be retried with the same bytes. With bufferevent_openssl, which
 * did all this before, a TLS request at h2load -c1 took 63.0k instructions,
 * 56.4k this way (a chain per record, and ERR_clear_error before every call). */
#ifndef SL_FRONT_IO_H
#define SL_FRONT_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct bufferevent;
struct evbuffer;
struct sl_front;

/* A server-side TLS session on bev's socket, in accept state; NULL when out
 * of memory. */
SSL *sl_tls_session_new(SSL_CTX *ctx, struct bufferevent *bev);

/* One step of the handshake: 1 once it is done, 0 while it waits for the
 * client's next bytes, -1 when it failed (logged at debug level, as from
 * listener, since a client that gives up or probes is no fault of sluice's). */
int sl_tls_handshake_step(SSL *ssl, const char *listener);

/* TLS: close_notify (RFC 8446 §6.1), for a close that is no failure, so that
 * the client can tell the end from a cut (a body delimited by the close, and
 * OpenSSL 3 clients, which report a bare EOF as an error). Best effort: it
 * goes where the socket has taken everything else. Nothing in cleartext. */
void sl_front_close_notify(struct sl_front *f);

/* One read of at most max bytes into a buffer the worker's fronts share;
 * *data points at them until the next call. Cleartext: read(2). TLS: the
 * plaintext of what OpenSSL has or reads. Returns what read(2) would: the
 * count, 0 at the end of the stream, -1 with errno (EAGAIN: nothing yet). */
#define SL_FRONT_READ_BYTES (64 * 1024)
ssize_t sl_front_read(struct sl_front *f, int fd, size_t max, const uint8_t **data);

/* TLS: bytes read from the socket that OpenSSL holds, which no read event
 * will announce. Always false in cleartext. */
bool sl_front_has_pending(const struct sl_front *f);

/* Where a front adds bytes for the client itself (HTTP/1.1): bev's output in
 * cleartext; over TLS the plaintext stage, which sl_front_write_out seals. */
struct evbuffer *sl_front_output(struct sl_front *f, struct bufferevent *bev);

/* Bytes for the client that the socket has not taken yet, in either stage. */
size_t sl_front_output_length(const struct sl_front *f, struct bufferevent *bev);

/* The output goes to the socket now. TLS: the plaintext stage is sealed a
 * record at a time while the socket takes the records, so what waits for the
 * socket stays within a record. Whatever is left when the socket is full, the
 * bufferevent writes, calling the front's write callback once done. Returns
 * false when the connection failed. */
bool sl_front_write_out(struct sl_front *f, struct bufferevent *bev);

/* With nothing waiting, data goes to the socket at once (TLS: sealed first),
 * by one write(2), and only what the socket does not take is added to the
 * output, for sl_front_write_out to go on with; otherwise it joins what
 * waits. Either way the bytes are the front's to send, in order; returns
 * false only when they could not be (out of memory, or TLS failed). A
 * response that a loop turn produces whole then costs no evbuffer chain. */
bool sl_front_write_or_queue(struct sl_front *f, struct bufferevent *bev, const void *data,
                             size_t len);

#endif
