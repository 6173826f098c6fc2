/* libFuzzer: an HTTP/1.1 request head as the front reads it (hpack/h1.c),
 * read again by http-parser. Whatever both accept must read the same: the
 * same method, target and fields, in order, values without the whitespace
 * around them. */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "h1.h"
#include "headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 64

struct span {
    const char *at;
    size_t len;
};

/* One reading of a head: the target, then name and value per field. */
struct reading {
    struct span target;
    struct span names[MAX_FIELDS];
    struct span values[MAX_FIELDS];
    size_t count;
    bool is_in_value;
    bool is_overflow;
};

static int on_field(void *ctx, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    struct reading *r = ctx;
    if (r->count == MAX_FIELDS) {
        r->is_overflow = true;
        return 0;
    }
    r->names[r->count] = (struct span){name, name_len};
    r->values[r->count++] = (struct span){value, value_len};
    return 0;
}

/* The head is one buffer: http-parser hands each name and value in one piece. */
static int on_url(http_parser *p, const char *at, size_t len)
{
    struct reading *r = p->data;
    r->target = (struct span){at, len};
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct reading *r = p->data;
    if (r->count == MAX_FIELDS) {
        r->is_overflow = true;
        return 0;
    }
    r->names[r->count] = (struct span){at, len};
    r->values[r->count++] = (struct span){at + len, 0};
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct reading *r = p->data;
    if (r->is_overflow)
        return 0;
    while (len > 0 && (at[len - 1] == ' ' || at[len - 1] == '\t'))
        len--;
    r->values[r->count - 1] = (struct span){at, len};
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
};

static bool same(struct span a, struct span b)
{
    return a.len == b.len && memcmp(a.at, b.at, a.len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *head = (const char *)data;
    const char *end = size >= 4 ? memmem(head, size, "\r\n\r\n", 4) : NULL;
    if (end == NULL || (size_t)(end - head) + 4 != size)
        return 0; /* the front hands over only a head that ends at its first CRLF CRLF */
    struct reading ours = {0};
    struct sl_h1_request_line line;
    size_t fields = sl_h1_read_request_line(head, size, &line);
    if (fields == 0 || sl_h1_read_fields(head, size, fields, on_field, &ours) != 0)
        return 0;
    for (size_t i = 0; i < ours.count; i++) {
        for (size_t j = 0; j < ours.values[i].len; j++) {
            if (sl_http_char_class[(unsigned char)ours.values[i].at[j]] & SL_CH_UNSAFE)
                abort();
        }
    }
    ours.target = (struct span){line.target, line.target_len};
    struct reading theirs = {0};
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = &theirs;
    size_t parsed = http_parser_execute(&parser, &settings, head, size);
    if (HTTP_PARSER_ERRNO(&parser) != HPE_OK || parsed != size || ours.is_overflow ||
        theirs.is_overflow)
        return 0; /* it knows fewer methods, and refuses more */
    if (!same(ours.target, theirs.target) || ours.count != theirs.count)
        abort();
    for (size_t i = 0; i < ours.count; i++) {
        if (!same(ours.names[i], theirs.names[i]) || !same(ours.values[i], theirs.values[i]))
            abort();
    }
    return 0;
}
