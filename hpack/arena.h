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

/* Makes p (old_size bytes from this arena) new_size bytes long, keeping its
 * content: in place when p is the newest allocation and its chunk has room,
 * else in a new place with as much room again behind it, so that a value
 * grown piece by piece costs linear time and memory. Returns the (maybe moved)
 * pointer, or NULL when out of memory (p is then unchanged). */
void *sl_arena_grow(struct sl_arena *arena, void *p, size_t old_size, size_t new_size);

/* Copies len bytes of s and appends a NUL; NULL when out of memory. */
char *sl_arena_strndup(struct sl_arena *arena, const char *s, size_t len);

/* Bytes handed out since the last reset (what a limit on it would count). */
size_t sl_arena_used(const struct sl_arena *arena);

#endif
