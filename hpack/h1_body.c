#include "h1_body.h"

#include "h1.h"
#include "headers.h"

/* The longest chunk-size line, extensions included, that is read: no real
 * chunk needs more than its 16 hex digits and a short extension. */
#define CHUNK_LINE_MAX 4096

enum state {
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

int sl_h1_body_kind_of(const struct sl_h1_head_notes *n, enum sl_h1_body_kind unframed,
                       enum sl_h1_body_kind *kind)
{
    if (n->framing.transfer_encoding_count > 0) {
        *kind = SL_H1_BODY_CHUNKED;
    } else if (n->framing.content_length_count > 0) {
        if (!n->is_length_read)
            return SL_EINVALID; /* digits, but more than 64 bits of them */
        *kind = n->length > 0 ? SL_H1_BODY_LENGTH : SL_H1_BODY_NONE;
    } else {
        *kind = unframed;
    }
    return 0;
}

void sl_h1_body_init(struct sl_h1_body *b, enum sl_h1_body_kind kind, uint64_t length,
                     size_t trailer_bytes)
{
    static const enum state first[] = {
        [SL_H1_BODY_NONE] = ST_DONE,
        [SL_H1_BODY_LENGTH] = ST_LENGTH,
        [SL_H1_BODY_CHUNKED] = ST_CHUNK_SIZE,
        [SL_H1_BODY_UNTIL_CLOSE] = ST_UNTIL_CLOSE,
    };
    *b = (struct sl_h1_body){
        .state = kind == SL_H1_BODY_LENGTH && length == 0 ? ST_DONE : first[kind],
        .trailer_budget = trailer_bytes,
        .left = kind == SL_H1_BODY_LENGTH ? length : 0,
    };
}

static int fail(struct sl_h1_body *b, int rc, const char *why)
{
    b->state = ST_FAILED;
    b->error = why;
    return rc;
}

static int read_chunk_ext(struct sl_h1_body *b, unsigned char c)
{
    if (c == '\r')
        b->state = ST_CHUNK_SIZE_LF;
    else if (!sl_http_is_text(c))
        return fail(b, SL_EINVALID, "a control byte in a chunk extension");
    return 0;
}

static unsigned hex_value(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : 16;
}

static int read_chunk_size(struct sl_h1_body *b, unsigned char c)
{
    unsigned digit = hex_value(c);
    if (digit < 16) {
        if (b->left > (UINT64_MAX >> 4))
            return fail(b, SL_EINVALID, "a chunk size too large");
        b->left = b->left << 4 | digit;
        b->has_size_digit = true;
        return 0;
    }
    if (!b->has_size_digit || (c != ';' && c != '\r' && c != ' ' && c != '\t'))
        return fail(b, SL_EINVALID, "a malformed chunk size");
    b->state = ST_CHUNK_EXT; /* the byte after the digits starts the extensions or ends the line */
    return read_chunk_ext(b, c);
}

/* A byte after a line's CR: the LF, and what the line leads to. */
static int read_line_end(struct sl_h1_body *b, unsigned char c)
{
    if (c != '\n')
        return fail(b, SL_EINVALID, "a bare CR in chunked framing");
    switch (b->state) {
    case ST_CHUNK_SIZE_LF:
        b->state = b->left > 0 ? ST_CHUNK_DATA : ST_TRAILER_START;
        break;
    case ST_CHUNK_DATA_LF:
        b->state = ST_CHUNK_SIZE;
        b->has_size_digit = false;
        b->line_bytes = 0;
        break;
    case ST_TRAILER_LF:
        b->state = ST_TRAILER_START;
        break;
    default:
        b->state = ST_DONE;
        break;
    }
    return 0;
}

/* A byte of a trailer line, of the empty line that ends the trailers, or the
 * CR after a chunk's data. */
static int read_line_byte(struct sl_h1_body *b, unsigned char c)
{
    if (c == '\r') {
        b->state = b->state == ST_CHUNK_DATA_CR  ? ST_CHUNK_DATA_LF
                   : b->state == ST_TRAILER_LINE ? ST_TRAILER_LF
                                                 : ST_END_LF;
        return 0;
    }
    if (b->state == ST_CHUNK_DATA_CR)
        return fail(b, SL_EINVALID, "chunk data longer than its size");
    if (!sl_http_is_text(c))
        return fail(b, SL_EINVALID, "a control byte in a trailer");
    if (b->trailer_budget-- == 0)
        return fail(b, SL_ETOOBIG, "trailers over the limit");
    b->state = ST_TRAILER_LINE;
    return 0;
}

/* One byte of chunked framing (RFC 9112 §7.1): the size line, the CRLF after
 * the data, the trailers and the empty line that ends them. */
static int read_chunk_framing(struct sl_h1_body *b, unsigned char c)
{
    switch (b->state) {
    case ST_CHUNK_SIZE:
    case ST_CHUNK_EXT:
        if (++b->line_bytes > CHUNK_LINE_MAX)
            return fail(b, SL_EINVALID, "a chunk-size line too long");
        return b->state == ST_CHUNK_SIZE ? read_chunk_size(b, c) : read_chunk_ext(b, c);
    case ST_CHUNK_SIZE_LF:
    case ST_CHUNK_DATA_LF:
    case ST_TRAILER_LF:
    case ST_END_LF:
        return read_line_end(b, c);
    default:
        return read_line_byte(b, c);
    }
}

/* Data in bulk: the rest of a length, of a chunk, or anything before the close. */
static int read_data(struct sl_h1_body *b, const char *data, size_t len, size_t *used,
                     sl_h1_data_fn on_data, void *ctx)
{
    size_t n = b->state != ST_UNTIL_CLOSE && b->left < len ? (size_t)b->left : len;
    *used = n;
    int rc = on_data(ctx, data, n);
    if (rc != 0)
        return fail(b, rc, NULL);
    if (b->state == ST_UNTIL_CLOSE)
        return 0;
    b->left -= n;
    if (b->left == 0)
        b->state = b->state == ST_LENGTH ? ST_DONE : ST_CHUNK_DATA_CR;
    return 0;
}

static bool is_data_state(enum state s)
{
    return s == ST_LENGTH || s == ST_CHUNK_DATA || s == ST_UNTIL_CLOSE;
}

int sl_h1_body_read(struct sl_h1_body *b, const char *data, size_t len, size_t *consumed,
                    sl_h1_data_fn on_data, void *ctx)
{
    *consumed = 0;
    if (b->state == ST_FAILED)
        return SL_EINVALID;
    size_t at = 0;
    while (at < len && b->state != ST_DONE) {
        if (is_data_state(b->state)) {
            size_t used;
            int rc = read_data(b, data + at, len - at, &used, on_data, ctx);
            if (rc != 0)
                return rc;
            at += used;
            continue;
        }
        int rc = read_chunk_framing(b, (unsigned char)data[at++]);
        if (rc != 0)
            return rc;
    }
    *consumed = at;
    return b->state == ST_DONE ? 1 : 0;
}

int sl_h1_body_eof(struct sl_h1_body *b)
{
    if (b->state == ST_UNTIL_CLOSE || b->state == ST_DONE) {
        b->state = ST_DONE;
        return 1;
    }
    return fail(b, SL_EINVALID, "the connection closed before the body ended");
}

bool sl_h1_body_is_done(const struct sl_h1_body *b)
{
    return b->state == ST_DONE;
}

uint64_t sl_h1_body_length_left(const struct sl_h1_body *b)
{
    return b->state == ST_LENGTH ? b->left : 0;
}
