#include "indexing.h"

#include <stddef.h>
#include <string.h>

_Static_assert(SL_INDEXING_NAMES <= 16, "changed_last has a bit per name");

void sl_indexing_init(struct sl_indexing_memory *memory)
{
    *memory = (struct sl_indexing_memory){0};
}

static uint64_t load64(const uint8_t *bytes)
{
    uint64_t word;
    memcpy(&word, bytes, sizeof(word));
    return word;
}

static uint32_t load32(const uint8_t *bytes)
{
    uint32_t word;
    memcpy(&word, bytes, sizeof(word));
    return word;
}

static uint64_t mix(uint64_t h, uint64_t word)
{
    h = (h ^ word) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

/* Eight bytes a step, the last step overlapping the one before: a byte at a
 * time (FNV-1a) cost as much as the Huffman coding an indexed field saves. */
static uint32_t hash_bytes(const uint8_t *bytes, size_t len)
{
    uint64_t h = len * 0x9e3779b97f4a7c15ull;
    if (len >= 8) {
        size_t i = 0;
        for (; i + 8 < len; i += 8)
            h = mix(h, load64(bytes + i));
        h = mix(h, load64(bytes + len - 8));
    } else if (len >= 4) {
        h = mix(h, (uint64_t)load32(bytes) << 32 | load32(bytes + len - 4));
    } else if (len > 0) {
        h = mix(h, (uint64_t)bytes[0] << 16 | (uint64_t)bytes[len / 2] << 8 | bytes[len - 1]);
    }
    return (uint32_t)h;
}

static int find_name(const struct sl_indexing_memory *memory, uint32_t name_hash)
{
    for (int i = 0; i < memory->count; i++)
        if (memory->name_hashes[i] == name_hash)
            return i;
    return -1;
}

/* Whether this value of the name should be offered for indexing, and
 * remembers it. A value seen last time is offered: it is likely in the table,
 * and a NO_INDEX field would not be looked up there by value. */
static bool wants_index(struct sl_indexing_memory *memory, uint32_t name_hash, uint32_t value_hash)
{
    int i = find_name(memory, name_hash);
    if (i < 0) {
        if (memory->count == SL_INDEXING_NAMES)
            return false;
        i = memory->count++;
        memory->name_hashes[i] = name_hash;
        memory->value_hashes[i] = value_hash;
        /* a first value counts as new: a name whose second value differs is
         * changing from then on */
        memory->changed_last |= (uint16_t)(1u << i);
        return true;
    }
    uint16_t bit = (uint16_t)(1u << i);
    if (memory->value_hashes[i] == value_hash) {
        memory->changed_last &= (uint16_t)~bit;
        return true;
    }
    bool is_changing = memory->changed_last & bit;
    memory->value_hashes[i] = value_hash;
    memory->changed_last |= bit;
    return !is_changing;
}

void sl_indexing_choose(struct sl_indexing_memory *memory, nghttp2_nv *fields, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        nghttp2_nv *field = &fields[i];
        if (field->namelen == 0 || field->name[0] == ':' ||
            (field->flags & NGHTTP2_NV_FLAG_NO_INDEX))
            continue;
        uint32_t name_hash = hash_bytes(field->name, field->namelen);
        if (!wants_index(memory, name_hash, hash_bytes(field->value, field->valuelen)))
            field->flags |= NGHTTP2_NV_FLAG_NO_INDEX;
    }
}
