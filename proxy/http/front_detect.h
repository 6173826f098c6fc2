/* A new client connection whose protocol is not known yet. A cleartext one is
 * HTTP/2 if its first bytes are the connection preface (RFC 9113 §3.4, prior
 * knowledge), else HTTP/1.1; a TLS one is what ALPN chose in the handshake
 * (h2, else HTTP/1.1, also for a client that offers no ALPN at all). It then
 * becomes that protocol's front, with the bytes already read.
 *
 * Ownership: linked in plane->detecting until it becomes a front or closes;
 * owns its bufferevent and TLS session until then. A front it becomes while the plane drains
 * is shut down at once, after it has read what the client sent. Waiting is bounded by
 * client_idle_timeout_ms from the accept, the TLS handshake included. */
#ifndef SL_FRONT_DETECT_H
#define SL_FRONT_DETECT_H

#include <stdbool.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct bufferevent;
struct sl_plane;

/* Takes an accepted connection on cfg->listeners[listener_index], with its
 * TLS session (sl_tls_session_new) or NULL for cleartext: both are owned from
 * here on, freed on failure too. Returns 0, or -1 when out of memory. */
int sl_front_detect_start(struct sl_plane *p, struct bufferevent *bev, SSL *ssl,
                          unsigned listener_index, const struct sockaddr *peer, socklen_t peer_len);

/* Closes every connection of p still being told apart. */
void sl_front_detect_close_all(struct sl_plane *p);

#endif
