/* Header lists and the translation between HTTP/2 and HTTP/1.1 messages.
 *
 * Pure functions: no I/O, no clock. Every string lives in the caller's arena,
 * so a request's headers are freed with its arena in one call. */
#ifndef SL_HEADERS_H
#define SL_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

struct sl_arena;

/* SL_E* codes share the negative range above -errno values. */
#define SL_ENOMEM (-1000)   /* the arena could not grow */
#define SL_EINVALID (-1001) /* the message breaks a rule of RFC 9110/9113 */
#define SL_ETOOBIG (-1002)  /* a size limit was hit */

/* Byte classes. Every byte of every field, in either direction, goes through
 * them (callgrind had these checks at 4% of a request's instructions with a
 * strchr() per punctuation byte), so each is one table lookup. */
enum {
    SL_CH_TCHAR = 1,  /* tchar of RFC 9110 §5.6.2: method and field names */
    SL_CH_UNSAFE = 2, /* CR, LF and NUL: they could end a line of an HTTP/1.1
                       * head early and smuggle a field (RFC 9110 §5.5) */
    SL_CH_UPPER = 4,
    SL_CH_TEXT = 8,       /* HTAB, SP, VCHAR and obs-text: what a field value or a
                           * reason phrase may hold on the wire (RFC 9110 §5.5) */
    SL_CH_VISIBLE = 16,   /* VCHAR and obs-text: TEXT but for SP and HTAB */
    SL_CH_AUTHORITY = 32, /* what an authority may hold (RFC 3986 §3.2) */
};
extern const uint8_t sl_http_char_class[256];

static inline bool sl_http_is_tchar(unsigned char c)
{
    return sl_http_char_class[c] & SL_CH_TCHAR;
}

static inline bool sl_http_is_text(unsigned char c)
{
    return sl_http_char_class[c] & SL_CH_TEXT;
}

/* Whether one of 8 bytes (a word read from them) is below SP or a DEL: a
 * value's text can be passed a word at a time while this is false. The
 * subtraction flags every such byte (a borrow may also flag a byte above
 * one, never hide one), so a word not flagged is text; a flagged one (HTAB
 * too) is for the byte classes to decide. */
