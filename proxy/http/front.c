#include "front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
#include "plane.h"

static const struct sockaddr *peer_addr(const struct sl_front *f)
{
    int family = f->peer_addr.ss_family;
    return family == AF_INET || family == AF_INET6 ? (const struct sockaddr *)&f->peer_addr : NULL;
}

const struct sl_ip *sl_front_peer_ip(const struct sl_front *f)
{
    return f->peer_ip.family != SL_IP_NONE ? &f->peer_ip : NULL;
}

const char *sl_front_scheme(const struct sl_front *f)
{
    return f->is_tls ? "https" : "http";
}

struct sl_forward_info sl_front_forward_info(const struct sl_front *f)
{
    return (struct sl_forward_info){.client_addr = f->peer, .scheme = sl_front_scheme(f)};
}

/* The peer's address as rules take it, once per connection. */
static void set_peer_ip(struct sl_front *f)
{
    const struct sockaddr *sa = peer_addr(f);
    if (sa != NULL && sa->sa_family == AF_INET)
        sl_ip_set(&f->peer_ip, SL_IP_V4,
                  (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
    else if (sa != NULL)
        sl_ip_set(&f->peer_ip, SL_IP_V6, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
}

static void format_peer(const struct sockaddr *peer, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (peer->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, host, sizeof(host));
    else if (peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, host, sizeof(host));
    else if (peer->sa_family == AF_UNIX)
        snprintf(host, sizeof(host), "unix");
    snprintf(out, len, "%s", host);
}

/* "IP:port" or "[IPv6]:port" (the port tells connections apart); "unix". */
static void format_peer_with_port(const struct sl_front *f, char *buf, size_t len)
{
    const struct sockaddr *sa = peer_addr(f);
    char ip[INET6_ADDRSTRLEN];
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa != NULL) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "%s", f->peer);
    }
}

