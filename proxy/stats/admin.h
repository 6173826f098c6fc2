/* The admin listener: HTTP/1.1 on a loopback address, serving the stats
 * segment to tools that speak HTTP.
 *   GET /         a live dashboard page (dashboard.h) drawn from the two below
 *   GET /stats    the figures as JSON (stats_render.h)
 *   GET /metrics  the Prometheus text exposition format
 *   GET /connections[?listener=NAME&peer=TEXT&min_streams=N]  the live
 *                 connections of every worker, as JSON
 *   GET /config   the config file as loaded, admin_token redacted
 * With an admin_token in the config, every request must carry it
 * (Authorization: Bearer TOKEN, or ?token=TOKEN for a browser) or gets 401.
 * Anything else is 404; other methods 405. It reads the segment like any
 * reader, so it shows every worker's figures, not only its own.
 *
 * Owned by the worker; it borrows the worker's segment. */
#ifndef SL_ADMIN_H
#define SL_ADMIN_H

#include <stddef.h>

struct event_base;
struct sl_admin;
struct sl_config;
struct sl_stats_segment;

/* Starts serving on fd, a socket the master bound to the admin address (a
 * loopback one: the config refuses others); the admin server takes fd over.
 * Returns the admin server, or NULL with a sentence in err (fd closed). */
struct sl_admin *sl_admin_open(struct event_base *base, int fd, const struct sl_config *cfg,
                               const struct sl_stats_segment *seg, char *err, size_t err_len);

/* Stops listening and closes every admin connection. NULL is a no-op. */
void sl_admin_close(struct sl_admin *admin);

#endif
