#include "penalty.h"

#include <string.h>

static bool same_ip(const struct sl_ip *a, const struct sl_ip *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

static int find(const struct sl_penalty_box *box, const struct sl_ip *ip)
{
    for (int i = 0; i < SL_PENALTY_SLOTS; i++)
        if (box->slots[i].until_ns != 0 && same_ip(&box->slots[i].ip, ip))
            return i;
    return -1;
}

void sl_penalty_add(struct sl_penalty_box *box, const struct sl_ip *ip, uint64_t until_ns)
{
    int i = find(box, ip);
    if (i < 0) {
        i = (int)box->next;
        box->next = (box->next + 1) % SL_PENALTY_SLOTS;
        box->slots[i].ip = *ip;
        box->slots[i].until_ns = 0;
    }
    if (until_ns > box->slots[i].until_ns)
        box->slots[i].until_ns = until_ns;
}

bool sl_penalty_has(const struct sl_penalty_box *box, const struct sl_ip *ip, uint64_t now_ns)
{
    int i = find(box, ip);
    return i >= 0 && now_ns < box->slots[i].until_ns;
}
