#define _GNU_SOURCE /* memmem */
#include "h1_response.h"

#include <stdlib.h>
#include <string.h>

#include "h1.h"
#include "headers.h"

enum state { ST_HEAD, ST_BODY, ST_DONE, ST_FAILED };

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
        if (!sl_http_is_text((unsigned char)line[i]))
            return false;
    }
    head->status = status;
    head->is_http10 = line[7] == '0';
    return true;
}

/* A field of a response head: noted, then handed on. */
struct field_reading {
    struct sl_h1_response_parser *p;
    struct sl_h1_head_notes notes;
};

static int on_response_field(void *ctx, const char *name, size_t name_len, const char *value,
                             size_t value_len)
{
    struct field_reading *r = ctx;
    sl_h1_note_field(&r->notes, name, name_len, value, value_len);
    return r->p->cb->on_field(r->p->ctx, name, name_len, value, value_len);
}

/* RFC 9112 §6.3, for a response; the checks passed. */
static int decide_framing(struct sl_h1_response_parser *p, const struct sl_h1_head_notes *n)
{
    struct sl_h1_response_head *head = &p->head;
    bool has_no_body =
        head->status < 200 || head->status == 204 || head->status == 304 || p->is_head_request;
    head->body = SL_H1_BODY_NONE;
    if (!has_no_body && sl_h1_body_kind_of(n, SL_H1_BODY_UNTIL_CLOSE, &head->body) != 0)
        return fail(p, SL_EINVALID, "a Content-Length too large");
    head->content_length = head->body == SL_H1_BODY_LENGTH ? n->length : 0;
    head->keeps_alive =
        sl_h1_keeps_alive(n, head->is_http10) && head->body != SL_H1_BODY_UNTIL_CLOSE;
    return 0;
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
    struct field_reading reading = {.p = p};
    size_t fields = (size_t)(line_end - head) + 2;
    int rc = sl_h1_read_fields(head, len, fields, on_response_field, &reading);
    if (rc == SL_EINVALID)
        return fail(p, rc, "a malformed field line");
    if (rc != 0)
        return fail(p, rc, NULL);
    if (sl_h1_framing_check(&reading.notes.framing, p->head.is_http10) != 0)
        return fail(p, SL_EINVALID, "an ambiguous or unsupported body framing");
    rc = decide_framing(p, &reading.notes);
    if (rc != 0)
        return rc;
    rc = p->cb->on_head(p->ctx, &p->head);
    if (rc != 0)
        return fail(p, rc, NULL);
    if (p->head.status < 200)
        return 0; /* another head follows */
    sl_h1_body_init(&p->body, p->head.body, p->head.content_length, p->head_budget);
    p->state = sl_h1_body_is_done(&p->body) ? ST_DONE : ST_BODY;
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

/* A head of head_len bytes so far, with no end in sight: too long, or with
 * bare LFs, which a head that ends in them never shows as CRLF CRLF. Only
 * the bytes that came last, news, are searched: a head that trickles in a
 * byte at a time costs linear time. */
static int check_partial_head(struct sl_h1_response_parser *p, size_t head_len, const char *news,
                              size_t news_len)
{
    if (head_len > p->head_budget)
        return fail(p, SL_ETOOBIG, "a response head over the limit");
    if (memmem(news, news_len, "\n\n", 2) != NULL)
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
        int rc = check_partial_head(p, len, data, len);
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
        return check_partial_head(p, p->stash_len, p->stash + from, p->stash_len - from);
    }
    size_t head_len = (size_t)(end - p->stash);
    *used = head_len - before;
    rc = read_head(p, p->stash, head_len);
    drop_stash(p);
    return rc;
}

static int read_body_bytes(struct sl_h1_response_parser *p, const char *data, size_t len,
                           size_t *used)
{
    int rc = sl_h1_body_read(&p->body, data, len, used, p->cb->on_body, p->ctx);
    if (rc == 1)
        p->state = ST_DONE;
    else if (rc != 0)
        return fail(p, rc, p->body.error);
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
    if (p->state == ST_DONE || (p->state == ST_BODY && sl_h1_body_eof(&p->body) == 1)) {
        p->state = ST_DONE;
        return 1;
    }
    return fail(p, SL_EINVALID, "the connection closed before the response ended");
}
