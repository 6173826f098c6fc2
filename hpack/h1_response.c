#define _GNU_SOURCE /* memmem */
#include "h1_response.h"

#include <stdlib.h>
#include <string.h>

#include "h1.h"
#include "headers.h"

/* The longest chunk-size line, extensions included, that is read: no real
 * chunk needs more than its 16 hex digits and a short extension. */
#define CHUNK_LINE_MAX 4096

enum state {
    ST_HEAD,
    ST_LENGTH,
    ST_UNTIL_CLOSE,
    ST_CHUNK_SIZE, /* the hex digits */
    ST_CHUNK_EXT,  /* after them, up to the CR */
    ST_CHUNK_SIZE_LF,
    ST_CHUNK_DATA,
    ST_CHUNK_DATA_CR,
    ST_CHUNK_DATA_LF,
    ST_TRAILER_START, /* a trailer line, or the empty line that ends the body */
    ST_TRAILER_LINE,
    ST_TRAILER_LF,
    ST_END_LF,
    ST_DONE,
    ST_FAILED,
};

void sl_h1_response_parser_init(struct sl_h1_response_parser *p,
                                const struct sl_h1_response_callbacks *cb, void *ctx,
                                bool is_head_request, size_t max_head_bytes)
{
    *p = (struct sl_h1_response_parser){
        .cb = cb,
        .ctx = ctx,
        .state = ST_HEAD,
        .is_head_request = is_head_request,
        .head_budget = max_head_bytes,
    };
}

static void drop_stash(struct sl_h1_response_parser *p)
{
    free(p->stash);
    p->stash = NULL;
    p->stash_len = 0;
    p->stash_cap = 0;
}

void sl_h1_response_parser_deinit(struct sl_h1_response_parser *p)
{
    drop_stash(p);
}

static int fail(struct sl_h1_response_parser *p, int rc, const char *why)
{
    p->state = ST_FAILED;
    p->error = why;
    return rc;
}

static bool is_text(unsigned char c)
{
    return sl_http_char_class[c] & SL_CH_TEXT;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* "HTTP/1.x SP 3DIGIT [SP reason]"; line is without its CRLF. RFC 9112 §4 asks
 * for the SP before an empty reason, which some servers leave out. */
static bool read_status_line(const char *line, size_t len, struct sl_h1_response_head *head)
{
    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
        line[8] != ' ')
        return false;
    unsigned status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return false;
        status = status * 10 + (unsigned)(line[i] - '0');
    }
    if (status < 100 || (len > 12 && line[12] != ' '))
        return false;
    for (size_t i = 13; i < len; i++) {
        if (!is_text((unsigned char)line[i]))
            return false;
    }
    head->status = status;
    head->is_http10 = line[7] == '0';
    return true;
}

/* What the fields say of the framing and the connection. */
struct head_notes {
    struct sl_h1_framing framing;
    const char *length; /* the Content-Length value */
    size_t length_len;
    bool has_close;
    bool has_keep_alive;
};

/* By length first: most fields are none of these three. */
static void note_field(struct head_notes *n, const char *name, size_t name_len, const char *value,
                       size_t value_len)
{
    if (name_len == 10 && sl_h1_equal_ignoring_case(name, name_len, "connection")) {
        n->has_close |= sl_http_list_has_token(value, value_len, "close", 5);
        n->has_keep_alive |= sl_http_list_has_token(value, value_len, "keep-alive", 10);
    } else if (name_len == 14 || name_len == 17) { /* content-length, transfer-encoding */
        unsigned lengths_before = n->framing.content_length_count;
        sl_h1_framing_note(&n->framing, name, name_len, value, value_len);
        if (n->framing.content_length_count != lengths_before) {
            n->length = value;
            n->length_len = value_len;
        }
    }
}

/* Reads the field lines after the status line, from at to the empty line that
 * ends the head (which is there: the caller found it). Returns the offset past
 * the empty line's CR, or 0 for a line that breaks the rules. */
