#include "plane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "front.h"
#include "front_detect.h"
#include "gate.h"
#include "h2_mem.h"
#include "request.h"
#include "upstream.h"
#include "upstream_pool.h"

int sl_plane_open(struct sl_plane *p, struct event_base *base, const struct sl_config *cfg,
                  struct sl_stats_worker *stats, char *err, size_t err_len)
{
    p->base = base;
    p->cfg = cfg;
    p->stats = stats;
    TAILQ_INIT(&p->fronts);
    TAILQ_INIT(&p->detecting);
    sl_turn_init(&p->turn);
    p->pools = calloc(cfg->backend_count, sizeof(*p->pools));
    p->gates = calloc(cfg->backend_count, sizeof(*p->gates));
    if (p->pools == NULL || p->gates == NULL)
        goto oom;
    uint64_t now = sl_clock_ns();
    for (size_t i = 0; i < cfg->backend_count; i++) {
        const struct sl_backend_config *b = &cfg->backends[i];
        const struct sl_upstream_ops *ops =
            b->protocol == SL_BACKEND_H2C ? &sl_upstream_h2c_ops : &sl_upstream_h1_ops;
        p->pools[i] = sl_pool_new(base, b, ops);
        p->gates[i] = sl_gate_new(p, &cfg->backends[i], now);
        if (p->pools[i] == NULL || p->gates[i] == NULL)
            goto oom;
    }
    return 0;
oom:
    snprintf(err, err_len, "out of memory creating the upstream pools");
    return -1;
}

void sl_plane_close(struct sl_plane *p)
{
    if (p->cfg == NULL)
        return;
    sl_plane_abort_fronts(p);
    for (size_t i = 0; p->pools != NULL && i < p->cfg->backend_count; i++)
        sl_pool_free(p->pools[i]);
    free(p->pools);
    for (size_t i = 0; p->gates != NULL && i < p->cfg->backend_count; i++)
        sl_gate_free(p->gates[i]);
    free(p->gates);
    sl_request_free_list_clear(p);
    sl_h2_mem_release(); /* every session is gone: the kept blocks go back to malloc */
    memset(p, 0, sizeof(*p));
}

struct sl_pool *sl_plane_pool(const struct sl_plane *p, const struct sl_backend_config *backend)
{
    return p->pools[backend->index];
}

struct sl_gate *sl_plane_gate(const struct sl_plane *p, const struct sl_backend_config *backend)
{
    return p->gates[backend->index];
}

void sl_plane_check_drained(struct sl_plane *p)
{
    if (p->is_draining && p->front_count == 0 && p->detect_count == 0)
        event_base_loopexit(p->base, NULL);
}

void sl_plane_shutdown_fronts(struct sl_plane *p)
{
    struct sl_front *f;
    TAILQ_FOREACH(f, &p->fronts, in_plane)
    f->ops->shutdown(f);
}

void sl_plane_finish_shutdown(struct sl_plane *p)
{
    struct sl_front *f;
    TAILQ_FOREACH(f, &p->fronts, in_plane)
    f->ops->finish_shutdown(f);
}

void sl_plane_abort_fronts(struct sl_plane *p)
{
    sl_front_detect_close_all(p);
    struct sl_front *f;
    while ((f = TAILQ_FIRST(&p->fronts)) != NULL)
        f->ops->abort(f);
}
