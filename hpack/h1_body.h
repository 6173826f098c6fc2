/* Reading an HTTP/1.1 message body once its head has said how it is framed
 * (RFC 9112 §6): a length, chunks, or the connection's close. Requests on the
 * HTTP/1.1 front and responses from backends both read theirs with it.
 *
 * Chunked framing is read strictly: hex sizes of at most 64 bits, extensions
 * and trailers without control bytes but HTAB, every line ended by CRLF.
 * Extensions are skipped and trailers dropped; only the data comes out. */
#ifndef SL_H1_BODY_H
#define SL_H1_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a body is delimited (RFC 9112 §6.3). */
enum sl_h1_body_kind {
    SL_H1_BODY_NONE,        /* no body, or a zero length */
    SL_H1_BODY_LENGTH,      /* a Content-Length of bytes */
    SL_H1_BODY_CHUNKED,     /* Transfer-Encoding: chunked */
    SL_H1_BODY_UNTIL_CLOSE, /* neither, in a response: it ends when the connection does */
};

struct sl_h1_head_notes;

/* How a head's fields delimit the body after it (RFC 9112 §6.3), once
 * sl_h1_framing_check() has passed them: chunked, a length (a zero one is
 * SL_H1_BODY_NONE), or, with neither, unframed: SL_H1_BODY_NONE for a
 * request, SL_H1_BODY_UNTIL_CLOSE for a response. Returns 0 with *kind set,
 * or SL_EINVALID for a Content-Length of more than 64 bits. */
int sl_h1_body_kind_of(const struct sl_h1_head_notes *n, enum sl_h1_body_kind unframed,
                       enum sl_h1_body_kind *kind);

/* Receives the body's bytes, never an empty piece; non-zero stops the reading. */
typedef int (*sl_h1_data_fn)(void *ctx, const char *data, size_t len);

struct sl_h1_body {
    const char *error; /* the rule broken, once a read returned SL_EINVALID or SL_ETOOBIG */
    /* private */
    unsigned state;
    bool has_size_digit;
    size_t trailer_budget; /* trailer bytes still allowed */
    size_t line_bytes;     /* of the chunk-size line being read */
    uint64_t left;         /* bytes of the body, or of the chunk, still to come */
};

/* Starts a body of the given kind: length bytes with SL_H1_BODY_LENGTH, and
 * at most trailer_bytes of trailers with SL_H1_BODY_CHUNKED. */
void sl_h1_body_init(struct sl_h1_body *b, enum sl_h1_body_kind kind, uint64_t length,
                     size_t trailer_bytes);

/* Reads len bytes, handing the data to on_data. Returns
 *   0  every byte was read and the body goes on;
 *   1  the body ended, *consumed bytes into data (what follows is not its);
 *      once ended, each call returns 1 with *consumed 0;
 *   SL_EINVALID or SL_ETOOBIG (headers.h), with b->error set; or what
 *   on_data returned. The reader is then spent. */
int sl_h1_body_read(struct sl_h1_body *b, const char *data, size_t len, size_t *consumed,
                    sl_h1_data_fn on_data, void *ctx);

/* The connection closed: 1 when that ends the body (it had ended, or it is
 * delimited by the close), else SL_EINVALID with b->error set. */
int sl_h1_body_eof(struct sl_h1_body *b);

bool sl_h1_body_is_done(const struct sl_h1_body *b);

/* Bytes of a length-delimited body still to come; 0 for other kinds. */
uint64_t sl_h1_body_length_left(const struct sl_h1_body *b);

#endif
