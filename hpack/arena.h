/* A bump allocator: many small allocations, freed together in one call.
 *
 * Used for a request's header strings (reset when the request object is reused)
 * and for a loaded config (freed with the config). Not thread-safe. */
#ifndef SL_ARENA_H
#define SL_ARENA_H

#include <stddef.h>

struct sl_arena;

/* Returns a new arena whose first chunk holds chunk_bytes, or NULL when out of
 * memory. The caller owns it and frees it with sl_arena_free(). */
struct sl_arena *sl_arena_new(size_t chunk_bytes);

/* Frees the arena and everything allocated from it. NULL is accepted. */
void sl_arena_free(struct sl_arena *arena);

/* Forgets every allocation but keeps the first chunk for reuse; pointers
 * obtained before are invalid afterwards. */
void sl_arena_reset(struct sl_arena *arena);

/* Returns size bytes aligned for any type, or NULL when out of memory (the
 * arena stays usable). Valid until the next reset or free. */
void *sl_arena_alloc(struct sl_arena *arena, size_t size);

/* Copies len bytes of s and appends a NUL; NULL when out of memory. */
char *sl_arena_strndup(struct sl_arena *arena, const char *s, size_t len);

/* Bytes handed out since the last reset (what a limit on it would count). */
size_t sl_arena_used(const struct sl_arena *arena);

#endif
