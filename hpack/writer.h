/* Text written in two passes: counting (buf NULL), then into space of the
 * length counted. Running the same code twice makes the length and the bytes
 * written agree by construction. */
#ifndef SL_WRITER_H
#define SL_WRITER_H

#include <stddef.h>
#include <string.h>

struct sl_writer {
    char *buf; /* NULL: only count */
    size_t len;
};

static inline void sl_put(struct sl_writer *w, const void *bytes, size_t len)
{
    if (w->buf != NULL)
        memcpy(w->buf + w->len, bytes, len);
    w->len += len;
}

#define SL_PUT_LITERAL(w, s) sl_put((w), (s), sizeof(s) - 1)

#endif
