#include "h1.h"

#include <string.h>

#include "headers.h"

static bool is_target_byte(unsigned char c)
{
    return c > ' ' && c != 0x7f;
}

/* METHOD SP TARGET SP HTTP/1.x; line is without its CRLF. */
static bool is_request_line_valid(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && sl_http_is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i >= len || line[i] != ' ')
        return false;
    size_t target = ++i;
    while (i < len && is_target_byte((unsigned char)line[i]))
        i++;
    if (i == target || i >= len || line[i] != ' ')
        return false;
    i++;
    return len - i == 8 &&
           (memcmp(line + i, "HTTP/1.1", 8) == 0 || memcmp(line + i, "HTTP/1.0", 8) == 0);
}

/* name ":" value, with a token name right before the colon and no control
 * byte but HT in the value; line is without its CRLF. */
static bool is_field_line_valid(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && sl_http_is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i >= len || line[i] != ':')
        return false;
    for (i++; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

int sl_h1_check_request_head(const char *head, size_t len)
{
    if (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0 || memchr(head, '\0', len) != NULL)
        return SL_EINVALID;
    size_t start = 0;
    bool is_first = true;
    while (start < len - 2) { /* the last line is the empty one */
        const char *lf = memchr(head + start, '\n', len - start);
        size_t end = (size_t)(lf - head); /* found: the head ends with LF */
        if (end == start || head[end - 1] != '\r')
            return SL_EINVALID; /* a bare LF */
        size_t line_len = end - 1 - start;
        const char *line = head + start;
        if (memchr(line, '\r', line_len) != NULL)
            return SL_EINVALID; /* a bare CR */
        bool is_valid =
            is_first ? is_request_line_valid(line, line_len) : is_field_line_valid(line, line_len);
        if (!is_valid)
            return SL_EINVALID; /* obs-fold starts with SP or HT: no token there */
        is_first = false;
        start = end + 1;
    }
    return is_first ? SL_EINVALID : 0;
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
