/* The HTTP/2 front (front.h): one client connection, h2c or TLS with ALPN h2.
 *
 * Owned by its plane (linked in plane->fronts); owns its bufferevent, its
 * nghttp2 session and every request opened on it. It is freed only from its own
 * libevent callbacks (the edge), never from inside an nghttp2 callback, or by
 * its abort op. */
#ifndef SL_FRONT_H2_H
#define SL_FRONT_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct bufferevent;
struct sl_plane;
struct sl_request;

/* Starts serving an accepted connection on cfg->listeners[listener_index].
 * Takes ownership of bev and ssl (the TLS session, NULL for h2c), freed with
 * the front, including on failure. Returns 0 or -1. */
int sl_front_h2_start(struct sl_plane *p, struct bufferevent *bev, SSL *ssl,
                      unsigned listener_index, const struct sockaddr *peer, socklen_t peer_len);

/* Continues a cleartext HTTP/1.1 connection that asked for Upgrade: h2c, after
 * its 101 went into bev's output (RFC 7540 §3.2): settings is the decoded
 * HTTP2-Settings payload, and req, whose head is complete and has no body,
 * moves here as stream 1 and is routed. Takes ownership of bev on success
 * only; returns 0, or -1 (nothing is taken). */
int sl_front_h2_start_upgraded(struct sl_plane *p, struct bufferevent *bev, unsigned listener_index,
                               const struct sockaddr *peer, socklen_t peer_len,
                               const uint8_t *settings, size_t settings_len,
                               struct sl_request *req);

#endif
