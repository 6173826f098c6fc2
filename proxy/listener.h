/* A listening socket (TCP or Unix) and, for TLS listeners, its context.
 * Owned by the worker; accepted connections become fronts. */
#ifndef SL_LISTENER_H
#define SL_LISTENER_H

#include <stddef.h>

#include <openssl/ssl.h>

struct event;
struct evconnlistener;
struct sl_listener_config;
struct sl_worker;

struct sl_listener {
    struct sl_worker *worker;
    const struct sl_listener_config *cfg;
    struct evconnlistener *evl; /* NULL once closed */
    SSL_CTX *tls;               /* NULL for cleartext */
    struct event *resume_timer; /* re-enables accepting after an accept error */
};

/* Binds, listens and starts accepting. Returns 0, or -1 with a sentence in err. */
int sl_listener_open(struct sl_listener *l, struct sl_worker *w,
                     const struct sl_listener_config *cfg, char *err, size_t err_len);

/* Stops accepting and releases everything; a Unix socket path is removed. */
void sl_listener_close(struct sl_listener *l);

#endif
