/* libFuzzer: header translation both ways. The input is fields, one per line,
 * "name\tvalue" (a line without a tab is a name with an empty value); the
 * first byte picks the body flag and the response status. Each translation
 * must accept or refuse; what it accepts must hold no CR, LF or NUL. The
 * responses accepted go through one connection's indexing memory, which
 * may leave fields out of the table but never a pseudo-field, and never
 * takes back a never-indexed mark. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "headers.h"
#include "indexing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add_fields(struct sl_header_list *list, const char *text, size_t len)
{
    while (len > 0) {
        const char *end = memchr(text, '\n', len);
        size_t line = end != NULL ? (size_t)(end - text) : len;
        const char *tab = memchr(text, '\t', line);
        size_t name_len = tab != NULL ? (size_t)(tab - text) : line;
        const char *value = tab != NULL ? tab + 1 : text + line;
        size_t value_len = tab != NULL ? line - name_len - 1 : 0;
        sl_header_list_add(list, text, name_len, value, value_len, 0);
        size_t used = end != NULL ? line + 1 : line;
        text += used;
        len -= used;
    }
}

static void check_head(const char *head, size_t len)
{
    /* the only CR and LF are the line ends: each CR is followed by LF */
    for (size_t i = 0; i < len; i++) {
        if (head[i] == '\0' || (head[i] == '\r' && (i + 1 == len || head[i + 1] != '\n')) ||
            (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')))
            __builtin_trap();
    }
}

static void check_indexing(nghttp2_nv *nva, size_t count)
{
    static struct sl_indexing_memory memory; /* one connection for the whole run */
    uint8_t before[count];
    for (size_t i = 0; i < count; i++)
        before[i] = nva[i].flags;
    sl_indexing_choose(&memory, nva, count);
    for (size_t i = 0; i < count; i++) {
        bool is_marked = nva[i].flags & NGHTTP2_NV_FLAG_NO_INDEX;
        if ((before[i] & ~nva[i].flags) != 0 ||
            (nva[i].flags & ~before[i] & ~NGHTTP2_NV_FLAG_NO_INDEX))
            __builtin_trap();
        if (is_marked && !(before[i] & NGHTTP2_NV_FLAG_NO_INDEX) && nva[i].name[0] == ':')
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct sl_arena *arena = sl_arena_new(4096);
    if (arena == NULL)
        return 0;
    struct sl_header_list fields;
    sl_header_list_init(&fields, arena);
    add_fields(&fields, (const char *)data + 1, size - 1);
    bool has_body = data[0] & 1;
    unsigned status = 100 + data[0] * 2;
    struct sl_forward_info fwd = {.client_addr = "127.0.0.1", .scheme = "http"};
    char *head;
    size_t head_len;
    bool is_chunked;
    if (sl_h1_request_head(&fields, &fwd, has_body, arena, &head, &head_len, &is_chunked) == 0)
        check_head(head, head_len);
    nghttp2_nv *nva;
    size_t count;
    sl_h2_request_fields(&fields, &fwd, 2, arena, &nva, &count);
    if (sl_h2_response_fields(&fields, status, arena, &nva, &count) == 0)
        check_indexing(nva, count);
    sl_arena_free(arena);
    return 0;
}
