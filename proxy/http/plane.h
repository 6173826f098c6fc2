/* The data path of one worker: what fronts, requests, admission gates and
 * upstream pools share, and nothing of the process around them (signals,
 * listeners, the admin server: worker.h).
 *
 * Ownership: embedded in its worker; owns the pools and gates (one per
 * backend), the fronts and the connections not yet fronts (lists), and the
 * free list of request objects, and
 * borrows the event loop, the config and the stats slot, which outlive it. */
#ifndef SL_PLANE_H
#define SL_PLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "overload.h"
#include "penalty.h"
#include "turn.h"

struct event_base;
struct sl_backend_config;
struct sl_config;
struct sl_front;
struct sl_gate;
struct sl_pool;
struct sl_request;
struct sl_access_log;
struct sl_events;
struct sl_stats_worker;

TAILQ_HEAD(sl_front_list, sl_front);
TAILQ_HEAD(sl_detect_list, sl_detect); /* front_detect.h */

struct sl_plane {
    struct event_base *base;
    const struct sl_config *cfg;
    struct sl_stats_worker *stats;    /* this worker's slot; never NULL once open */
    struct sl_events *events;         /* the worker's event sink, borrowed; NULL: off */
    struct sl_access_log *access_log; /* the worker's, borrowed; NULL: off */
    struct sl_pool **pools;           /* parallel to cfg->backends */
    struct sl_gate **gates;           /* parallel to cfg->backends: admission */
    struct sl_overload overload;      /* sampled by the worker, read by requests */
    struct sl_front_list fronts;
    size_t front_count;
    struct sl_detect_list detecting; /* accepted, protocol not known yet */
    size_t detect_count;
    size_t request_count; /* open requests, for the overload level and the stats */
    uint64_t next_conn_id;
    uint32_t conn_row_hint;           /* where to look for a free connection row */
    struct sl_request *free_requests; /* recycled request objects, a singly linked stack */
    size_t free_request_count;
    bool is_draining;                       /* the loop ends once the last front closes */
    struct sl_penalty_box glitch_penalties; /* cut off for HTTP/2 glitches; coarse clock */
    struct sl_turn turn;                    /* open while a front parses what it read */
};

/* Opens one pool and one gate per backend of cfg. Returns 0, or -1 with a
 * sentence in err (what was opened is released by sl_plane_close). */
int sl_plane_open(struct sl_plane *p, struct event_base *base, const struct sl_config *cfg,
                  struct sl_stats_worker *stats, char *err, size_t err_len);

/* Closes every front at once, then the pools and gates. */
void sl_plane_close(struct sl_plane *p);

/* The pool and the gate serving backend (a pointer into p->cfg). */
struct sl_pool *sl_plane_pool(const struct sl_plane *p, const struct sl_backend_config *backend);
struct sl_gate *sl_plane_gate(const struct sl_plane *p, const struct sl_backend_config *backend);

/* Graceful shutdown of every front (each by its protocol, front.h); a
 * connection whose protocol is not known yet shuts down as it becomes a front.
 * is_draining must be set. */
void sl_plane_shutdown_fronts(struct sl_plane *p);

/* A draining plane with no connection left ends its event loop. */
void sl_plane_check_drained(struct sl_plane *p);

/* The clients that did not answer the shutdown in time get the final word. */
void sl_plane_finish_shutdown(struct sl_plane *p);

/* Closes every front, and every connection not yet one, at once: open
 * requests are dropped. */
void sl_plane_abort_fronts(struct sl_plane *p);

#endif
