#include "front_detect.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "front_io.h"
#include "front_h1.h"
#include "front_h2.h"
#include "log.h"
#include "plane.h"
#include "timeval_ms.h"

/* RFC 9113 §3.4 */
static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(preface) - 1)

struct sl_detect {
    struct sl_plane *plane;
    struct bufferevent *bev;
    SSL *ssl;               /* TLS: the session, whose handshake tells; NULL in cleartext */
    struct event *readable; /* TLS: the handshake's next step */
    struct event *timer;    /* gives up on a connection that does not say */
    unsigned listener_index;
    bool is_started; /* bytes came: the rest must within client_header_timeout_ms */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    TAILQ_ENTRY(sl_detect) in_plane;
};

static void detect_free(struct sl_detect *d, bool is_bev_kept)
{
    struct sl_plane *p = d->plane;
    TAILQ_REMOVE(&p->detecting, d, in_plane);
    p->detect_count--;
    event_free(d->timer);
    if (d->readable != NULL)
        event_free(d->readable);
    if (!is_bev_kept) {
        SSL_free(d->ssl);
        bufferevent_free(d->bev);
    }
    free(d);
    if (!is_bev_kept)
        sl_plane_check_drained(p);
}

static void become(struct sl_detect *d, bool is_h2)
{
    struct sl_plane *p = d->plane;
    struct bufferevent *bev = d->bev;
    SSL *ssl = d->ssl;
    unsigned index = d->listener_index;
    struct sockaddr_storage peer = d->peer;
    socklen_t peer_len = d->peer_len;
    detect_free(d, true);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    int rv = is_h2 ? sl_front_h2_start(p, bev, ssl, index, (struct sockaddr *)&peer, peer_len)
                   : sl_front_h1_start(p, bev, ssl, index, (struct sockaddr *)&peer, peer_len);
    if (rv != 0) {
        SL_ERROR("listener %s: out of memory for a connection", p->cfg->listeners[index].addr.text);
        sl_plane_check_drained(p); /* it may have been the last one of a drain */
    }
}

/* From the first byte, what is left of the idle time shrinks to the header
 * time: a preface or a handshake trickled a byte at a time is cut off there. */
static void note_started(struct sl_detect *d)
{
    if (d->is_started)
        return;
    d->is_started = true;
    struct timeval tv = sl_timeval_ms(d->plane->cfg->client_header_timeout_ms);
    evtimer_add(d->timer, &tv);
}

/* Cleartext: the preface, byte for byte as far as it has come, or not. */
static void on_read(struct bufferevent *bev, void *arg)
{
    struct sl_detect *d = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    note_started(d);
    size_t n = len < PREFACE_LEN ? len : PREFACE_LEN;
    const unsigned char *data = evbuffer_pullup(in, (ev_ssize_t)n);
    if (data == NULL)
        return;
    if (memcmp(data, preface, n) != 0)
        become(d, false);
    else if (n == PREFACE_LEN)
        become(d, true);
}

static bool is_alpn_h2(SSL *ssl)
{
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    return len == 2 && memcmp(proto, "h2", 2) == 0;
}

/* TLS: the handshake goes on as the client's bytes come; its own bytes leave
 * as front writes do (front_io.h), the bufferevent writing what waits. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct sl_detect *d = arg;
    int rv = sl_tls_handshake_step(d->ssl, d->plane->cfg->listeners[d->listener_index].addr.text);
    if (rv > 0)
        become(d, is_alpn_h2(d->ssl));
    else if (rv == 0)
        event_add(d->readable, NULL);
    else
        detect_free(d, false);
}

/* The connection failed, or the client closed it, while being told. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    detect_free(arg, false);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sl_detect *d = arg;
    const struct sl_config *cfg = d->plane->cfg;
    SL_DEBUG("listener %s: a client %s for %u ms; closing",
             cfg->listeners[d->listener_index].addr.text,
             d->is_started ? "began and did not finish its preface or handshake" : "said nothing",
             d->is_started ? cfg->client_header_timeout_ms : cfg->client_idle_timeout_ms);
    detect_free(d, false);
}

int sl_front_detect_start(struct sl_plane *p, struct bufferevent *bev, SSL *ssl,
                          unsigned listener_index, const struct sockaddr *peer, socklen_t peer_len)
{
    struct sl_detect *d = calloc(1, sizeof(*d));
    if (d == NULL)
        goto fail_alloc;
    d->timer = evtimer_new(p->base, on_timeout, d);
    if (ssl != NULL)
        d->readable = event_new(p->base, bufferevent_getfd(bev), EV_READ, on_readable, d);
    if (d->timer == NULL || (ssl != NULL && d->readable == NULL))
        goto fail_events;
    d->plane = p;
    d->bev = bev;
    d->ssl = ssl;
    d->listener_index = listener_index;
    if (peer_len <= sizeof(d->peer)) {
        memcpy(&d->peer, peer, peer_len);
        d->peer_len = peer_len;
    }
    TAILQ_INSERT_TAIL(&p->detecting, d, in_plane);
    p->detect_count++;
    struct timeval tv = sl_timeval_ms(p->cfg->client_idle_timeout_ms);
    evtimer_add(d->timer, &tv);
    bufferevent_setcb(bev, ssl != NULL ? NULL : on_read, NULL, on_event, d);
    if (ssl != NULL) {
        note_started(d); /* a TLS client speaks first: its handshake is under way */
        bufferevent_enable(bev, EV_WRITE);
        event_add(d->readable, NULL);
    } else {
        bufferevent_enable(bev, EV_READ | EV_WRITE);
    }
    return 0;

fail_events:
    if (d->timer != NULL)
        event_free(d->timer);
    free(d);
fail_alloc:
    SSL_free(ssl);
    bufferevent_free(bev);
    return -1;
}

void sl_front_detect_close_all(struct sl_plane *p)
{
    struct sl_detect *d;
    while ((d = TAILQ_FIRST(&p->detecting)) != NULL)
        detect_free(d, false);
}
