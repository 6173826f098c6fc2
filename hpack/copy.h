/* memcpy for the short strings of a head. A field's name or value is a few
 * bytes, and a call to memcpy for each (the head's writer makes some thirty
 * a request) costs more than moving them: up to 16 bytes here are two
 * fixed-size loads and stores, which compile to moves. */
#ifndef SL_COPY_H
#define SL_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* As memcpy(to, from, len): reads and writes only those len bytes. */
static inline void sl_copy(void *to, const void *from, size_t len)
{
    char *d = to;
    const char *s = from;
    if (len > 16) {
        memcpy(d, s, len);
    } else if (len >= 8) { /* the two words overlap when len < 16 */
        uint64_t head, tail;
        memcpy(&head, s, 8);
        memcpy(&tail, s + len - 8, 8);
        memcpy(d, &head, 8);
        memcpy(d + len - 8, &tail, 8);
    } else if (len >= 4) {
        uint32_t head, tail;
        memcpy(&head, s, 4);
        memcpy(&tail, s + len - 4, 4);
        memcpy(d, &head, 4);
        memcpy(d + len - 4, &tail, 4);
    } else {
        for (size_t i = 0; i < len; i++)
            d[i] = s[i];
    }
}

#endif
