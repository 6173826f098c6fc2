/* Text written into space of a guessed size, and, when the guess was short,
 * again into space of the length the first pass counted. The same code runs
 * both times, so the length and the bytes agree by construction; a guess
 * that holds makes one pass of the two. */
#ifndef SL_WRITER_H
#define SL_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "copy.h"

struct sl_writer {
    char *buf; /* cap bytes; NULL with cap 0: only count */
    size_t cap;
    size_t len; /* counted so far: past cap, nothing more is written */
};

static inline void sl_put(struct sl_writer *w, const void *bytes, size_t len)
{
    /* len and w->len are sizes of things in memory: their sum cannot wrap */
    if (w->len + len <= w->cap && w->buf != NULL)
        sl_copy(w->buf + w->len, bytes, len);
    w->len += len;
}

/* Whether everything put went into buf. */
static inline bool sl_writer_fits(const struct sl_writer *w)
{
    return w->len <= w->cap;
}

#define SL_PUT_LITERAL(w, s) sl_put((w), (s), sizeof(s) - 1)

#endif
