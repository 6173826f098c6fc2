/* RFC 9113 §8's rules for the fields of a request received over HTTP/2, one
 * field at a time as the HPACK decoder hands them out, then for the head as
 * a whole. nghttp2's HTTP messaging, which does the same, is off in the
 * front (it cost 1.7k instructions a request, and the translations checked
 * much of it again); what it did, this does, field for field:
 *   - a malformed request (§8.1.1) is one with a pseudo-header that is
 *     unknown (:protocol too: RFC 8441 is not offered), repeated, after a
 *     regular field, in trailers, or whose value is not of its kind (:method
 *     a token, :path visible characters, :authority those of RFC 3986, :scheme
 *     a scheme); an uppercase name; a connection-specific field (connection,
 *     keep-alive, proxy-connection, transfer-encoding, upgrade), or te other
 *     than "trailers" (§8.2.2); two host fields, or an empty one; a content-length that is not
 *     digits or comes twice; a head without :method, :scheme, :path and one
 *     of :authority and host (CONNECT: with :authority and neither :scheme
 *     nor :path), or an http(s) :path that is neither absolute nor OPTIONS's
 *     "*" (§8.3.1);
 *   - a regular field with a name of other bytes than tchar, or a value with
 *     a control byte or DEL, or that starts or ends with SP or HTAB, is
 *     dropped, as the public web sends such fields often enough that
 *     refusing the request would break clients (nghttp2's reasoning too);
 *     no pseudo-header may follow it.
 * Pure: no allocation, no I/O. */
#ifndef SL_H2_REQUEST_H
#define SL_H2_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sl_h2_field_verdict {
    SL_H2_FIELD_KEEP,
    SL_H2_FIELD_DROP,      /* not forwarded; the request goes on */
    SL_H2_FIELD_MALFORMED, /* the stream is reset with PROTOCOL_ERROR */
};

/* What one header block has shown so far. */
struct sl_h2_request_check {
    uint16_t seen;          /* which fields and kinds of value came (h2_request.c) */
    bool is_trailer;        /* checking trailers: no pseudo-header at all */
    int64_t content_length; /* -1: none */
};

void sl_h2_request_check_init(struct sl_h2_request_check *c, bool is_trailer);

enum sl_h2_field_verdict sl_h2_request_check_field(struct sl_h2_request_check *c,
                                                   const uint8_t *name, size_t name_len,
                                                   const uint8_t *value, size_t value_len);

/* Whether the request head whose every field went through c is whole. */
bool sl_h2_request_check_head(const struct sl_h2_request_check *c);

#endif
