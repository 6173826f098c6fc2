/* A worker: one event loop that owns listeners, front connections and
 * upstream pools, and drives graceful shutdown.
 *
 * Ownership: worker → listeners, the admin server, and the plane (plane.h:
 * fronts, pools, gates). Everything is freed by sl_worker_fini(). */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "plane.h"

struct event;
struct event_base;
struct sl_config;
struct sl_listener;
struct sl_admin;
struct sl_access_log;
struct sl_events;
struct sl_stats_segment;

struct sl_worker {
    struct event_base *base;
    const struct sl_config *cfg;
    struct sl_plane plane;                  /* the data path */
    struct sl_listener *listeners;          /* cfg->listener_count of them */
    struct sl_stats_segment *stats_segment; /* the master's (borrowed) */
    struct sl_admin *admin;                 /* when cfg->admin_address is set */
    struct sl_events *events;               /* when cfg->events is on */
    struct sl_access_log *access_log;       /* when cfg->access_log is on */
    struct event *on_sigusr1;               /* reopens the access log */
    struct event *overload_timer;           /* samples the overload signals */
    uint64_t overload_due_ns;               /* when the sampler should have run: lateness is loop
                                             * lag; 0 before the first sample */
    struct event *on_sigterm;
    struct event *drain_timer;
    struct event *goaway_timer; /* the drain's GOAWAY to connections still busy */
    bool is_accept_paused;      /* at max_client_connections: listeners disabled */
};

/* At max_client_connections the worker stops accepting (listener.c calls this
 * after each accept), and the overload sampler accepts again once a
 * connection has closed. */
void sl_worker_check_connection_limit(struct sl_worker *w);

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

#endif
