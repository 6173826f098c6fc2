/* SL_ASSERT: a cheap invariant, checked in release builds too (STYLE.md). A
 * broken invariant means sluice's own bug: report where and abort, rather than
 * run on with corrupt state. libc only, so policy/ can use it. */
#ifndef SL_SL_ASSERT_H
#define SL_SL_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define SL_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "sluice: assertion failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
