#include "h2_request.h"

#include <string.h>

#include "h1.h"
#include "headers.h"

enum {
    SEEN_METHOD = 1 << 0,
    SEEN_SCHEME = 1 << 1,
    SEEN_AUTHORITY = 1 << 2,
    SEEN_PATH = 1 << 3,
    SEEN_HOST = 1 << 4,
    SEEN_REGULAR = 1 << 5, /* kept or dropped: no pseudo-header may follow */
    IS_CONNECT = 1 << 6,
    IS_OPTIONS = 1 << 7,
    IS_HTTP_SCHEME = 1 << 8,    /* http or https: :path's form is checked */
    IS_ABSOLUTE_PATH = 1 << 9,  /* :path starts with '/' */
    IS_ASTERISK_PATH = 1 << 10, /* :path is "*" */
};

#define NAMED(name, len, literal)                                                                  \
    ((len) == sizeof(literal) - 1 && memcmp((name), (literal), sizeof(literal) - 1) == 0)

void sl_h2_request_check_init(struct sl_h2_request_check *c, bool is_trailer)
{
    *c = (struct sl_h2_request_check){.is_trailer = is_trailer, .content_length = -1};
}

static bool is_all(const uint8_t *s, size_t len, uint8_t class)
{
    for (size_t i = 0; i < len; i++) {
        if (!(sl_http_char_class[s[i]] & class))
            return false;
    }
    return true;
}

/* RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static bool is_scheme(const uint8_t *s, size_t len)
{
    if (len == 0 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
        return false;
    for (size_t i = 1; i < len; i++) {
        uint8_t c = s[i];
        if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* The bits a pseudo-header's value adds, or 0 when it is not of its kind. */
static uint16_t method_bits(const uint8_t *v, size_t len)
{
    if (len == 0 || !is_all(v, len, SL_CH_TCHAR))
        return 0;
    if (NAMED(v, len, "CONNECT"))
        return SEEN_METHOD | IS_CONNECT;
    return NAMED(v, len, "OPTIONS") ? SEEN_METHOD | IS_OPTIONS : SEEN_METHOD;
}

static uint16_t path_bits(const uint8_t *v, size_t len)
{
    if (len == 0 || !is_all(v, len, SL_CH_VISIBLE))
        return 0;
    if (v[0] == '/')
        return SEEN_PATH | IS_ABSOLUTE_PATH;
    return len == 1 && v[0] == '*' ? SEEN_PATH | IS_ASTERISK_PATH : SEEN_PATH;
}

static uint16_t scheme_bits(const uint8_t *v, size_t len)
{
    if (!is_scheme(v, len))
        return 0;
    bool is_http = sl_h1_equal_ignoring_case((const char *)v, len, "http") ||
                   sl_h1_equal_ignoring_case((const char *)v, len, "https");
    return is_http ? SEEN_SCHEME | IS_HTTP_SCHEME : SEEN_SCHEME;
}

static uint16_t authority_bits(const uint8_t *v, size_t len)
{
    return len > 0 && is_all(v, len, SL_CH_AUTHORITY) ? SEEN_AUTHORITY : 0;
}

static uint16_t pseudo_header_bits(const uint8_t *name, size_t name_len, const uint8_t *value,
                                   size_t value_len)
{
    if (NAMED(name, name_len, ":method"))
        return method_bits(value, value_len);
    if (NAMED(name, name_len, ":path"))
        return path_bits(value, value_len);
    if (NAMED(name, name_len, ":scheme"))
        return scheme_bits(value, value_len);
    if (NAMED(name, name_len, ":authority"))
        return authority_bits(value, value_len);
    return 0;
}

static enum sl_h2_field_verdict check_pseudo_header(struct sl_h2_request_check *c,
                                                    const uint8_t *name, size_t name_len,
                                                    const uint8_t *value, size_t value_len)
{
    if (c->is_trailer || (c->seen & SEEN_REGULAR))
        return SL_H2_FIELD_MALFORMED;
    uint16_t bits = pseudo_header_bits(name, name_len, value, value_len);
    /* the low bits name the field: the same one twice is malformed */
    if (bits == 0 || (c->seen & bits & (SEEN_METHOD | SEEN_SCHEME | SEEN_AUTHORITY | SEEN_PATH)))
        return SL_H2_FIELD_MALFORMED;
    c->seen |= bits;
    return SL_H2_FIELD_KEEP;
}

/* HTAB, SP, VCHAR and obs-text only: values are the longest part of a head,
 * so 8 bytes at a time, and byte by byte only where a word may hold HTAB or
 * a control byte */