static size_t read_fields(struct sl_h1_response_parser *p, const char *head, size_t at,
                          struct head_notes *notes, int *rc)
{
    const unsigned char *s = (const unsigned char *)head;
    while (s[at] != '\r') {
        size_t name = at;
        while (sl_http_is_tchar(s[at]))
            at++;
        if (at == name || s[at] != ':')
            return 0; /* obs-fold, whitespace before the colon, or no name */
        size_t name_len = at - name;
        at++;
        while (is_ows((char)s[at]))
            at++;
        size_t value = at;
        while (is_text(s[at]))
            at++;
        if (s[at] != '\r' || s[at + 1] != '\n')
            return 0; /* a control byte, a bare CR or a bare LF */
        size_t end = at;
        while (end > value && is_ows((char)s[end - 1]))
            end--;
        note_field(notes, head + name, name_len, head + value, end - value);
        *rc = p->cb->on_field(p->ctx, head + name, name_len, head + value, end - value);
        if (*rc != 0)
            return 0;
        at += 2;
    }
    return at;
}

static bool read_length(const char *s, size_t len, uint64_t *out)
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

/* RFC 9112 §6.3, for a response; the checks passed. */
static int decide_framing(struct sl_h1_response_parser *p, const struct head_notes *n)
{
    struct sl_h1_response_head *head = &p->head;
    bool has_no_body =
        head->status < 200 || head->status == 204 || head->status == 304 || p->is_head_request;
    head->body = SL_H1_BODY_UNTIL_CLOSE;
    head->content_length = 0;
    if (has_no_body) {
        head->body = SL_H1_BODY_NONE;
    } else if (n->framing.transfer_encoding_count > 0) {
        head->body = SL_H1_BODY_CHUNKED;
    } else if (n->framing.content_length_count > 0) {
        if (!read_length(n->length, n->length_len, &head->content_length))
            return fail(p, SL_EINVALID, "a Content-Length too large");
        head->body = head->content_length > 0 ? SL_H1_BODY_LENGTH : SL_H1_BODY_NONE;
    }
    head->keeps_alive = (head->is_http10 ? n->has_keep_alive : !n->has_close) &&
                        head->body != SL_H1_BODY_UNTIL_CLOSE;
    return 0;
}

/* The state that follows a head (a 1xx one is followed by another). */
static enum state state_after_head(const struct sl_h1_response_head *head)
{
    if (head->status < 200)
        return ST_HEAD;
    switch (head->body) {
    case SL_H1_BODY_LENGTH:
        return ST_LENGTH;
    case SL_H1_BODY_CHUNKED:
        return ST_CHUNK_SIZE;
    case SL_H1_BODY_UNTIL_CLOSE:
        return ST_UNTIL_CLOSE;
    default:
        return ST_DONE;
    }
}

/* Parses one whole head, len bytes through its empty line. */
static int read_head(struct sl_h1_response_parser *p, const char *head, size_t len)
{
    if (len > p->head_budget)
        return fail(p, SL_ETOOBIG, "a response head over the limit");
    p->head_budget -= len;
    const char *line_end = memchr(head, '\r', len);
    if (line_end[1] != '\n' || !read_status_line(head, (size_t)(line_end - head), &p->head))
        return fail(p, SL_EINVALID, "a malformed status line");
    struct head_notes notes = {0};
    int rc = 0;
    size_t end = read_fields(p, head, (size_t)(line_end - head) + 2, &notes, &rc);
    if (rc != 0)
        return fail(p, rc, NULL);
    if (end != len - 2)
        return fail(p, SL_EINVALID, "a malformed field line");
    if (sl_h1_framing_check(&notes.framing, p->head.is_http10) != 0)
        return fail(p, SL_EINVALID, "an ambiguous or unsupported body framing");
    rc = decide_framing(p, &notes);
    if (rc != 0)
        return rc;
    rc = p->cb->on_head(p->ctx, &p->head);
    if (rc != 0)
        return fail(p, rc, NULL);
    p->state = state_after_head(&p->head);
    p->left = p->head.content_length;
    return 0;
}

/* Past the first CRLF CRLF in data, or NULL. A memchr per line: glibc's
 * memmem costs five times as much on a short head. */
