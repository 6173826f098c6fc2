#include "sl_assert.h"

#include <stdlib.h>

/* Weak: a program that can log (sluice) replaces it. */
__attribute__((weak)) void sl_assert_fail(const char *cond, const char *file, int line)
{
    abort();
}