static bool is_text(const uint8_t *v, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, v + i, sizeof(w));
        if (sl_http_word_may_hold_control(w) && !is_all(v + i, 8, SL_CH_TEXT))
            return false;
    }
    return is_all(v + i, len - i, SL_CH_TEXT);
}

/* RFC 9110 §5.5 with RFC 9113 §8.2.1: no control byte, no SP or HTAB at an end */
static bool is_field_value(const uint8_t *v, size_t len)
{
    if (len == 0)
        return true;
    if (!(sl_http_char_class[v[0]] & SL_CH_VISIBLE) ||
        !(sl_http_char_class[v[len - 1]] & SL_CH_VISIBLE))
        return false;
    return is_text(v, len);
}

static bool parse_length(const uint8_t *v, size_t len, int64_t *out)
{
    if (len == 0 || len > 18) /* below INT64_MAX whatever the digits */
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        n = n * 10 + (v[i] - '0');
    }
    *out = n;
    return true;
}

static bool is_connection_specific(const uint8_t *name, size_t len)
{
    return NAMED(name, len, "connection") || NAMED(name, len, "keep-alive") ||
           NAMED(name, len, "proxy-connection") || NAMED(name, len, "transfer-encoding") ||
           NAMED(name, len, "upgrade");
}

/* The regular fields with a rule of their own, on a name already checked. */
static enum sl_h2_field_verdict check_special_field(struct sl_h2_request_check *c,
                                                    const uint8_t *name, size_t name_len,
                                                    const uint8_t *value, size_t value_len)
{
    if (is_connection_specific(name, name_len))
        return SL_H2_FIELD_MALFORMED;
    if (NAMED(name, name_len, "te"))
        return sl_h1_equal_ignoring_case((const char *)value, value_len, "trailers")
                   ? SL_H2_FIELD_KEEP
                   : SL_H2_FIELD_MALFORMED;
    if (NAMED(name, name_len, "content-length")) {
        if (c->content_length >= 0 || !parse_length(value, value_len, &c->content_length))
            return SL_H2_FIELD_MALFORMED;
        return SL_H2_FIELD_KEEP;
    }
    if (NAMED(name, name_len, "host")) {
        if ((c->seen & SEEN_HOST) || value_len == 0)
            return SL_H2_FIELD_MALFORMED;
        if (!is_all(value, value_len, SL_CH_AUTHORITY))
            return SL_H2_FIELD_DROP;
        c->seen |= SEEN_HOST;
    }
    return SL_H2_FIELD_KEEP;
}

enum sl_h2_field_verdict sl_h2_request_check_field(struct sl_h2_request_check *c,
                                                   const uint8_t *name, size_t name_len,
                                                   const uint8_t *value, size_t value_len)
{
    if (name_len == 0)
        return SL_H2_FIELD_MALFORMED;
    if (name[0] == ':')
        return check_pseudo_header(c, name, name_len, value, value_len);
    c->seen |= SEEN_REGULAR;
    uint8_t any = 0, all = SL_CH_TCHAR;
    for (size_t i = 0; i < name_len; i++) {
        uint8_t class = sl_http_char_class[name[i]];
        any |= class;
        all &= class;
    }
    if (any & SL_CH_UPPER) /* §8.2.1: names are lowercase without exception */
        return SL_H2_FIELD_MALFORMED;
    if (!(all & SL_CH_TCHAR))
        return SL_H2_FIELD_DROP;
    if (!is_field_value(value, value_len))
        return SL_H2_FIELD_DROP;
    return check_special_field(c, name, name_len, value, value_len);
}

bool sl_h2_request_check_head(const struct sl_h2_request_check *c)
{
    uint16_t s = c->seen;
    if (!(s & SEEN_METHOD))
        return false;
    if (s & IS_CONNECT)
        return (s & SEEN_AUTHORITY) && !(s & (SEEN_SCHEME | SEEN_PATH));
    if ((s & (SEEN_SCHEME | SEEN_PATH)) != (SEEN_SCHEME | SEEN_PATH) ||
        !(s & (SEEN_AUTHORITY | SEEN_HOST)))
        return false;
    /* RFC 9113 §8.3.1: origin-form, or "*" for OPTIONS */
    return !(s & IS_HTTP_SCHEME) || (s & IS_ABSOLUTE_PATH) ||
           ((s & IS_OPTIONS) && (s & IS_ASTERISK_PATH));
}
