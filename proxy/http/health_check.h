/* Active health checks (backend key health_check_path): while a server is out
 * of rotation, a GET of the path every health_check_interval_ms, on a
 * connection of its own, in the backend's protocol (HTTP/1.1 or h2c). A final
 * 2xx status within the interval brings the server back (on trial,
 * upstream_pool.h); anything else, or no answer, keeps it out.
 *
 * Ownership: a server owns its checker (upstream_pool.c); the checker borrows
 * the server and owns the probe in flight, if any. */
#ifndef SL_HEALTH_CHECK_H
#define SL_HEALTH_CHECK_H

struct event_base;
struct sl_server;
struct sl_health_check;

/* Returns a stopped checker for s, or NULL when out of memory. */
struct sl_health_check *sl_health_check_new(struct event_base *base, struct sl_server *s);

/* Stops it and frees it; NULL is fine. */
void sl_health_check_free(struct sl_health_check *hc);

/* The server left the rotation: a probe every interval from now on, the
 * first one interval away, until one passes or the checker is stopped.
 * Returns 0, or -1 when the timer could not be armed. */
int sl_health_check_start(struct sl_health_check *hc);

/* Ends the probe in flight, if any, and the timer. */
void sl_health_check_stop(struct sl_health_check *hc);

#endif
