/* HTTP/1.1 heads, read as a proxy must: strictly, so that a head cannot mean
 * one thing to sluice and another to the next hop (request smuggling); how a
 * body is framed; the text of a status line. Pure functions: no I/O, no
 * allocation. */
#ifndef SL_H1_H
#define SL_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives one field of a head: the name as received, the value without the
 * whitespace around it. Non-zero stops the reading. */
typedef int (*sl_h1_field_fn)(void *ctx, const char *name, size_t name_len, const char *value,
                              size_t value_len);

/* What a request line says; the strings point into the head. */
struct sl_h1_request_line {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    bool is_http10;
};

/* Reads the request line of a head: len bytes from it through the empty
 * line, the head's only CRLF CRLF, that ends it. Returns the offset of the
 * first field line, with *line set, or 0 when the head does not end in
 * CRLF CRLF or the line is not METHOD SP TARGET SP HTTP/1.0|HTTP/1.1 CRLF,
 * with a token method and a target of visible bytes. */
size_t sl_h1_read_request_line(const char *head, size_t len, struct sl_h1_request_line *line);

/* Reads the field lines of a head (len bytes through the empty line that
 * ends it, the head's only CRLF CRLF) from offset at, handing each to
 * on_field. The rules that keep a head from meaning one thing to sluice and
 * another to the next hop (request smuggling, response splitting):
 *   - every line ends in CRLF: no bare LF, no CR but before LF, no NUL
 *     (RFC 9112 §2.2);
 *   - a field line does not start with SP or HT (obs-fold, RFC 9112 §5.2);
 *   - a field name is a token, right before its colon (RFC 9112 §5.1);
 *   - a field value holds no control byte but HT, nor DEL.
 * Returns 0, SL_EINVALID (headers.h) for a line that breaks them, or what
 * on_field returned. */
int sl_h1_read_fields(const char *head, size_t len, size_t at, sl_h1_field_fn on_field, void *ctx);

/* Is a (a_len bytes) the same as the lowercase NUL-terminated b, ASCII
 * case-insensitively? No locale is consulted. */
bool sl_h1_equal_ignoring_case(const char *a, size_t a_len, const char *b);

/* How a request's body is framed, gathered field by field (RFC 9112 §6). */
struct sl_h1_framing {
    unsigned content_length_count;
    unsigned transfer_encoding_count;
    bool is_length_valid; /* the (last) Content-Length is digits only */
    bool is_chunked_only; /* the (last) Transfer-Encoding is exactly "chunked" */
};

/* Notes one field; fields other than Content-Length and Transfer-Encoding are
 * ignored. value is without its surrounding whitespace. */
void sl_h1_framing_note(struct sl_h1_framing *f, const char *name, size_t name_len,
                        const char *value, size_t value_len);

/* What a head's fields say of its body and its connection, gathered field
 * by field: zeroed before the first. */
struct sl_h1_head_notes {
    struct sl_h1_framing framing;
    bool is_length_read; /* the (last) Content-Length is digits that fit in length */
    uint64_t length;
    bool has_close;      /* Connection lists close */
    bool has_keep_alive; /* Connection lists keep-alive */
};

/* Notes one field; fields other than Content-Length, Transfer-Encoding and
 * Connection are ignored, most at the cost of one length comparison. */
void sl_h1_note_field(struct sl_h1_head_notes *n, const char *name, size_t name_len,
                      const char *value, size_t value_len);

/* May the connection carry another exchange after this message, as far as
 * its head says (RFC 9112 §9.3): HTTP/1.1 unless Connection lists close,
 * HTTP/1.0 only if it lists keep-alive? */
bool sl_h1_keeps_alive(const struct sl_h1_head_notes *n, bool is_http10);

/* Reads a Content-Length value: digits only, at most 2^64 - 1. Returns
 * false for anything else, leaving *out alone. */
bool sl_h1_parse_length(const char *s, size_t len, uint64_t *out);

/* Returns 0 when the framing is unambiguous, or SL_EINVALID: Content-Length
 * and Transfer-Encoding together, either more than once, a Content-Length that
 * is not digits, a Transfer-Encoding other than chunked alone (chunked must be
 * last, and sluice decodes no other coding), or any Transfer-Encoding in an
 * HTTP/1.0 request (RFC 9112 §6.1). */
int sl_h1_framing_check(const struct sl_h1_framing *f, bool is_http10);

/* Decodes base64url without padding (RFC 4648 §5), as HTTP2-Settings carries
 * a SETTINGS payload (RFC 7540 §3.2.1). Returns 0 with *out_len set, or
 * SL_EINVALID for a byte outside the alphabet, a length no encoding has, or an
 * output over out_cap. */
int sl_base64url_decode(const char *in, size_t len, unsigned char *out, size_t out_cap,
                        size_t *out_len);

/* The reason phrase of a status ("Not Found"); "" for one it does not know. */
const char *sl_h1_reason(unsigned status);

#endif
