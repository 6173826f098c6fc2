/* HTTP/1.1 message rules that a proxy must hold before it trusts a parser's
 * reading of a request: the checks that keep a request from meaning one thing
 * to sluice and another to the backend (request smuggling), and the text of a
 * status line. Pure functions: no I/O, no allocation. */
#ifndef SL_H1_H
#define SL_H1_H

#include <stdbool.h>
#include <stddef.h>

/* Checks the raw bytes of a request head, from the request line through the
 * empty line that ends it (len includes that CRLF CRLF). Returns 0, or
 * SL_EINVALID (headers.h) when
 *   - the request line is not METHOD SP TARGET SP HTTP/1.0|HTTP/1.1 CRLF,
 *     with a token method and a target of visible bytes;
 *   - a line ends in a bare LF, or a CR is not followed by LF, or a NUL appears
 *     anywhere (RFC 9112 §2.2);
 *   - a field line starts with SP or HT (obs-fold, RFC 9112 §5.2);
 *   - a field name is empty, not a token, or followed by anything but ':'
 *     (whitespace before the colon, RFC 9112 §5.1);
 *   - a field value holds a control byte other than HT. */
int sl_h1_check_request_head(const char *head, size_t len);

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
