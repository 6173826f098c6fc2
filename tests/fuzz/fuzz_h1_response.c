/* libFuzzer: an HTTP/1.1 response as a backend connection reads it. The first
 * byte picks where the bytes are cut in two and whether the request was a
 * HEAD; read whole and read in two pieces, the response must be refused both
 * times or come out the same, and nothing it hands out may hold what would break a head sluice
 * writes: a name that is not a token, a CR, LF or NUL in a value. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "h1_response.h"
#include "headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What came out, folded into a hash (FNV-1a), with counts. */
struct digest {
    uint64_t hash;
    size_t fields;
    size_t heads;
    size_t body_bytes;
};

static void fold(struct digest *d, const void *bytes, size_t len)
{
    const uint8_t *b = bytes;
    for (size_t i = 0; i < len; i++)
        d->hash = (d->hash ^ b[i]) * 0x100000001b3ull;
}

static int on_field(void *ctx, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    if (name_len == 0)
        abort();
    for (size_t i = 0; i < name_len; i++) {
        if (!sl_http_is_tchar((unsigned char)name[i]))
            abort();
    }
    for (size_t i = 0; i < value_len; i++) {
        if (sl_http_char_class[(unsigned char)value[i]] & SL_CH_UNSAFE)
            abort();
    }
    struct digest *d = ctx;
    fold(d, name, name_len);
    fold(d, ":", 1);
    fold(d, value, value_len);
    d->fields++;
    return 0;
}

static int on_head(void *ctx, const struct sl_h1_response_head *head)
{
    struct digest *d = ctx;
    fold(d, &head->status, sizeof(head->status));
    d->heads++;
    return 0;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct digest *d = ctx;
    fold(d, data, len);
    d->body_bytes += len;
    return 0;
}

static const struct sl_h1_response_callbacks callbacks = {on_field, on_head, on_body};

/* Reads data in two pieces, cut at cut; returns the last result. */
static int read_cut(const char *data, size_t size, size_t cut, bool is_head_request,
                    struct digest *d, size_t *consumed)
{
    struct sl_h1_response_parser p;
    sl_h1_response_parser_init(&p, &callbacks, d, is_head_request, 4096);
    size_t used = 0;
    int rc = sl_h1_response_parse(&p, data, cut, &used);
    *consumed = used;
    if (rc == 0 && cut < size) {
        rc = sl_h1_response_parse(&p, data + cut, size - cut, &used);
        *consumed += used;
    }
    if (rc == 0)
        rc = sl_h1_response_eof(&p);
    if (rc < 0 && p.error == NULL)
        abort(); /* every refusal says why */
    sl_h1_response_parser_deinit(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool is_head_request = data[0] & 1;
    const char *text = (const char *)data + 1;
    size--;
    size_t cut = size == 0 ? 0 : (size_t)(data[0] >> 1) * size / 127;
    struct digest whole = {0xcbf29ce484222325ull, 0, 0, 0};
    struct digest split = whole;
    size_t whole_used, split_used;
    int whole_rc = read_cut(text, size, size, is_head_request, &whole, &whole_used);
    int split_rc = read_cut(text, size, cut, is_head_request, &split, &split_used);
    if ((whole_rc < 0) != (split_rc < 0))
        abort();
    /* a refusal may come sooner from a piece (a bare LF seen before the head is whole) */
    if (whole_rc >= 0 &&
        (whole_rc != split_rc || whole.hash != split.hash || whole.fields != split.fields ||
         whole.heads != split.heads || whole.body_bytes != split.body_bytes))
        abort();
    if (whole_rc == 1 && (whole_used != split_used || whole_used > size))
        abort();
    if (whole.body_bytes > size)
        abort();
    return 0;
}
