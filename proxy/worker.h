/* A worker: one event loop that owns listeners, front connections and
 * upstream pools, and drives graceful shutdown.
 *
 * Ownership: worker → listeners, fronts (list), pools (one per backend),
 * the free list of request objects. Everything is freed by sl_worker_fini(). */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "overload.h"

struct event;
struct event_base;
struct sl_config;
struct sl_backend_config;
struct sl_listener;
struct sl_admin;
struct sl_gate;
struct sl_pool;
struct sl_stats_segment;
struct sl_stats_worker;
struct sl_front;
struct sl_request;

TAILQ_HEAD(sl_front_list, sl_front);

struct sl_worker {
    struct event_base *base;
    const struct sl_config *cfg;
    struct sl_listener *listeners;          /* cfg->listener_count of them */
    struct sl_pool **pools;                 /* parallel to cfg->backends */
    struct sl_gate **gates;                 /* parallel to cfg->backends: admission */
    struct sl_stats_segment *stats_segment; /* the master's (borrowed) */
    struct sl_stats_worker *stats;          /* this worker's slot; never NULL once init */
    struct sl_admin *admin;                 /* when cfg->admin_address is set */
    uint32_t conn_row_hint;                 /* where to look for a free connection row */
    struct sl_front_list fronts;
    size_t front_count;
    size_t request_count; /* open streams with a request object */
    struct sl_overload overload;
    struct event *overload_timer; /* samples the overload signals */
    uint64_t overload_due_ns;     /* when the sampler should have run: lateness is loop
                                   * lag; 0 before the first sample */
    uint64_t next_conn_id;
    struct sl_request *free_requests; /* recycled request objects, a singly linked stack */
    size_t free_request_count;
    bool is_draining;
    struct event *on_sigterm;
    struct event *drain_timer;
    struct event *goaway_timer; /* the final GOAWAY for clients that ignore the PING */
};

/* What the master hands a worker it forks (master.h). */
struct sl_worker_setup {
    const int *listen_fds;          /* bound sockets, one per cfg->listeners entry */
    int admin_fd;                   /* the admin socket, or -1 */
    struct sl_stats_segment *stats; /* mapped shared before the fork */
    unsigned slot;                  /* this worker's slot in it */
};

/* Creates the event loop, starts accepting on the master's sockets (TLS
 * contexts included; the worker takes the fds over), and opens the pools.
 * Returns 0, or -1 with a sentence in err; on failure everything acquired is
 * released. cfg and the segment must outlive the worker. */
int sl_worker_init(struct sl_worker *w, const struct sl_config *cfg,
                   const struct sl_worker_setup *setup, char *err, size_t err_len);

/* Serves until SIGTERM (from the master) and the drain that follows end; a
 * second SIGTERM during the drain closes everything. Returns 0. */
int sl_worker_run(struct sl_worker *w);

void sl_worker_fini(struct sl_worker *w);

/* The pool serving backend (a pointer into w->cfg). */
struct sl_pool *sl_worker_pool(const struct sl_worker *w, const struct sl_backend_config *backend);

/* The admission gate of backend (a pointer into w->cfg). */
struct sl_gate *sl_worker_gate(const struct sl_worker *w, const struct sl_backend_config *backend);

/* Called by a front as it is freed, after unlinking itself from w->fronts. */
void sl_worker_on_front_closed(struct sl_worker *w);

#endif
