/* A listening socket (TCP or Unix) and, for TLS listeners, its context.
 * The master binds the sockets (sl_listener_bind) and every worker accepts on
 * its inherited copy: a listener is owned by its worker; the bound socket (and
 * a Unix socket's path) by the master. Accepted connections become fronts. */
#ifndef SL_LISTENER_H
#define SL_LISTENER_H

#include <stddef.h>

#include <openssl/ssl.h>

struct event;
struct evconnlistener;
struct sl_addr;
struct sl_listener_config;
struct sl_worker;

struct sl_listener {
    struct sl_worker *worker;
    const struct sl_listener_config *cfg;
    struct evconnlistener *evl; /* NULL once closed */
    SSL_CTX *tls;               /* NULL for cleartext */
    struct event *resume_timer; /* re-enables accepting after an accept error */
};

/* Binds and listens on addr (a stale Unix socket file is replaced). Returns
 * the non-blocking, close-on-exec socket, or -1 with a sentence in err. */
int sl_listener_bind(const struct sl_addr *addr, char *err, size_t err_len);

/* Starts accepting on fd, a socket bound for cfg; the listener takes fd over.
 * Returns 0, or -1 with a sentence in err (fd is then closed). */
int sl_listener_open(struct sl_listener *l, struct sl_worker *w,
                     const struct sl_listener_config *cfg, int fd, char *err, size_t err_len);

/* Stops accepting and releases everything (the master's socket stays). */
void sl_listener_close(struct sl_listener *l);

#endif
