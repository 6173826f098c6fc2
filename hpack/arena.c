#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Chunks form a list, newest first; the oldest (the first allocated) is the one
 * kept across resets, so a reused request pays no malloc for typical headers. */
struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct sl_arena {
    struct chunk *head;
    size_t chunk_bytes;
    size_t used_bytes;
};

static struct chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct chunk))
        return NULL;
    struct chunk *c = malloc(sizeof(*c) + size);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct sl_arena *sl_arena_new(size_t chunk_bytes)
{
    struct sl_arena *arena = malloc(sizeof(*arena));
    if (arena == NULL)
        return NULL;
    arena->chunk_bytes = chunk_bytes < 256 ? 256 : chunk_bytes;
    arena->used_bytes = 0;
    arena->head = chunk_new(arena->chunk_bytes);
    if (arena->head == NULL) {
        free(arena);
        return NULL;
    }
    return arena;
}

void sl_arena_free(struct sl_arena *arena)
{
    if (arena == NULL)
        return;
    struct chunk *c = arena->head;
    while (c != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(arena);
}

void sl_arena_reset(struct sl_arena *arena)
{
    struct chunk *c = arena->head;
    while (c->next != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    c->used = 0;
    arena->head = c;
    arena->used_bytes = 0;
}

static size_t round_up(size_t size)
{
    const size_t align = alignof(max_align_t);
    return (size + align - 1) & ~(align - 1);
}

void *sl_arena_alloc(struct sl_arena *arena, size_t size)
{
    if (size > SIZE_MAX - alignof(max_align_t))
        return NULL;
    size_t rounded = round_up(size);
    struct chunk *c = arena->head;
    if (c->size - c->used < rounded) {
        size_t want = rounded > arena->chunk_bytes ? rounded : arena->chunk_bytes;
        struct chunk *fresh = chunk_new(want);
        if (fresh == NULL)
            return NULL;
        /* keep the first chunk last so that reset can find and keep it */
        fresh->next = c;
        arena->head = fresh;
        c = fresh;
    }
    unsigned char *p = c->data + c->used;
    c->used += rounded;
    arena->used_bytes += size;
    return p;
}

char *sl_arena_strndup(struct sl_arena *arena, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *copy = sl_arena_alloc(arena, len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

size_t sl_arena_used(const struct sl_arena *arena)
{
    return arena->used_bytes;
}
