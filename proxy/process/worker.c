#include "worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "admin.h"
#include "clock.h"
#include "config.h"
#include "gate.h"
#include "listener.h"
#include "log.h"
#include "access_log.h"
#include "events.h"
#include "stats.h"
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
            w->cfg->drain_timeout_ms, w->plane.front_count);
    sl_plane_abort_fronts(&w->plane);
}

/* What the requests open at the final GOAWAY get before drain_timeout_ms ends:
 * a second, or half of a shorter drain. Until then a busy connection takes new
 * requests (front.h). */
static unsigned last_requests_ms(unsigned drain_timeout_ms)
{
    return drain_timeout_ms / 2 < 1000 ? drain_timeout_ms / 2 : 1000;
}

static void on_goaway_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;
    sl_plane_finish_shutdown(&w->plane);
}

static void begin_drain(struct sl_worker *w)
{
    w->plane.is_draining = true;
    close_listeners(w);
    sl_admin_close(w->admin);
    w->admin = NULL;
    if (w->plane.front_count == 0 && w->plane.detect_count == 0) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    SL_INFO("draining %zu connections (at most %u ms)", w->plane.front_count,
            w->cfg->drain_timeout_ms);
    sl_plane_shutdown_fronts(&w->plane);
    unsigned drain_ms = w->cfg->drain_timeout_ms;
    struct timeval refuse_at = sl_timeval_ms(drain_ms - last_requests_ms(drain_ms));
    evtimer_add(w->goaway_timer, &refuse_at);
    struct timeval tv = sl_timeval_ms(drain_ms);
    evtimer_add(w->drain_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct sl_worker *w = arg;
    if (w->plane.is_draining) {
        SL_WARN("signal %d during the drain: closing every connection now", (int)sig);
        sl_plane_abort_fronts(&w->plane);
        return;
    }
    SL_INFO("signal %d: shutting down gracefully", (int)sig);
    begin_drain(w);
}

/* How often the overload signals are sampled. Short enough that the level
 * follows a burst within a step, long enough to cost nothing. */
#define OVERLOAD_SAMPLE_NS (50u * 1000000u)

/* Gauges go to the stats slot with the overload sample: off the hot path. */
static void publish_gauges(struct sl_worker *w)
{
    struct sl_plane *p = &w->plane;
    struct sl_stats_worker *s = p->stats;
    uint64_t now_ns = sl_clock_ns();
    for (size_t i = 0; i < w->cfg->backend_count; i++) {
        sl_gate_publish(p->gates[i], &s->backends[i]);
        s->backends[i].servers_ejected = sl_pool_servers_ejected(p->pools[i], now_ns);
        s->backends[i].ejections = p->pools[i]->ejections;
        s->backends[i].health_checks_failed = p->pools[i]->health_checks_failed;
    }
    s->connections_open = p->front_count;
    s->streams_open = p->request_count;
    s->overload_level = sl_overload_level(&p->overload);
    s->updated_unix_ms = sl_clock_unix_ms();
}

static void on_overload_sample(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;
    uint64_t now = sl_clock_ns();
    struct sl_overload_signal sig = {
        /* the first sample has no due time: start-up is not loop lag */
        .loop_lag_ns =
            w->overload_due_ns != 0 && now > w->overload_due_ns ? now - w->overload_due_ns : 0,
        .connections = (uint32_t)w->plane.front_count,
        .streams = (uint32_t)w->plane.request_count,
    };
    unsigned before = sl_overload_level(&w->plane.overload);
    unsigned level = sl_overload_update(&w->plane.overload, now, &sig);
    if (level != before) {
        SL_WARN("overload level %u -> %u (loop lag %llu ms, %zu connections, %zu streams)", before,
                level, (unsigned long long)(sig.loop_lag_ns / 1000000), w->plane.front_count,
                w->plane.request_count);
    }
    publish_gauges(w);
    sl_worker_check_connection_limit(w);
    w->overload_due_ns = now + OVERLOAD_SAMPLE_NS;
    struct timeval tv = sl_timeval_ns(OVERLOAD_SAMPLE_NS);
    evtimer_add(w->overload_timer, &tv);
}

static size_t open_connections(const struct sl_worker *w)
{
    return w->plane.front_count + w->plane.detect_count;
}

static void enable_accepting(struct sl_worker *w, bool is_on)
{
    for (size_t i = 0; w->listeners != NULL && i < w->cfg->listener_count; i++) {
        struct evconnlistener *evl = w->listeners[i].evl;
        if (evl != NULL && is_on)
            evconnlistener_enable(evl);
        else if (evl != NULL)
            evconnlistener_disable(evl);
    }
    w->is_accept_paused = !is_on;
}

void sl_worker_check_connection_limit(struct sl_worker *w)
{
    bool is_full = open_connections(w) >= w->cfg->max_client_connections;
    if (is_full == w->is_accept_paused || w->plane.is_draining)
        return;
    if (is_full) {
        SL_WARN("%zu client connections (max_client_connections): not accepting until one closes",
                open_connections(w));
        w->plane.stats->connection_limit_hits++;
    } else {
        SL_INFO("accepting client connections again");
    }
    enable_accepting(w, !is_full);
}

/* A restarted worker takes over its slot as it is: the counters keep counting
 * up, so sums over workers never go backwards. */
static struct sl_stats_worker *open_stats(struct sl_worker *w, const struct sl_worker_setup *setup)
{
    w->stats_segment = setup->stats;
    struct sl_stats_worker *slot = &setup->stats->workers[setup->slot];
    sl_stats_slot_reset(slot);
    slot->started_unix_ms = sl_clock_unix_ms();
    slot->updated_unix_ms = slot->started_unix_ms;
    slot->pid = (uint64_t)getpid();
    return slot;
}

static int watch_overload(struct sl_worker *w)
{
    const struct sl_overload_config_ms *o = &w->cfg->overload;
    struct sl_overload_config oc = {
        .max_loop_lag_ns = (uint64_t)o->max_loop_lag_ms * 1000000,
        .max_connections = o->max_connections,
        .max_streams = o->max_streams,
        .recover_percent = o->recover_percent,
        .step_ns = (uint64_t)o->step_ms * 1000000,
        .max_level = w->cfg->shed_levels,
    };
    sl_overload_init(&w->plane.overload, &oc);
    w->overload_timer = evtimer_new(w->base, on_overload_sample, w);
    if (w->overload_timer == NULL)
        return -1;
    w->overload_due_ns = 0; /* the loop has not started yet */
    struct timeval tv = sl_timeval_ns(OVERLOAD_SAMPLE_NS);
    return evtimer_add(w->overload_timer, &tv);
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

static int open_listeners(struct sl_worker *w, const int *fds, char *err, size_t err_len)
{
    w->listeners = calloc(w->cfg->listener_count, sizeof(*w->listeners));
    if (w->listeners == NULL) {
        snprintf(err, err_len, "out of memory creating the listeners");
        return -1;
    }
    for (size_t i = 0; i < w->cfg->listener_count; i++) {
        if (sl_listener_open(&w->listeners[i], w, &w->cfg->listeners[i], fds[i], err, err_len) != 0)
            return -1;
    }
    return 0;
}

/* logrotate renamed the file (the master passes SIGUSR1 on); a worker without
 * an access log takes the signal all the same, so that it does not die of it. */
static void on_reopen_signal(evutil_socket_t sig, short what, void *arg)
{
    struct sl_worker *w = arg;
    if (w->access_log != NULL)
        sl_access_log_reopen(w->access_log);
}

static int watch_signals(struct sl_worker *w)
{
    w->on_sigusr1 = evsignal_new(w->base, SIGUSR1, on_reopen_signal, w);
    if (w->on_sigusr1 == NULL || evsignal_add(w->on_sigusr1, NULL) != 0)
        return -1;
    w->on_sigterm = evsignal_new(w->base, SIGTERM, on_signal, w);
    w->drain_timer = evtimer_new(w->base, on_drain_timeout, w);
    w->goaway_timer = evtimer_new(w->base, on_goaway_timeout, w);
    if (w->on_sigterm == NULL || w->drain_timer == NULL || w->goaway_timer == NULL)
        return -1;
    if (evsignal_add(w->on_sigterm, NULL) != 0)
        return -1;
    return 0;
}

int sl_worker_init(struct sl_worker *w, const struct sl_config *cfg,
                   const struct sl_worker_setup *setup, char *err, size_t err_len)
{
    memset(w, 0, sizeof(*w));
    w->cfg = cfg;
    w->base = new_base();
    if (w->base == NULL) {
        snprintf(err, err_len, "cannot create the event loop");
        return -1;
    }
    struct sl_stats_worker *slot = open_stats(w, setup);
    if (sl_plane_open(&w->plane, w->base, cfg, slot, err, err_len) != 0 ||
        open_listeners(w, setup->listen_fds, err, err_len) != 0)
        goto fail;
    if (cfg->events.is_on) {
        w->events = sl_events_new(w->base, cfg, slot, setup->slot);
        if (w->events == NULL) {
            snprintf(err, err_len, "out of memory starting the event sink");
            goto fail;
        }
        w->plane.events = w->events;
    }
    if (cfg->access_log.is_on) {
        w->access_log = sl_access_log_open(w->base, cfg, slot, err, err_len);
        if (w->access_log == NULL)
            goto fail;
        w->plane.access_log = w->access_log;
    }
    if (setup->admin_fd >= 0) {
        w->admin = sl_admin_open(w->base, setup->admin_fd, cfg, w->stats_segment, err, err_len);
        if (w->admin == NULL)
            goto fail;
    }
    if (watch_signals(w) != 0 || watch_overload(w) != 0) {
        snprintf(err, err_len, "cannot watch signals and timers");
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
    for (size_t i = 0; i < w->cfg->backend_count; i++)
        sl_gate_log_counts(w->plane.gates[i], w->cfg);
    return 0;
}

void sl_worker_fini(struct sl_worker *w)
{
    sl_plane_abort_fronts(&w->plane);
    close_listeners(w);
    free(w->listeners);
    sl_admin_close(w->admin);
    sl_plane_close(&w->plane);
    sl_events_free(w->events); /* after the last request: the final figures go out */
    sl_access_log_close(w->access_log);
    if (w->on_sigusr1)
        event_free(w->on_sigusr1);
    if (w->overload_timer)
        event_free(w->overload_timer);
    if (w->on_sigterm)
        event_free(w->on_sigterm);
    if (w->drain_timer)
        event_free(w->drain_timer);
    if (w->goaway_timer)
        event_free(w->goaway_timer);
    if (w->base)
        event_base_free(w->base);
    memset(w, 0, sizeof(*w));
}
