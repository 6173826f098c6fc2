/* Reading an HTTP/1.1 response from a backend (RFC 9112): bytes in, in whatever
 * pieces the socket gives them; each field whole, each head, body bytes and the
 * end of the message out, through callbacks.
 *
 * Strict where a proxy must be: the field lines as sl_h1_read_fields() reads
 * them, a reason phrase without control bytes but HTAB, chunked framing as
 * sl_h1_body_read() reads it, and a body framing that is unambiguous
 * (sl_h1_framing_check()). A head is parsed once it is whole, in
 * one pass: one that arrives in pieces is stashed until its empty line comes.
 * That stash is the only allocation; no I/O. */
#ifndef SL_H1_RESPONSE_H
#define SL_H1_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h1.h"
#include "h1_body.h"

struct sl_h1_response_head {
    unsigned status; /* 100..999 */
    bool is_http10;
    /* the connection may carry another exchange once this response ends
     * (RFC 9112 §9.3): HTTP/1.1 without "close", HTTP/1.0 with "keep-alive",
     * and never after a body that the close delimits */
    bool keeps_alive;
    enum sl_h1_body_kind body;
    uint64_t content_length; /* with SL_H1_BODY_LENGTH */
};

/* A callback that returns non-zero stops the parser, which then returns that value. */
struct sl_h1_response_callbacks {
    /* one field of a head, pointing into the caller's bytes or the stash */
    sl_h1_field_fn on_field;
    /* a head ended, after its fields; a 1xx head is followed by another head */
    int (*on_head)(void *ctx, const struct sl_h1_response_head *head);
    sl_h1_data_fn on_body;
};

struct sl_h1_response_parser {
    /* may be changed between calls: a response nobody waits for is read on
     * with callbacks that drop it */
    const struct sl_h1_response_callbacks *cb;
    void *ctx;
    struct sl_h1_response_head head; /* the last head parsed */
    const char *error;               /* the rule broken, once parse returned SL_EINVALID or
                                      * SL_ETOOBIG */
    /* private */
    unsigned state;
    bool is_head_request;
    size_t head_budget; /* raw bytes every head and the trailers may still take */
    struct sl_h1_body body;
    char *stash; /* a head that came in pieces, until it is whole; else NULL */
    size_t stash_len;
    size_t stash_cap;
};

/* Starts reading one exchange's response. Every head of the exchange (the 1xx
 * ones before the final one) and its trailers share max_head_bytes, counted
 * raw, status line to empty line. With is_head_request the final response has
 * no body, whatever it says of one. */
void sl_h1_response_parser_init(struct sl_h1_response_parser *p,
                                const struct sl_h1_response_callbacks *cb, void *ctx,
                                bool is_head_request, size_t max_head_bytes);

/* Frees the stash, if a head was left half-read. */
void sl_h1_response_parser_deinit(struct sl_h1_response_parser *p);

/* Reads len bytes. Returns
 *   0  every byte was read and the response goes on;
 *   1  the response ended, *consumed bytes into data (what follows is not its);
 *      once ended, each call returns 1 with *consumed 0;
 *   SL_EINVALID or SL_ETOOBIG (headers.h), with p->error saying why; SL_ENOMEM;
 *   or what a callback returned. The parser is then spent. */
int sl_h1_response_parse(struct sl_h1_response_parser *p, const char *data, size_t len,
                         size_t *consumed);

/* The connection closed. Returns 1 when that ends the response (its body is
 * delimited by the close, or it had ended), else SL_EINVALID with p->error set. */
int sl_h1_response_eof(struct sl_h1_response_parser *p);

#endif
