/* The HTTP/2 server side of one client connection (h2c or TLS with ALPN h2).
 *
 * Owned by its worker (linked in worker->fronts); owns its bufferevent, its
 * nghttp2 session and every request opened on it. It is freed only from its own
 * libevent callbacks (the edge), never from inside an nghttp2 callback. */
#ifndef SL_FRONT_H2_H
#define SL_FRONT_H2_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <nghttp2/nghttp2.h>

struct bufferevent;
struct sl_worker;
struct sl_ip;
struct sl_listener_config;
struct sl_front;

/* Starts serving an accepted connection. Takes ownership of bev (freed with the
 * front, including on failure). is_tls selects the https scheme. Returns 0 or -1. */
int sl_front_h2_start(struct sl_worker *w, struct bufferevent *bev,
                      const struct sl_listener_config *listener, bool is_tls,
                      const struct sockaddr *peer, socklen_t peer_len);

/* Asks for the front's pending frames to be written on this loop turn; the one
 * way for code outside the front's callbacks (an upstream event) to get frames
 * out, so that all of a turn's frames leave in one write. */
void sl_front_h2_schedule_flush(struct sl_front *front);

/* Has output been waiting for the client (it is not reading the socket)? */
bool sl_front_h2_is_write_blocked(const struct sl_front *front);

/* Drops the connection on the next loop turn (its requests are freed then). */
void sl_front_h2_close_later(struct sl_front *front);

/* Starts a graceful shutdown of every front of w (RFC 9113 §6.8): a GOAWAY
 * that refuses nothing yet and a PING; when its ACK comes back, the final
 * GOAWAY (no new streams), and each connection closes once its streams end. */
void sl_front_h2_shutdown_all(struct sl_worker *w);

/* Sends the final GOAWAY to every connection still waiting for the ACK of
 * its shutdown PING (a client that never answers PINGs). */
void sl_front_h2_finish_shutdown(struct sl_worker *w);

/* Closes every front of w at once (drain timeout): open streams are dropped. */
void sl_front_h2_abort_all(struct sl_worker *w);

nghttp2_session *sl_front_h2_session(const struct sl_front *front);
struct sl_worker *sl_front_h2_worker(const struct sl_front *front);
const char *sl_front_h2_peer(const struct sl_front *front); /* address text */
/* The client's IP address as rules take it, or NULL for a Unix-socket client. */
const struct sl_ip *sl_front_h2_peer_ip(const struct sl_front *front);
unsigned sl_front_h2_listener_index(const struct sl_front *front); /* in cfg->listeners */
const char *sl_front_h2_scheme(const struct sl_front *front);      /* "http" or "https" */
uint64_t sl_front_h2_id(const struct sl_front *front);

#endif