static uint64_t cached_unix_ms(const struct sl_front *f)
{
    struct timeval tv;
    event_base_gettimeofday_cached(f->plane->base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void publish_open(struct sl_front *f, enum sl_stats_protocol protocol)
{
    struct sl_plane *p = f->plane;
    p->stats->accepted[protocol]++;
    f->row = sl_stats_conn_claim(p->stats, &p->conn_row_hint);
    struct sl_stats_conn *row = f->row;
    if (row == NULL)
        return;
    sl_stats_conn_begin(row);
    row->id = f->id;
    format_peer_with_port(f, row->peer, sizeof(row->peer));
    row->listener_index = f->listener_index;
    row->protocol = protocol;
    row->opened_unix_ms = row->active_unix_ms = cached_unix_ms(f);
    sl_stats_conn_end(row);
}

void sl_front_init(struct sl_front *f, const struct sl_front_ops *ops, struct sl_plane *plane,
                   unsigned listener_index, bool is_tls, enum sl_stats_protocol protocol,
                   const struct sockaddr *peer, socklen_t peer_len)
{
    f->ops = ops;
    f->plane = plane;
    f->id = ++plane->next_conn_id;
    f->listener_index = listener_index;
    f->is_tls = is_tls;
    f->protocol = protocol;
    format_peer(peer, f->peer, sizeof(f->peer));
    if (peer_len <= sizeof(f->peer_addr) &&
        (peer->sa_family == AF_INET || peer->sa_family == AF_INET6))
        memcpy(&f->peer_addr, peer, peer_len);
    set_peer_ip(f);
    TAILQ_INSERT_TAIL(&plane->fronts, f, in_plane);
    plane->front_count++;
    publish_open(f, protocol);
}

uint32_t sl_front_idle_ms(const struct sl_front *f, bool is_draining)
{
    uint32_t ms = f->plane->cfg->client_idle_timeout_ms;
    if (is_draining && ms > SL_DRAIN_IDLE_MS)
        ms = SL_DRAIN_IDLE_MS;
    return ms;
}

void sl_front_fini(struct sl_front *f)
{
    struct sl_plane *p = f->plane;
    TAILQ_REMOVE(&p->fronts, f, in_plane);
    p->front_count--;
    if (f->row != NULL)
        sl_stats_conn_release(f->row);
    f->row = NULL;
    sl_plane_check_drained(p);
}

static const char *tls_version(const struct sl_front *f, struct bufferevent *bev)
{
    SSL *ssl = f->is_tls ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl != NULL ? SSL_get_version(ssl) : NULL;
}

void sl_front_publish_read(struct sl_front *f, size_t bytes, struct bufferevent *bev)
{
    f->plane->stats->bytes_in += bytes;
    struct sl_stats_conn *row = f->row;
    if (row == NULL)
        return;
    sl_stats_conn_begin(row);
    row->bytes_in += bytes;
    row->active_unix_ms = cached_unix_ms(f);
    if (f->is_tls && row->tls_version[0] == '\0') {
        const char *version = tls_version(f, bev);
        if (version != NULL)
            snprintf(row->tls_version, sizeof(row->tls_version), "%s", version);
    }
    sl_stats_conn_end(row);
}

void sl_front_publish_written(struct sl_front *f, size_t bytes)
{
    f->plane->stats->bytes_out += bytes;
    struct sl_stats_conn *row = f->row;
    if (row == NULL || bytes == 0)
        return;
    sl_stats_conn_begin(row);
    row->bytes_out += bytes;
    sl_stats_conn_end(row);
}

/* The largest chain evbuffer_add makes by itself. A whole record (16 KiB)
 * would take more of a busy turn, but each connection that answered once
 * then kept 4.4 KiB more of heap while idle (500 TLS connections, VmRSS). */
#define TLS_FIRST_CHAIN_BYTES 4096

void sl_front_prepare_output(const struct sl_front *f, struct evbuffer *out)
{
    if (f->is_tls && evbuffer_get_length(out) == 0)
        evbuffer_expand(out, TLS_FIRST_CHAIN_BYTES);
}

bool sl_front_write_out(struct sl_front *f, struct bufferevent *bev)
{
    if (f->is_tls)
        return true;
    struct evbuffer *out = bufferevent_get_output(bev);
    evutil_socket_t fd = bufferevent_getfd(bev);
    int n = 0;
    /* a bufferevent keeps its output's start frozen, thawing it to write */
    evbuffer_unfreeze(out, 1);
    while (evbuffer_get_length(out) > 0) {
        n = evbuffer_write(out, fd);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
    }
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) == 0) {
        /* in the loop turn that added it, deleting the write event costs no
         * syscall; most flushes find it not added at all */
        if (bufferevent_get_enabled(bev) & EV_WRITE)
            bufferevent_disable(bev, EV_WRITE);
        return true;
    }
    if (n < 0 && errno == EAGAIN) {
        bufferevent_enable(bev, EV_WRITE);
        return true;
    }
    return false;
}

bool sl_front_write_or_queue(struct sl_front *f, struct bufferevent *bev, const void *data,
                             size_t len)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    size_t sent = 0;
    if (!f->is_tls && evbuffer_get_length(out) == 0) {
        ssize_t n;
        do
            n = write(bufferevent_getfd(bev), data, len);
        while (n < 0 && errno == EINTR);
        /* an error is sl_front_write_out's to find, on the bytes queued */
        sent = n > 0 ? (size_t)n : 0;
    }
    if (sent == len)
        return true;
    sl_front_prepare_output(f, out);
    return evbuffer_add(out, (const uint8_t *)data + sent, len - sent) == 0;
}

ssize_t sl_front_read(int fd, size_t max, const uint8_t **data)
{
    static uint8_t buf[SL_FRONT_READ_BYTES]; /* each read is taken whole before the next */
    *data = buf;
    return read(fd, buf, max < sizeof(buf) ? max : sizeof(buf));
}

void sl_front_publish_streams(struct sl_front *f, int opened, int closed)
{
    struct sl_stats_conn *row = f->row;
    if (row == NULL)
        return;
    sl_stats_conn_begin(row);
    row->streams_open = row->streams_open + (uint64_t)opened - (uint64_t)closed;
    row->requests += (uint64_t)closed;
    sl_stats_conn_end(row);
}
