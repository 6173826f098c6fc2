#include "h2_mem.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Blocks of 64 to 1024 bytes, header included, each class twice the one
 * before (h2_mem.h says why no larger); LARGE marks a block malloc'd at its
 * own size. */
#define CLASSES 5
#define SMALLEST 64
#define LARGE CLASSES

/* In front of every block; its size keeps the payload as aligned as
 * malloc's. */
union header {
    size_t class;
    union header *next; /* while on a free list */
    _Alignas(max_align_t) unsigned char bytes[16];
};
_Static_assert(sizeof(union header) % _Alignof(max_align_t) == 0, "payloads stay aligned");

static union header *lists[CLASSES];
static unsigned list_lengths[CLASSES];

static size_t block_size(size_t class)
{
    return (size_t)SMALLEST << class;
}

static size_t class_of(size_t size)
{
    if (size > block_size(CLASSES - 1) - sizeof(union header))
        return LARGE;
    size_t class = 0;
    while (block_size(class) - sizeof(union header) < size)
        class ++;
    return class;
}

static void *payload_of(union header *h)
{
    return h + 1;
}

static union header *header_of(void *ptr)
{
    return (union header *)ptr - 1;
}

static void *mem_malloc(size_t size, void *user_data)
{
    (void)user_data;
    size_t class = class_of(size);
    union header *h;
    if (class != LARGE && lists[class] != NULL) {
        h = lists[class];
        UNPOISON(h, block_size(class));
        lists[class] = h->next;
        list_lengths[class]--;
    } else {
        h = malloc(class == LARGE ? sizeof(*h) + size : block_size(class));
        if (h == NULL)
            return NULL;
    }
    h->class = class;
    return payload_of(h);
}

static void mem_free(void *ptr, void *user_data)
{
    (void)user_data;
    if (ptr == NULL)
        return;
    union header *h = header_of(ptr);
    size_t class = h->class;
    if (class == LARGE || list_lengths[class] == SL_H2_MEM_KEEP) {
        free(h);
        return;
    }
    h->next = lists[class];
    lists[class] = h;
    list_lengths[class]++;
    POISON(h, block_size(class));
}

static void *mem_calloc(size_t count, size_t size, void *user_data)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *ptr = mem_malloc(count * size, user_data);
    if (ptr != NULL)
        memset(ptr, 0, count * size);
    return ptr;
}

/* What a block can hold. */
static size_t capacity_of(void *ptr, size_t requested)
{
    size_t class = header_of(ptr)->class;
    return class == LARGE ? requested : block_size(class) - sizeof(union header);
}

static void *mem_realloc(void *ptr, size_t size, void *user_data)
{
    if (ptr == NULL)
        return mem_malloc(size, user_data);
    union header *h = header_of(ptr);
    if (h->class == LARGE && class_of(size) == LARGE) {
        union header *grown = realloc(h, sizeof(*h) + size);
        return grown != NULL ? payload_of(grown) : NULL;
    }
    if (h->class != LARGE && size <= capacity_of(ptr, size))
        return ptr;
    void *moved = mem_malloc(size, user_data);
    if (moved == NULL)
        return NULL;
    /* a LARGE block that shrinks into a class: its old size is not kept, but
     * it was larger than any class, so the new size is what is copied */
    size_t old = h->class == LARGE ? size : capacity_of(ptr, size);
    memcpy(moved, ptr, old < size ? old : size);
    mem_free(ptr, user_data);
    return moved;
}

static nghttp2_mem worker_mem = {
    .mem_user_data = NULL,
    .malloc = mem_malloc,
    .free = mem_free,
    .calloc = mem_calloc,
    .realloc = mem_realloc,
};

nghttp2_mem *sl_h2_mem(void)
{
    return &worker_mem;
}

void sl_h2_mem_release(void)
{
    for (size_t class = 0; class < CLASSES; class ++) {
        while (lists[class] != NULL) {
            union header *h = lists[class];
            UNPOISON(h, block_size(class));
            lists[class] = h->next;
            free(h);
        }
        list_lengths[class] = 0;
    }
}
