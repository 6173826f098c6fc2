/* Choosing the backend server for a request. Pure: no I/O, no clock. */
#ifndef SL_SELECT_H
#define SL_SELECT_H

#include <stddef.h>
#include <stdint.h>

/* Returns the index (< n, n >= 1) of the server to use, given each server's
 * requests in flight. When every count is equal (an idle or evenly loaded
 * backend) the servers take turns through *cursor; otherwise two distinct
 * servers are drawn from random and the one with fewer in flight wins (power
 * of two choices), a tie between them again going by *cursor. */
size_t sl_select_server(const uint32_t *inflight, size_t n, uint32_t random, uint32_t *cursor);

#endif
