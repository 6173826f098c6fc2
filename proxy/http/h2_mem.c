#include "h2_mem.h"

#include <stdbool.h>
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
    size_t size_class;
    union header *next; /* while on a free list */
    _Alignas(max_align_t) unsigned char bytes[16];
};
_Static_assert(sizeof(union header) % _Alignof(max_align_t) == 0, "payloads stay aligned");

static union header *lists[CLASSES];
static unsigned list_lengths[CLASSES];

static size_t block_size(size_t size_class)
{
    return (size_t)SMALLEST << size_class;
}

/* What a block of a class holds past its header. */
static size_t capacity(size_t size_class)
{
    return block_size(size_class) - sizeof(union header);
}

static size_t class_of(size_t size)
{
    if (size > capacity(CLASSES - 1))
        return LARGE;
    size_t size_class = 0;
    while (capacity(size_class) < size)
        size_class++;
    return size_class;
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
    size_t size_class = class_of(size);
    union header *h;
    if (size_class == LARGE) {
        h = size <= SIZE_MAX - sizeof(*h) ? malloc(sizeof(*h) + size) : NULL;
    } else if (lists[size_class] != NULL) {
        h = lists[size_class];
        UNPOISON(h, block_size(size_class));
        lists[size_class] = h->next;
        list_lengths[size_class]--;
    } else {
        h = malloc(block_size(size_class));
    }
    if (h == NULL)
        return NULL;
    h->size_class = size_class;
    return payload_of(h);
}

static void mem_free(void *ptr, void *user_data)
{
    (void)user_data;
    if (ptr == NULL)
        return;
    union header *h = header_of(ptr);
    size_t size_class = h->size_class;
    if (size_class == LARGE || list_lengths[size_class] == SL_H2_MEM_KEEP) {
        free(h);
        return;
    }
    h->next = lists[size_class];
    lists[size_class] = h;
    list_lengths[size_class]++;
    POISON(h, block_size(size_class));
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

static void *mem_realloc(void *ptr, size_t size, void *user_data)
{
    if (ptr == NULL)
        return mem_malloc(size, user_data);
    union header *h = header_of(ptr);
    bool is_large = h->size_class == LARGE;
    if (is_large && class_of(size) == LARGE) {
        union header *grown = size <= SIZE_MAX - sizeof(*h) ? realloc(h, sizeof(*h) + size) : NULL;
        return grown != NULL ? payload_of(grown) : NULL;
    }
    if (!is_large && size <= capacity(h->size_class))
        return ptr;
    void *moved = mem_malloc(size, user_data);
    if (moved == NULL)
        return NULL;
    /* a class's block grows: all of it is kept; a LARGE block shrinks into a
     * class: it held more than size, and size is kept */
    memcpy(moved, ptr, is_large ? size : capacity(h->size_class));
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
    for (size_t size_class = 0; size_class < CLASSES; size_class++) {
        while (lists[size_class] != NULL) {
            union header *h = lists[size_class];
            UNPOISON(h, block_size(size_class));
            lists[size_class] = h->next;
            free(h);
        }
        list_lengths[size_class] = 0;
    }
}
