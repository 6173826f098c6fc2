#include "select.h"

#include <stdbool.h>

static bool all_equal(const uint32_t *inflight, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (inflight[i] != inflight[0])
            return false;
    }
    return true;
}

size_t sl_select_server(const uint32_t *inflight, size_t n, uint32_t random, uint32_t *cursor)
{
    if (n == 1)
        return 0;
    if (all_equal(inflight, n))
        return (*cursor)++ % n;
    size_t a = random % n;
    size_t b = (a + 1 + (random / n) % (n - 1)) % n; /* never equal to a */
    if (inflight[a] == inflight[b])
        return ((*cursor)++ & 1) ? b : a;
    return inflight[a] < inflight[b] ? a : b;
}
