/* The penalty box: client addresses whose last connection was cut off for
 * abuse (HTTP/2 frames that did no work, past client_glitch_limit), kept for a
 * while so that the same address's next connections get a smaller budget. An
 * abuser reconnecting at once then costs a handful of frames a connection,
 * not the whole limit; a client that sends no such frames loses nothing.
 *
 * Fixed size: when it is full the oldest entry makes room. Pure: the caller
 * passes the clock. */
#ifndef SL_PENALTY_H
#define SL_PENALTY_H

#include <stdbool.h>
#include <stdint.h>

#include "rules.h"

#define SL_PENALTY_SLOTS 64

struct sl_penalty_box {
    struct {
        struct sl_ip ip;
        uint64_t until_ns; /* 0: a free slot */
    } slots[SL_PENALTY_SLOTS];
    uint32_t next; /* the slot the next new address takes, oldest first */
};

/* ip is in the box until until_ns (a later time than it had, if it was in). */
void sl_penalty_add(struct sl_penalty_box *box, const struct sl_ip *ip, uint64_t until_ns);

/* ip is in the box at now_ns. */
bool sl_penalty_has(const struct sl_penalty_box *box, const struct sl_ip *ip, uint64_t now_ns);

#endif