static const char *find_head_end(const char *data, size_t len)
{
    const char *end = data + len;
    const char *at = data;
    const char *lf;
    while ((lf = memchr(at, '\n', (size_t)(end - at))) != NULL) {
        if (end - lf >= 3 && lf[1] == '\r' && lf[2] == '\n' && lf > data && lf[-1] == '\r')
            return lf + 3;
        at = lf + 1;
    }
    return NULL;
}

static int add_to_stash(struct sl_h1_response_parser *p, const char *data, size_t len)
{
    if (p->stash_len + len > p->stash_cap) {
        size_t cap = p->stash_cap == 0 ? 1024 : p->stash_cap;
        while (cap < p->stash_len + len)
            cap *= 2;
        char *grown = realloc(p->stash, cap);
        if (grown == NULL)
            return fail(p, SL_ENOMEM, "no memory for a response head");
        p->stash = grown;
        p->stash_cap = cap;
    }
    memcpy(p->stash + p->stash_len, data, len);
    p->stash_len += len;
    return 0;
}

/* A head with no end in sight: too long, or with bare LFs, which a head that
 * ends in them never shows as CRLF CRLF. */
static int check_partial_head(struct sl_h1_response_parser *p, const char *data, size_t len)
{
    if (len > p->head_budget)
        return fail(p, SL_ETOOBIG, "a response head over the limit");
    if (memmem(data, len, "\n\n", 2) != NULL)
        return fail(p, SL_EINVALID, "a head whose lines end in a bare LF");
    return 0;
}

/* Reads a head from data, or adds to the one stashed. Returns 0 with *used
 * set, or an error. */
static int read_head_bytes(struct sl_h1_response_parser *p, const char *data, size_t len,
                           size_t *used)
{
    if (p->stash == NULL) {
        const char *end = find_head_end(data, len);
        if (end != NULL) {
            *used = (size_t)(end - data);
            return read_head(p, data, *used);
        }
        *used = len;
        int rc = check_partial_head(p, data, len);
        return rc != 0 ? rc : add_to_stash(p, data, len);
    }
    /* A head never takes more than its budget: what is added past it is body,
     * or too much. The empty line may straddle the stash and data. */
    size_t before = p->stash_len;
    size_t take = len < p->head_budget + 1 ? len : p->head_budget + 1;
    int rc = add_to_stash(p, data, take);
    if (rc != 0)
        return rc;
    size_t from = before < 3 ? 0 : before - 3;
    const char *end = find_head_end(p->stash + from, p->stash_len - from);
    if (end == NULL) {
        *used = take;
        return check_partial_head(p, p->stash, p->stash_len);
    }
    size_t head_len = (size_t)(end - p->stash);
    *used = head_len - before;
    rc = read_head(p, p->stash, head_len);
    drop_stash(p);
    return rc;
}

static int read_chunk_ext(struct sl_h1_response_parser *p, unsigned char c)
{
    if (c == '\r')
        p->state = ST_CHUNK_SIZE_LF;
    else if (!is_text(c))
        return fail(p, SL_EINVALID, "a control byte in a chunk extension");
    return 0;
}

/* One byte of chunked framing (RFC 9112 §7.1): the size line, the CRLF after
 * the data, the trailers and the empty line that ends them. */
