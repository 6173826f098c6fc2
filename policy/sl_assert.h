/* SL_ASSERT: a cheap invariant, checked in release builds too (STYLE.md). A
 * broken invariant means sluice's own bug: report where and abort, rather than
 * run on with corrupt state. */
#ifndef SL_SL_ASSERT_H
#define SL_SL_ASSERT_H

/* Called on a broken invariant; never returns. policy/ does no I/O: its own
 * definition (weak) only aborts; proxy/base/log.c supplies one that logs the
 * condition and where, then aborts. */
void sl_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

#define SL_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sl_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)

#endif
