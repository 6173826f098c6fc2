#include "h1.h"

#include <string.h>

#include "headers.h"

static bool is_target_byte(unsigned char c)
{
    return c > ' ' && c != 0x7f;
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* METHOD SP TARGET SP HTTP/1.x CRLF. The head ends in CRLF CRLF, so every
 * scan stops before its end. */
size_t sl_h1_read_request_line(const char *head, size_t len, struct sl_h1_request_line *line)
{
    const unsigned char *s = (const unsigned char *)head;
    if (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0)
        return 0;
    size_t at = 0;
    while (sl_http_is_tchar(s[at]))
        at++;
    if (at == 0 || s[at] != ' ')
        return 0;
    size_t target = ++at;
    while (is_target_byte(s[at]))
        at++;
    if (at == target || s[at] != ' ')
        return 0;
    size_t version = at + 1;
    if (len - version < 10 || (memcmp(head + version, "HTTP/1.1\r\n", 10) != 0 &&
                               memcmp(head + version, "HTTP/1.0\r\n", 10) != 0))
        return 0;
    *line = (struct sl_h1_request_line){
        .method = head,
        .method_len = target - 1,
        .target = head + target,
        .target_len = at - target,
        .is_http10 = s[version + 7] == '0',
    };
    return version + 10;
}

/* Past a value's text, a word at a time while the words hold none but
 * printable bytes (the head's final CRLF stops both loops). */
static size_t skip_text(const unsigned char *s, size_t len, size_t at)
{
    for (; at + sizeof(uint64_t) <= len; at += sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, s + at, sizeof(w));
        if (sl_http_word_may_hold_control(w))
            break;
    }
    while (sl_http_is_text(s[at]))
        at++;
    return at;
}

int sl_h1_read_fields(const char *head, size_t len, size_t at, sl_h1_field_fn on_field, void *ctx)
{
    const unsigned char *s = (const unsigned char *)head;
    /* the final CRLF stops every scan below, whatever comes before it */
    if (len < 2 || at > len - 2 || s[len - 2] != '\r' || s[len - 1] != '\n')
        return SL_EINVALID;
    while (s[at] != '\r') {
        size_t name = at;
        while (sl_http_is_tchar(s[at]))
            at++;
        if (at == name || s[at] != ':')
            return SL_EINVALID; /* obs-fold, whitespace before the colon, or no name */
        size_t name_len = at - name;
        at++;
        while (is_ows(s[at]))
            at++;
        size_t value = at;
        at = skip_text(s, len, at);
        if (s[at] != '\r' || s[at + 1] != '\n')
            return SL_EINVALID; /* a control byte, a bare CR or a bare LF */
        size_t end = at;
        while (end > value && is_ows(s[end - 1]))
            end--;
        int rc = on_field(ctx, head + name, name_len, head + value, end - value);
        if (rc != 0)
            return rc;
        at += 2;
    }
    return at == len - 2 ? 0 : SL_EINVALID; /* else a line of a bare CR */
}

bool sl_h1_equal_ignoring_case(const char *a, size_t a_len, const char *b)
{
    size_t b_len = strlen(b);
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        char ca = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];
        if (ca != b[i])
            return false;
    }
    return true;
}

static bool is_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return len > 0;
}

bool sl_h1_parse_length(const char *s, size_t len, uint64_t *out)
{
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (digit > 9 || n > (UINT64_MAX - digit) / 10)
            return false;
        n = n * 10 + digit;
    }
    *out = n;
    return len > 0;
}

void sl_h1_framing_note(struct sl_h1_framing *f, const char *name, size_t name_len,
                        const char *value, size_t value_len)
{
    if (sl_h1_equal_ignoring_case(name, name_len, "content-length")) {
        f->content_length_count++;
        f->is_length_valid = is_digits(value, value_len);
    } else if (sl_h1_equal_ignoring_case(name, name_len, "transfer-encoding")) {
        f->transfer_encoding_count++;
        f->is_chunked_only = sl_h1_equal_ignoring_case(value, value_len, "chunked");
    }
}

void sl_h1_note_field(struct sl_h1_head_notes *n, const char *name, size_t name_len,
                      const char *value, size_t value_len)
{
    if (name_len == 10 && sl_h1_equal_ignoring_case(name, name_len, "connection")) {
        n->has_close |= sl_http_list_has_token(value, value_len, "close", 5);
        n->has_keep_alive |= sl_http_list_has_token(value, value_len, "keep-alive", 10);
    } else if (name_len == 14 || name_len == 17) { /* content-length, transfer-encoding */
        unsigned lengths_before = n->framing.content_length_count;
        sl_h1_framing_note(&n->framing, name, name_len, value, value_len);
        if (n->framing.content_length_count != lengths_before)
            n->is_length_read = sl_h1_parse_length(value, value_len, &n->length);
    }
}

bool sl_h1_keeps_alive(const struct sl_h1_head_notes *n, bool is_http10)
{
    return is_http10 ? n->has_keep_alive : !n->has_close;
}

int sl_h1_framing_check(const struct sl_h1_framing *f, bool is_http10)
{
    if (f->content_length_count > 1 || f->transfer_encoding_count > 1)
        return SL_EINVALID;
    if (f->content_length_count == 1 && (f->transfer_encoding_count == 1 || !f->is_length_valid))
        return SL_EINVALID;
    if (f->transfer_encoding_count == 1 && (is_http10 || !f->is_chunked_only))
        return SL_EINVALID;
    return 0;
}

static int base64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

int sl_base64url_decode(const char *in, size_t len, unsigned char *out, size_t out_cap,
                        size_t *out_len)
{
    if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > out_cap)
        return SL_EINVALID;
    size_t n = 0;
    unsigned bits = 0, held = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64url_value(in[i]);
        if (v < 0)
            return SL_EINVALID;
        bits = (bits << 6) | (unsigned)v;
        held += 6;
        if (held >= 8) {
            held -= 8;
            out[n++] = (unsigned char)(bits >> held);
            bits &= (1u << held) - 1;
        }
    }
    *out_len = n;
    return 0;
}

static const struct reason {
    unsigned status;
    const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {413, "Content Too Large"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

const char *sl_h1_reason(unsigned status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].text;
    }
    return "";
}