static int read_chunk_framing(struct sl_h1_response_parser *p, unsigned char c)
{
    if ((p->state == ST_CHUNK_SIZE || p->state == ST_CHUNK_EXT) && ++p->line_bytes > CHUNK_LINE_MAX)
        return fail(p, SL_EINVALID, "a chunk-size line too long");
    switch (p->state) {
    case ST_CHUNK_SIZE: {
        unsigned digit = c >= '0' && c <= '9'   ? c - '0'
                         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                : 16;
        if (digit < 16) {
            if (p->left > (UINT64_MAX >> 4))
                return fail(p, SL_EINVALID, "a chunk size too large");
            p->left = p->left << 4 | digit;
            p->has_size_digit = true;
            break;
        }
        if (!p->has_size_digit || (c != ';' && c != '\r' && !is_ows((char)c)))
            return fail(p, SL_EINVALID, "a malformed chunk size");
        p->state =
            ST_CHUNK_EXT; /* the byte after the digits starts the extensions or ends the line */
        return read_chunk_ext(p, c);
    }
    case ST_CHUNK_EXT:
        return read_chunk_ext(p, c);
    case ST_CHUNK_SIZE_LF:
        if (c != '\n')
            return fail(p, SL_EINVALID, "a chunk-size line without CRLF");
        p->state = p->left > 0 ? ST_CHUNK_DATA : ST_TRAILER_START;
        break;
    case ST_CHUNK_DATA_CR:
    case ST_TRAILER_LINE:
    case ST_TRAILER_START:
        if (c == '\r') {
            p->state = p->state == ST_CHUNK_DATA_CR  ? ST_CHUNK_DATA_LF
                       : p->state == ST_TRAILER_LINE ? ST_TRAILER_LF
                                                     : ST_END_LF;
            break;
        }
        if (p->state == ST_CHUNK_DATA_CR)
            return fail(p, SL_EINVALID, "chunk data longer than its size");
        if (!is_text(c))
            return fail(p, SL_EINVALID, "a control byte in a trailer");
        if (p->head_budget-- == 0)
            return fail(p, SL_ETOOBIG, "trailers over the limit");
        p->state = ST_TRAILER_LINE;
        break;
    case ST_CHUNK_DATA_LF:
    case ST_TRAILER_LF:
    case ST_END_LF:
        if (c != '\n')
            return fail(p, SL_EINVALID, "a bare CR in chunked framing");
        if (p->state == ST_END_LF) {
            p->state = ST_DONE;
        } else {
            p->state = p->state == ST_CHUNK_DATA_LF ? ST_CHUNK_SIZE : ST_TRAILER_START;
            p->left = 0;
            p->has_size_digit = false;
            p->line_bytes = 0;
        }
        break;
    default:
        break;
    }
    return 0;
}

/* Reads body bytes and framing from data. Returns 0 with *used set, or an error. */
static int read_body_bytes(struct sl_h1_response_parser *p, const char *data, size_t len,
                           size_t *used)
{
    if (p->state == ST_LENGTH || p->state == ST_CHUNK_DATA || p->state == ST_UNTIL_CLOSE) {
        size_t n = p->state != ST_UNTIL_CLOSE && p->left < len ? (size_t)p->left : len;
        *used = n;
        int rc = p->cb->on_body(p->ctx, data, n);
        if (rc != 0)
            return fail(p, rc, NULL);
        if (p->state == ST_UNTIL_CLOSE)
            return 0;
        p->left -= n;
        if (p->left == 0)
            p->state = p->state == ST_LENGTH ? ST_DONE : ST_CHUNK_DATA_CR;
        return 0;
    }
    size_t i = 0;
    while (i < len && p->state != ST_CHUNK_DATA && p->state != ST_DONE) {
        int rc = read_chunk_framing(p, (unsigned char)data[i++]);
        if (rc != 0)
            return rc;
    }
    *used = i;
    return 0;
}

int sl_h1_response_parse(struct sl_h1_response_parser *p, const char *data, size_t len,
                         size_t *consumed)
{
    *consumed = 0;
    if (p->state == ST_FAILED)
        return SL_EINVALID;
    size_t at = 0;
    while (at < len && p->state != ST_DONE) {
        size_t used = 0;
        int rc = p->state == ST_HEAD ? read_head_bytes(p, data + at, len - at, &used)
                                     : read_body_bytes(p, data + at, len - at, &used);
        if (rc != 0)
            return rc;
        at += used;
    }
    *consumed = at;
    return p->state == ST_DONE ? 1 : 0;
}

int sl_h1_response_eof(struct sl_h1_response_parser *p)
{
    if (p->state == ST_UNTIL_CLOSE || p->state == ST_DONE) {
        p->state = ST_DONE;
        return 1;
    }
    return fail(p, SL_EINVALID, "the connection closed before the response ended");
}
