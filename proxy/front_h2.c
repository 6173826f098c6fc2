#include "front_h2.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "request.h"
#include "stats.h"
#include "timeval_ms.h"
#include "worker.h"

/* Frames are generated only while less than this is waiting for the socket, so a
 * client that does not read cannot make sluice buffer without bound. */
#define SL_FRONT_OUTPUT_HIGH_BYTES (64 * 1024)
/* The connection-level receive window, in stream windows: several uploads can
 * progress at once while the total buffered stays bounded. */
#define SL_CONNECTION_WINDOW_STREAMS 4

struct sl_front {
    struct sl_worker *worker;
    struct bufferevent *bev;
    nghttp2_session *session;
    struct event *flush_event;       /* runs flush() on the next loop turn */
    struct sl_request_list requests; /* open streams that have a request */
    uint64_t id;
    bool is_tls;
    bool is_closing;           /* drop the connection at the next edge */
    bool is_finishing;         /* close once the output has drained */
    bool is_idle;              /* no open request: the idle timeout is armed */
    bool has_timed_out;        /* the idle timeout sent GOAWAY once already */
    bool is_noticed;           /* the shutdown notice went out; the final GOAWAY has not */
    struct sl_stats_conn *row; /* its row in the stats' connection table, or NULL */
    char peer[SL_ADDR_TEXT_MAX];
    struct sockaddr_storage peer_addr; /* ss_family AF_UNSPEC for a Unix-socket client */
    struct sl_ip peer_ip;              /* the same for rules; SL_IP_NONE for Unix */
    unsigned listener_index;           /* in cfg->listeners, for rules */
    TAILQ_ENTRY(sl_front) in_worker;
};

nghttp2_session *sl_front_h2_session(const struct sl_front *front)
{
    return front->session;
}

struct sl_worker *sl_front_h2_worker(const struct sl_front *front)
{
    return front->worker;
}

const char *sl_front_h2_peer(const struct sl_front *front)
{
    return front->peer;
}

static const struct sockaddr *peer_addr(const struct sl_front *front)
{
    int family = front->peer_addr.ss_family;
    return family == AF_INET || family == AF_INET6 ? (const struct sockaddr *)&front->peer_addr
                                                   : NULL;
}

const struct sl_ip *sl_front_h2_peer_ip(const struct sl_front *front)
{
    return front->peer_ip.family != SL_IP_NONE ? &front->peer_ip : NULL;
}

