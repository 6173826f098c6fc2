/* Which response fields an HTTP/2 connection lets its HPACK encoder index.
 *
 * nghttp2's encoder adds every field it does not find in its dynamic table
 * to the table, but for a few names it knows to change (content-length,
 * etag, ...). A field whose value changes with every response (a request
 * counter, a request id) then costs an entry per response, allocated, copied
 * and evicted, and pushes out the fields that do repeat. Without a table,
 * every field is Huffman-coded afresh instead: 14% of an h2c request's
 * instructions for a response of six fields.
 *
 * The memory tells the two kinds apart on one connection. A name whose value
 * changed at its last two appearances is changing: its new values go as
 * literals, which nghttp2 then does not index (NGHTTP2_NV_FLAG_NO_INDEX), with
 * the name taken from the table, where its first value put it. A value that
 * changes now and then (date, once a second) is indexed again at each change.
 *
 * Pure: no I/O, no allocation. Names and values are told apart by a 32-bit
 * hash: a collision only makes one field indexed or not when it should not. */
#ifndef SL_INDEXING_H
#define SL_INDEXING_H

#include <stdbool.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

/* Names remembered per connection. A name beyond them is never indexed, so a
 * response with many names cannot make the table churn either. */
#define SL_INDEXING_NAMES 16

struct sl_indexing_memory {
    uint32_t name_hashes[SL_INDEXING_NAMES];
    uint32_t value_hashes[SL_INDEXING_NAMES]; /* the value it had last */
    uint16_t changed_last;                    /* bit i: name i's last value was new */
    uint8_t count;                            /* names remembered so far */
};

/* Starts a connection's memory empty. */
void sl_indexing_init(struct sl_indexing_memory *memory);

/* Adds NGHTTP2_NV_FLAG_NO_INDEX to the fields of one response that should not
 * be indexed, and remembers their values for the next response. Pseudo-fields
 * (":status") and fields already never-indexed are left alone and not
 * remembered. */
void sl_indexing_choose(struct sl_indexing_memory *memory, nghttp2_nv *fields, size_t count);

#endif
