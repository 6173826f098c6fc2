#include "worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "front_h2.h"
#include "listener.h"
#include "log.h"
#include "request.h"
#include "timeval_ms.h"
#include "upstream_pool.h"

static void close_listeners(struct sl_worker *w)
{
    for (size_t i = 0; w->listeners != NULL && i < w->cfg->listener_count; i++)
        sl_listener_close(&w->listeners[i]);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;
    SL_WARN("drain timeout (%u ms): closing %zu connections with requests in flight",
            w->cfg->drain_timeout_ms, w->front_count);
    sl_front_h2_abort_all(w);
}

static void begin_drain(struct sl_worker *w)
{
    w->is_draining = true;
    close_listeners(w);
    if (w->front_count == 0) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    SL_INFO("draining %zu connections (at most %u ms)", w->front_count,
            w->cfg->drain_timeout_ms);
    sl_front_h2_shutdown_all(w);
    struct timeval tv = sl_timeval_ms(w->cfg->drain_timeout_ms);
    evtimer_add(w->drain_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct sl_worker *w = arg;
    if (w->is_draining) {
        SL_WARN("signal %d during the drain: closing every connection now", (int)sig);
        sl_front_h2_abort_all(w);
        return;
    }
    SL_INFO("signal %d: shutting down gracefully", (int)sig);
    begin_drain(w);
}

void sl_worker_on_front_closed(struct sl_worker *w)
{
    if (w->is_draining && w->front_count == 0)
        event_base_loopexit(w->base, NULL);
}

struct sl_pool *sl_worker_pool(const struct sl_worker *w, const struct sl_backend_config *backend)
{
    return w->pools[backend - w->cfg->backends];
}

static struct event_base *new_base(void)
{
    struct event_config *ec = event_config_new();
    if (ec == NULL)
        return NULL;
    /* coalesces the epoll_ctl calls of one loop turn into the fewest syscalls */
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

static int open_pools(struct sl_worker *w, char *err, size_t err_len)
{
    w->pools = calloc(w->cfg->backend_count, sizeof(*w->pools));
    if (w->pools == NULL)
        goto oom;
    for (size_t i = 0; i < w->cfg->backend_count; i++) {
        w->pools[i] = sl_pool_new(w->base, &w->cfg->backends[i]);
        if (w->pools[i] == NULL)
            goto oom;
    }
    return 0;
oom:
    snprintf(err, err_len, "out of memory creating the upstream pools");
    return -1;
}

static int open_listeners(struct sl_worker *w, char *err, size_t err_len)
{
    w->listeners = calloc(w->cfg->listener_count, sizeof(*w->listeners));
    if (w->listeners == NULL) {
        snprintf(err, err_len, "out of memory creating the listeners");
        return -1;
    }
    for (size_t i = 0; i < w->cfg->listener_count; i++) {
        if (sl_listener_open(&w->listeners[i], w, &w->cfg->listeners[i], err, err_len) != 0)
            return -1;
    }
    return 0;
}

static int watch_signals(struct sl_worker *w)
{
    w->on_sigterm = evsignal_new(w->base, SIGTERM, on_signal, w);
    w->on_sigint = evsignal_new(w->base, SIGINT, on_signal, w);
    w->drain_timer = evtimer_new(w->base, on_drain_timeout, w);
    if (w->on_sigterm == NULL || w->on_sigint == NULL || w->drain_timer == NULL)
        return -1;
    if (evsignal_add(w->on_sigterm, NULL) != 0 || evsignal_add(w->on_sigint, NULL) != 0)
        return -1;
    return 0;
}

int sl_worker_init(struct sl_worker *w, const struct sl_config *cfg, char *err, size_t err_len)
{
    memset(w, 0, sizeof(*w));
    w->cfg = cfg;
    TAILQ_INIT(&w->fronts);
    w->base = new_base();
    if (w->base == NULL) {
        snprintf(err, err_len, "cannot create the event loop");
        return -1;
    }
    if (open_pools(w, err, err_len) != 0 || open_listeners(w, err, err_len) != 0)
        goto fail;
    if (watch_signals(w) != 0) {
        snprintf(err, err_len, "cannot watch signals");
        goto fail;
    }
    return 0;
fail:
    sl_worker_fini(w);
    return -1;
}

int sl_worker_run(struct sl_worker *w)
{
    event_base_dispatch(w->base);
    return 0;
}

void sl_worker_fini(struct sl_worker *w)
{
    sl_front_h2_abort_all(w);
    close_listeners(w);
    free(w->listeners);
    for (size_t i = 0; w->pools != NULL && i < w->cfg->backend_count; i++)
        sl_pool_free(w->pools[i]);
    free(w->pools);
    if (w->on_sigterm)
        event_free(w->on_sigterm);
    if (w->on_sigint)
        event_free(w->on_sigint);
    if (w->drain_timer)
        event_free(w->drain_timer);
    sl_request_free_list_clear(w);
    if (w->base)
        event_base_free(w->base);
    memset(w, 0, sizeof(*w));
}