/* The peer's address as rules take it, once per connection. */
static void set_peer_ip(struct sl_front *front)
{
    const struct sockaddr *sa = peer_addr(front);
    if (sa != NULL && sa->sa_family == AF_INET)
        sl_ip_set(&front->peer_ip, SL_IP_V4,
                  (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
    else if (sa != NULL)
        sl_ip_set(&front->peer_ip, SL_IP_V6, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
}

unsigned sl_front_h2_listener_index(const struct sl_front *front)
{
    return front->listener_index;
}

const char *sl_front_h2_scheme(const struct sl_front *front)
{
    return front->is_tls ? "https" : "http";
}

uint64_t sl_front_h2_id(const struct sl_front *front)
{
    return front->id;
}

/* The idle timeout runs only while no request is open: a client waiting on a slow
 * backend is not idle. Re-arming an added event only moves its timer (no syscall). */
static void update_idle_timeout(struct sl_front *front)
{
    bool is_idle = TAILQ_EMPTY(&front->requests);
    if (is_idle == front->is_idle)
        return;
    front->is_idle = is_idle;
    struct timeval tv = sl_timeval_ms(front->worker->cfg->client_idle_timeout_ms);
    bufferevent_set_timeouts(front->bev, is_idle ? &tv : NULL, NULL);
}

/* RFC 9113 §6.8: no new streams; those up to the last processed will be answered. */
static void submit_goaway(struct sl_front *front)
{
    front->is_noticed = false;
    nghttp2_submit_goaway(front->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(front->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
}

/* The PING that measures the round trip of a graceful shutdown. */
static const uint8_t drain_ping[8] = {'s', 'l', 'd', 'r', 'a', 'i', 'n', '!'};

/* RFC 9113 §6.8's graceful shutdown, first half: a GOAWAY that refuses no
 * stream yet, and a PING; the final GOAWAY follows its ACK, a round trip later,
 * so that a request the client sent meanwhile is still answered. */
static void submit_shutdown_notice(struct sl_front *front)
{
    if (nghttp2_submit_shutdown_notice(front->session) != 0 ||
        nghttp2_submit_ping(front->session, NGHTTP2_FLAG_NONE, drain_ping) != 0) {
        submit_goaway(front);
        return;
    }
    front->is_noticed = true;
}

/* --- the connection table (stats.h) --- */

static uint64_t cached_unix_ms(const struct sl_front *front)
{
    struct timeval tv;
    event_base_gettimeofday_cached(front->worker->base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* "IP:port" or "[IPv6]:port" (the port tells connections apart); "unix". */
static void format_peer_with_port(const struct sl_front *front, char *buf, size_t len)
{
    const struct sockaddr *sa = peer_addr(front);
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
        snprintf(buf, len, "%s", front->peer);
    }
}

static void publish_open(struct sl_front *front)
{
    struct sl_worker *w = front->worker;
    if (front->is_tls)
        w->stats->accepted_tls++;
    else
        w->stats->accepted_h2c++;
    front->row = sl_stats_conn_claim(w->stats, &w->conn_row_hint);
    struct sl_stats_conn *row = front->row;
    if (row == NULL)
        return;
    sl_stats_conn_begin(row);
    row->id = front->id;
    format_peer_with_port(front, row->peer, sizeof(row->peer));
    row->listener_index = front->listener_index;
    row->protocol = front->is_tls ? SL_PROTO_H2_TLS : SL_PROTO_H2C;
    row->opened_unix_ms = row->active_unix_ms = cached_unix_ms(front);
    sl_stats_conn_end(row);
}

/* The TLS version is known once the handshake is done: at the first read. */
static void publish_read(struct sl_front *front, size_t bytes)
{
    front->worker->stats->bytes_in += bytes;
    struct sl_stats_conn *row = front->row;
    if (row == NULL)
        return;
    sl_stats_conn_begin(row);
    row->bytes_in += bytes;
    row->active_unix_ms = cached_unix_ms(front);
    if (front->is_tls && row->tls_version[0] == '\0') {
        SSL *ssl = bufferevent_openssl_get_ssl(front->bev);
        if (ssl != NULL)
            snprintf(row->tls_version, sizeof(row->tls_version), "%s", SSL_get_version(ssl));
    }
    sl_stats_conn_end(row);
}

static void publish_streams(struct sl_front *front, int opened, int closed)
{
    struct sl_stats_conn *row = front->row;
    if (row == NULL)
        return;
    sl_stats_conn_begin(row);
    row->streams_open = row->streams_open + (uint64_t)opened - (uint64_t)closed;
    row->requests += (uint64_t)closed;
    sl_stats_conn_end(row);
}

static void publish_written(struct sl_front *front, size_t bytes)
{
    front->worker->stats->bytes_out += bytes;
    struct sl_stats_conn *row = front->row;
    if (row == NULL || bytes == 0)
        return;
    sl_stats_conn_begin(row);
    row->bytes_out += bytes;
    sl_stats_conn_end(row);
}

/* --- nghttp2 callbacks: they record and submit, and never free the front --- */

static struct sl_request *request_of(nghttp2_session *session, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(session, stream_id);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct sl_front *front = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct sl_request *req = sl_request_new(front, frame->hd.stream_id);
    if (req == NULL) {
        SL_ERROR("conn=%llu stream=%d: out of memory; refusing the stream",
                 (unsigned long long)front->id, frame->hd.stream_id);
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, req);
    TAILQ_INSERT_TAIL(&front->requests, req, in_front);
    publish_streams(front, 1, 0);
    update_idle_timeout(front);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t name_len, const uint8_t *value, size_t value_len, uint8_t flags,
                     void *user_data)
{
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers are not forwarded */
    struct sl_request *req = request_of(session, frame->hd.stream_id);
    if (req == NULL)
        return 0;
    int rv = sl_request_on_header(req, name, name_len, value, value_len);
    if (rv == SL_ENOMEM)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets just this stream */
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct sl_front *front = user_data;
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) &&
        front->is_noticed && memcmp(frame->ping.opaque_data, drain_ping, 8) == 0) {
        submit_goaway(front); /* a round trip since the notice */
        return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    struct sl_request *req = request_of(session, frame->hd.stream_id);
    if (req == NULL)
        return 0;
    bool is_end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        sl_request_on_head_done(req, !is_end);
    else if (is_end)
        sl_request_on_end(req);
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user_data)
{
    struct sl_request *req = request_of(session, stream_id);
    if (req == NULL) {
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    sl_request_on_body(req, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct sl_front *front = user_data;
    struct sl_request *req = request_of(session, stream_id);
    if (req == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    TAILQ_REMOVE(&front->requests, req, in_front);
    sl_request_on_stream_close(req, error_code);
    publish_streams(front, 0, 1);
    update_idle_timeout(front);
    return 0;
}

/* RFC 9113 §8.1: a response complete before its request lets the server reset the
 * stream with NO_ERROR, so the client stops sending what nobody will read and
 * the stream does not stay half-open. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct sl_request *req = request_of(session, frame->hd.stream_id);
    if (req != NULL && !req->is_ended)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
    return 0;
}

static int on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame,
                            int lib_error_code, void *user_data)
{
    struct sl_front *front = user_data;
    SL_INFO("conn=%llu peer=%s: client sent an invalid frame (type %u, stream %d): %s",
            (unsigned long long)front->id, front->peer, frame->hd.type, frame->hd.stream_id,
            nghttp2_strerror(lib_error_code));
    return 0;
}

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    return cbs;
}

/* --- the edge: libevent callbacks, the only places a front is freed --- */

static void front_free(struct sl_front *front)
{
    struct sl_worker *w = front->worker;
    struct sl_request *req;
    while ((req = TAILQ_FIRST(&front->requests)) != NULL) {
        TAILQ_REMOVE(&front->requests, req, in_front);
        sl_request_free(req);
    }
    TAILQ_REMOVE(&w->fronts, front, in_worker);
    w->front_count--;
    if (front->row != NULL)
        sl_stats_conn_release(front->row);
    nghttp2_session_del(front->session);
    event_free(front->flush_event);
    bufferevent_free(front->bev);
    SL_DEBUG("conn=%llu peer=%s: closed", (unsigned long long)front->id, front->peer);
    free(front);
    sl_worker_on_front_closed(w);
}

/* Serialises what nghttp2 has ready into the output, up to the high mark.
 * Returns true when the front was freed. */
static bool flush(struct sl_front *front)
{
    struct evbuffer *out = bufferevent_get_output(front->bev);
    size_t written = 0;
    while (!front->is_closing && evbuffer_get_length(out) < SL_FRONT_OUTPUT_HIGH_BYTES) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(front->session, &data);
        if (n < 0) {
            SL_ERROR("conn=%llu: nghttp2 failed to send: %s", (unsigned long long)front->id,
                     nghttp2_strerror((int)n));
            front->is_closing = true;
        } else if (n == 0) {
            break;
        } else if (evbuffer_add(out, data, (size_t)n) != 0) {
            front->is_closing = true;
        } else {
            written += (size_t)n;
        }
    }
    publish_written(front, written);
    if (!nghttp2_session_want_read(front->session) && !nghttp2_session_want_write(front->session))
        front->is_finishing = true;
    if (front->is_closing || (front->is_finishing && evbuffer_get_length(out) == 0)) {
        front_free(front);
        return true;
    }
    return false;
}

static void on_flush_event(evutil_socket_t fd, short what, void *arg)
{
    flush(arg);
}

void sl_front_h2_schedule_flush(struct sl_front *front)
{
    event_active(front->flush_event, EV_WRITE, 0);
}

bool sl_front_h2_is_write_blocked(const struct sl_front *front)
{
    return evbuffer_get_length(bufferevent_get_output(front->bev)) > 0;
}

void sl_front_h2_close_later(struct sl_front *front)
{
    front->is_closing = true;
    sl_front_h2_schedule_flush(front);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct sl_front *front = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec vec[8];
    while (!front->is_closing && evbuffer_get_length(in) > 0) {
        int n = evbuffer_peek(in, -1, NULL, vec, 8);
        size_t used = 0;
        for (int i = 0; i < n && i < 8 && !front->is_closing; i++) {
            ssize_t rv = nghttp2_session_mem_recv(front->session, vec[i].iov_base, vec[i].iov_len);
            if (rv < 0) {
                SL_INFO("conn=%llu peer=%s: client sent bad HTTP/2: %s",
                        (unsigned long long)front->id, front->peer, nghttp2_strerror((int)rv));
                front->is_closing = true;
            }
            used += vec[i].iov_len;
        }
        evbuffer_drain(in, used);
        publish_read(front, used);
    }
    flush(front);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    flush(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sl_front *front = arg;
    if (what & BEV_EVENT_CONNECTED)
        return; /* TLS handshake done */
    if (what & BEV_EVENT_TIMEOUT) {
        SL_DEBUG("conn=%llu peer=%s: idle for %u ms; closing", (unsigned long long)front->id,
                 front->peer, front->worker->cfg->client_idle_timeout_ms);
        /* a client that does not even read its GOAWAY is dropped */
        if (front->has_timed_out || sl_front_h2_is_write_blocked(front)) {
            front->is_closing = true;
        } else {
            front->has_timed_out = true;
            submit_goaway(front);             /* RFC 9113 §9.1: say so before closing */
            bufferevent_enable(bev, EV_READ); /* a timeout disabled it */
        }
        flush(front);
        return;
    }
    if (what & BEV_EVENT_ERROR)
        SL_DEBUG("conn=%llu peer=%s: connection error: %s", (unsigned long long)front->id,
                 front->peer, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    front->is_closing = true;
    flush(front);
}

/* --- setup and shutdown --- */

static void format_peer(const struct sockaddr *peer, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (peer->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, host, sizeof(host));
    } else if (peer->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, host, sizeof(host));
    } else if (peer->sa_family == AF_UNIX) {
        snprintf(host, sizeof(host), "unix");
    }
    snprintf(out, len, "%s", host);
}

static int start_session(struct sl_front *front)
{
    static nghttp2_session_callbacks *callbacks;
    static nghttp2_option *options;
    if (callbacks == NULL) {
        callbacks = make_callbacks();
        if (callbacks == NULL || nghttp2_option_new(&options) != 0)
            return -1;
        /* window credit is returned only once the upstream has taken the bytes */
        nghttp2_option_set_no_auto_window_update(options, 1);
    }
    if (nghttp2_session_server_new2(&front->session, callbacks, front, options) != 0)
        return -1;
    const struct sl_config *cfg = front->worker->cfg;
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->stream_window_bytes},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_request_header_bytes},
    };
    if (nghttp2_submit_settings(front->session, NGHTTP2_FLAG_NONE, settings,
                                sizeof(settings) / sizeof(settings[0])) != 0)
        return -1;
    int32_t window = (int32_t)cfg->stream_window_bytes * SL_CONNECTION_WINDOW_STREAMS;
    return nghttp2_session_set_local_window_size(front->session, NGHTTP2_FLAG_NONE, 0, window);
}

int sl_front_h2_start(struct sl_worker *w, struct bufferevent *bev,
                      const struct sl_listener_config *listener, bool is_tls,
                      const struct sockaddr *peer, socklen_t peer_len)
{
    struct sl_front *front = calloc(1, sizeof(*front));
    if (front == NULL)
        goto fail_alloc;
    front->worker = w;
    front->bev = bev;
    front->is_tls = is_tls;
    front->id = ++w->next_conn_id;
    TAILQ_INIT(&front->requests);
    format_peer(peer, front->peer, sizeof(front->peer));
    if (peer_len <= sizeof(front->peer_addr) &&
        (peer->sa_family == AF_INET || peer->sa_family == AF_INET6))
        memcpy(&front->peer_addr, peer, peer_len);
    set_peer_ip(front);
    front->listener_index = (unsigned)(listener - w->cfg->listeners);
    front->flush_event = event_new(w->base, -1, 0, on_flush_event, front);
    if (front->flush_event == NULL)
        goto fail_event;
    if (start_session(front) != 0)
        goto fail_session;
    TAILQ_INSERT_TAIL(&w->fronts, front, in_worker);
    w->front_count++;
    publish_open(front);
    bufferevent_setcb(bev, on_read, on_write, on_event, front);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    update_idle_timeout(front);
    SL_DEBUG("conn=%llu peer=%s: accepted on %s", (unsigned long long)front->id, front->peer,
             listener->addr.text);
    flush(front); /* our SETTINGS go first */
    return 0;

fail_session:
    nghttp2_session_del(front->session);
    event_free(front->flush_event);
fail_event:
    free(front);
fail_alloc:
    bufferevent_free(bev);
    return -1;
}

void sl_front_h2_shutdown_all(struct sl_worker *w)
{
    struct sl_front *front;
    TAILQ_FOREACH(front, &w->fronts, in_worker)
    {
        submit_shutdown_notice(front);
        sl_front_h2_schedule_flush(front);
    }
}

void sl_front_h2_finish_shutdown(struct sl_worker *w)
{
    struct sl_front *front;
    TAILQ_FOREACH(front, &w->fronts, in_worker)
    {
        if (front->is_noticed) {
            submit_goaway(front);
            sl_front_h2_schedule_flush(front);
        }
    }
}

void sl_front_h2_abort_all(struct sl_worker *w)
{
    struct sl_front *front;
    while ((front = TAILQ_FIRST(&w->fronts)) != NULL)
        front_free(front);
}
