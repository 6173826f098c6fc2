#include "front_detect.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
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
    struct event *timer; /* gives up on a connection that does not say */
    unsigned listener_index;
    bool is_tls;
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
    if (!is_bev_kept)
        bufferevent_free(d->bev);
    free(d);
    if (!is_bev_kept)
        sl_plane_check_drained(p);
}

static void become(struct sl_detect *d, bool is_h2)
{
    struct sl_plane *p = d->plane;
    struct bufferevent *bev = d->bev;
    unsigned index = d->listener_index;
    bool is_tls = d->is_tls;
    struct sockaddr_storage peer = d->peer;
    socklen_t peer_len = d->peer_len;
    detect_free(d, true);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    int rv = is_h2 ? sl_front_h2_start(p, bev, index, is_tls, (struct sockaddr *)&peer, peer_len)
                   : sl_front_h1_start(p, bev, index, is_tls, (struct sockaddr *)&peer, peer_len);
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

static bool is_alpn_h2(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    if (ssl != NULL)
        SSL_get0_alpn_selected(ssl, &proto, &len);
    return len == 2 && memcmp(proto, "h2", 2) == 0;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sl_detect *d = arg;
    if (what & BEV_EVENT_CONNECTED) {
        become(d, is_alpn_h2(bev));
        return;
    }
    detect_free(d, false);
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

int sl_front_detect_start(struct sl_plane *p, struct bufferevent *bev, unsigned listener_index,
                          bool is_tls, const struct sockaddr *peer, socklen_t peer_len)
{
    struct sl_detect *d = calloc(1, sizeof(*d));
    if (d == NULL)
        goto fail_alloc;
    d->timer = evtimer_new(p->base, on_timeout, d);
    if (d->timer == NULL)
        goto fail_timer;
    d->plane = p;
    d->bev = bev;
    d->listener_index = listener_index;
    d->is_tls = is_tls;
    if (peer_len <= sizeof(d->peer)) {
        memcpy(&d->peer, peer, peer_len);
        d->peer_len = peer_len;
    }
    TAILQ_INSERT_TAIL(&p->detecting, d, in_plane);
    p->detect_count++;
    struct timeval tv = sl_timeval_ms(p->cfg->client_idle_timeout_ms);
    evtimer_add(d->timer, &tv);
    if (is_tls)
        note_started(d); /* a TLS client speaks first: its handshake is under way */
    bufferevent_setcb(bev, is_tls ? NULL : on_read, NULL, on_event, d);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    return 0;

fail_timer:
    free(d);
fail_alloc:
    bufferevent_free(bev);
    return -1;
}

void sl_front_detect_close_all(struct sl_plane *p)
{
    struct sl_detect *d;
    while ((d = TAILQ_FIRST(&p->detecting)) != NULL)
        detect_free(d, false);
}
