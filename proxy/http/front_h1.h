/* The HTTP/1.1 front (front.h): one client connection speaking HTTP/1.0 or
 * HTTP/1.1, cleartext or TLS without ALPN h2. See front_h1.c for its states. */
#ifndef SL_FRONT_H1_H
#define SL_FRONT_H1_H

#include <stdbool.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct bufferevent;
struct sl_plane;

/* Starts serving an accepted connection on cfg->listeners[listener_index];
 * bytes already in bev's input are the first request's. Takes ownership of
 * bev and ssl (the TLS session, NULL in cleartext), freed with the front,
 * including on failure. Returns 0 or -1. */
int sl_front_h1_start(struct sl_plane *p, struct bufferevent *bev, SSL *ssl,
                      unsigned listener_index, const struct sockaddr *peer, socklen_t peer_len);

#endif
