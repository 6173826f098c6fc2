#include "front.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
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
    return sl_front_is_tls(f) ? "https" : "http";
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
                   unsigned listener_index, SSL *ssl, enum sl_stats_protocol protocol,
                   const struct sockaddr *peer, socklen_t peer_len)
{
    f->ops = ops;
    f->plane = plane;
    f->id = ++plane->next_conn_id;
    f->listener_index = listener_index;
    f->ssl = ssl;
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
    if (f->tls_plain != NULL)
        evbuffer_free(f->tls_plain);
    f->tls_plain = NULL;
    SSL_free(f->ssl);
    f->ssl = NULL;
    sl_plane_check_drained(p);
}

void sl_front_publish_read(struct sl_front *f, size_t bytes)
{
    f->plane->stats->bytes_in += bytes;
    struct sl_stats_conn *row = f->row;
    if (row == NULL)
        return;
    sl_stats_conn_begin(row);
    row->bytes_in += bytes;
    row->active_unix_ms = cached_unix_ms(f);
    if (f->ssl != NULL && row->tls_version[0] == '\0')
        snprintf(row->tls_version, sizeof(row->tls_version), "%s", SSL_get_version(f->ssl));
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