static inline bool sl_http_word_may_hold_control(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t del = w ^ (ones * 0x7f);
    return (((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & (ones * 0x80);
}

/* An ordered list of fields; items are nghttp2_nv so that a translated list
 * can be handed to nghttp2_submit_response() without copying. Names and values
 * are NUL-terminated arena copies (the NUL is not counted in the lengths).
 * total_bytes counts name and value bytes plus 32 per field (RFC 9113 §6.5.2),
 * the figure a header size limit is compared with. */
struct sl_header_list {
    nghttp2_nv *items;
    size_t count;
    size_t capacity;
    size_t total_bytes;
    struct sl_arena *arena;
    /* false while every name came in through sl_header_list_add_lowercased:
     * the HTTP/2 translation then borrows names unscanned */
    bool may_have_uppercase;
    /* set by the owner when every field came through a reader that refuses
     * what the translations below refuse (h2_request.h, nghttp2's HTTP
     * messaging, sl_h1_read_fields) or was made by sluice: the translations then leave
     * out their name and value checks. false after sl_header_list_init. */
    bool is_checked;
};

/* Starts an empty list whose storage comes from arena. */
void sl_header_list_init(struct sl_header_list *list, struct sl_arena *arena);

/* Appends copies of name and value with the given NGHTTP2_NV_FLAG_* flags.
 * Checks no syntax: the translations below reject what is unsafe to forward.
 * Returns 0, or SL_ENOMEM (the list is then unchanged). */
int sl_header_list_add(struct sl_header_list *list, const char *name, size_t name_len,
                       const char *value, size_t value_len, uint8_t flags);

/* The same, with the name stored lowercase as HTTP/2 carries it and rules
 * match it (the field of an HTTP/1.1 head), and no flags. */
int sl_header_list_add_lowercased(struct sl_header_list *list, const char *name, size_t name_len,
                                  const char *value, size_t value_len);

/* First field named name (ASCII case-insensitive), or NULL. */
const nghttp2_nv *sl_header_list_find(const struct sl_header_list *list, const char *name);

/* Removes every field named name (ASCII case-insensitive), keeping the order
 * of the others; returns how many were removed. The arena keeps their bytes. */
size_t sl_header_list_remove(struct sl_header_list *list, const char *name);

/* How many fields are named name (ASCII case-insensitive). */
size_t sl_header_list_count(const struct sl_header_list *list, const char *name);

/* Does a field value list token (token_len bytes) among its comma-separated
 * elements (RFC 9110 §5.6.1; compared ASCII case-insensitively)? */
bool sl_http_list_has_token(const char *value, size_t value_len, const char *token,
                            size_t token_len);

/* Does a field named name list token among its comma-separated elements
 * (RFC 9110 §5.6.1; both compared ASCII case-insensitively)? */
bool sl_header_list_has_token(const struct sl_header_list *list, const char *name,
                              const char *token);

/* What the proxy knows of the connection a request came in on. */
struct sl_forward_info {
    const char *client_addr; /* text form of the peer address, "unix" for a Unix socket */
    const char *scheme;      /* "http" or "https", for X-Forwarded-Proto */
};

/* Serialises the HTTP/1.1 request head for an HTTP/2 request whose fields (pseudo-
 * headers first, as received and checked, h2_request.h) are in h2. fwd and both its
 * strings must be non-NULL.
 *   - request line "METHOD PATH HTTP/1.1" from :method and :path; :scheme is not
 *     forwarded;
 *   - Host from :authority (any host field is dropped in favour of it, RFC 9113
 *     §8.3.1); without :authority, the single host field is forwarded as Host;
 *   - cookie crumbs joined with "; " into one Cookie field (RFC 9113 §8.2.3);
 *   - hop-by-hop fields never forwarded: connection, keep-alive, proxy-connection,
 *     transfer-encoding, upgrade, te, http2-settings, expect (sluice does not relay
 *     100-continue), plus any name listed in a Connection field (comma-separated,
 *     names compared ASCII case-insensitively);
 *   - X-Forwarded-For: the received values joined with ", ", then the client
 *     address; X-Forwarded-Proto: set to fwd->scheme, replacing a received one;
 *   - has_body and no content-length: "Transfer-Encoding: chunked" is added, and
 *     *is_chunked set, so the caller frames the body as chunks; otherwise
 *     *is_chunked is false and a received content-length is forwarded.
 * Output order: request line, Host, the other forwarded fields in received order
 * with their names as received, Cookie, X-Forwarded-For, X-Forwarded-Proto,
 * Transfer-Encoding, then the empty line.
 * On success returns 0 with *out (arena memory, NUL-terminated; the NUL is not in
 * *out_len) and *out_len set. Returns SL_EINVALID, leaving the outputs untouched,
 * when :method or :path is missing or malformed (:path must be origin-form, or
 * "*" for OPTIONS), when a pseudo-header is unknown, repeated or after a regular
 * field, when a name is not a token or a value holds CR, LF or NUL (unless h2
 * is_checked), when
 * content-length is repeated or not digits, or when there is no :authority and not
 * exactly one host field; SL_ENOMEM. */
int sl_h1_request_head(const struct sl_header_list *h2, const struct sl_forward_info *fwd,
                       bool has_body, struct sl_arena *arena, char **out, size_t *out_len,
                       bool *is_chunked);

/* Builds the HTTP/2 request fields for a request whose fields (pseudo-headers
 * first) are in h2, whatever protocol it arrived in, for an h2c backend. The same
 * checks and forwarding rules as sl_h1_request_head(), in HTTP/2 form:
 *   - :method, :scheme (fwd->scheme), :authority (from :authority, else the one
 *     host field; host itself is not forwarded, RFC 9113 §8.3.1), :path, in
 *     that order;
 *   - the forwarded fields in received order, names lowercased, cookie crumbs
 *     kept apart, and authorization, cookie and proxy-authorization never
 *     indexed; content-length is forwarded as received;
 *   - x-forwarded-for (received values joined, then the client address) and
 *     x-forwarded-proto last.
 * The array has spare free slots after *count, for fields the caller adds.
 * Returns 0 with *out (arena memory; values borrow h2's strings) and *count
 * set, or SL_EINVALID and SL_ENOMEM as sl_h1_request_head() does. */
int sl_h2_request_fields(const struct sl_header_list *h2, const struct sl_forward_info *fwd,
                         size_t spare, struct sl_arena *arena, nghttp2_nv **out, size_t *count);

/* Builds the HTTP/2 response fields for an HTTP/1.1 response with the given
 * status and fields: ":status" first, names lowercased, connection-specific
 * fields dropped (the hop-by-hop fields listed for sl_h1_request_head(), and
 * names listed in Connection), content-length dropped when transfer-encoding is
 * present (RFC 9112 §6.3) or the status is 204 (RFC 9110 §8.6), and the values of authorization,
 * cookie, set-cookie and proxy-authorization sent never-indexed (NGHTTP2_NV_FLAG_NO_INDEX added to
 * the field's own flags). Other fields keep their order and flags.
 * On success returns 0 with *out and *count set. The array and ":status" are in
 * arena; values, and names that were already lowercase, borrow h1's strings, so
 * h1's arena must outlive *out. Returns SL_EINVALID for a status outside 200..599
 * (1xx are not relayed), a name that is not a token or a value holding CR, LF or
 * NUL (unless h1 is_checked); SL_ENOMEM. */
int sl_h2_response_fields(const struct sl_header_list *h1, unsigned status, struct sl_arena *arena,
                          nghttp2_nv **out, size_t *count);

#endif
