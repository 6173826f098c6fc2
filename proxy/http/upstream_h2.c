/* Cleartext HTTP/2 connections to a backend server (prior knowledge, RFC 9113
 * §3.3), streams multiplexed with nghttp2: sl_upstream_h2c_ops.
 *
 * The pool lends a connection as many streams as the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS allows; each lent stream is a struct h2_stream
 * whose req is set exactly while it holds one of the pool's streams. A stream
 * object lives as long as nghttp2's stream (until on_stream_close), so a request
 * that leaves early (its client reset it) leaves a stream without req behind
 * until the RST_STREAM it caused is sent.
 *
 * I/O is raw and non-blocking, as in upstream_h1.c: one read per readiness into
 * a shared buffer, and a loop turn's output in one flush.
 *
 * Re-entrancy: nghttp2 callbacks hand results to requests at once, and requests
 * may call back into the connection (submit a stream, reset one) or have the pool
 * close it. A connection is therefore "held" while one of its event handlers
 * runs; ops->free on a held connection only closes it for the pool, and the
 * memory goes when the outermost handler returns. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "addr.h"
#include "config.h"
#include "front.h"
#include "h2_mem.h"
#include "log.h"
#include "plane.h"
#include "request.h"
#include "timer.h"
#include "timeval_ms.h"
#include "upstream.h"
#include "upstream_pool.h"
#include "upstream_socket.h"

/* Each stream's receive window: response bytes a paused stream may still get
 * beyond response_buffer_bytes. The connection's window is consumed as bytes
 * arrive, so one slow client never stalls the other streams. */
#define H2_STREAM_WINDOW_BYTES (256 * 1024)
#define H2_CONNECTION_WINDOW_BYTES (16 * 1024 * 1024)
/* Streams per connection at most, whatever the peer allows. */
#define H2_MAX_STREAMS 256
/* Output gathered from nghttp2 before each write. */
#define H2_WRITE_BATCH_BYTES (64 * 1024)
#define H2_READ_BYTES (64 * 1024)

struct h2_conn;

struct h2_stream {
    struct h2_conn *conn;
    struct sl_request *req; /* the borrower; NULL once done, failed or detached */
    int32_t id;
    struct evbuffer *body;       /* request body bytes not yet framed */
    struct sl_timer timer;       /* response timeout: no progress for response_timeout_ms */
    size_t unconsumed_bytes;     /* response bytes received while paused, not yet credited */
    bool is_body_ended;          /* the request told the body is complete */
    bool is_sent;                /* END_STREAM went out: the request is all sent */
    bool is_deferred;            /* nghttp2 waits for body bytes (NGHTTP2_ERR_DEFERRED) */
    bool is_paused;              /* the client is slower: credit withheld */
    bool is_informational;       /* the HEADERS being received are a 1xx response */
    TAILQ_ENTRY(h2_stream) link; /* the connection's open or spare streams */
};
TAILQ_HEAD(h2_stream_list, h2_stream);

struct h2_conn {
    struct sl_upconn base;    /* first: the pool's view */
    struct sl_upstream_io io; /* owned; read_event's timer is the idle timeout */
    struct event_base *loop;
    nghttp2_session *session;
    struct h2_stream_list open;  /* streams nghttp2 knows */
    struct h2_stream_list spare; /* closed streams kept for reuse */
    unsigned holds;              /* event handlers of this connection running */
    uint32_t streams_begun;      /* submitted over its lifetime */
    bool is_connecting;
    bool is_write_broken; /* the peer stopped reading: only its last bytes are read */
    bool is_write_waiting;
    bool is_idle;   /* no exchange: the idle timer runs */
    bool is_closed; /* the pool let it go: freed when the last hold ends */
};

static char read_buf[H2_READ_BYTES];

static struct h2_conn *h2_of(struct sl_upconn *c)
{
    return (struct h2_conn *)c;
}

static const struct sl_backend_config *backend_of(const struct h2_conn *conn)
{
    return conn->base.server->pool->cfg;
}

static const char *server_name(const struct h2_conn *conn)
{
    return conn->base.server->addr->text;
}

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_flush(evutil_socket_t fd, short what, void *arg);
static void on_stream_timeout(void *arg);

static const struct sl_upstream_io_handlers io_handlers = {
    .on_readable = on_readable,
    .on_writable = on_writable,
    .on_flush = on_flush,
};

/* --- lifetime --- */

static void free_stream(struct h2_stream *s)
{
    sl_timer_deinit(&s->timer);
    if (s->body)
        evbuffer_free(s->body);
    free(s);
}

static void destroy(struct h2_conn *conn)
{
    struct h2_stream *s;
    while ((s = TAILQ_FIRST(&conn->open)) != NULL) {
        TAILQ_REMOVE(&conn->open, s, link);
        free_stream(s);
    }
    while ((s = TAILQ_FIRST(&conn->spare)) != NULL) {
        TAILQ_REMOVE(&conn->spare, s, link);
        free_stream(s);
    }
    nghttp2_session_del(conn->session);
    sl_upstream_io_close(&conn->io);
    free(conn);
}

static void hold(struct h2_conn *conn)
{
    conn->holds++;
}

static void unhold(struct h2_conn *conn)
{
    if (--conn->holds == 0 && conn->is_closed)
        destroy(conn);
}

/* Nothing of a closed connection runs again: its events stop now. */
static void h2_free(struct sl_upconn *c)
{
    struct h2_conn *conn = h2_of(c);
    conn->base.server->conn_count--;
    if (conn->holds == 0) {
        destroy(conn);
        return;
    }
    conn->is_closed = true;
    event_del(conn->io.read_event);
    event_del(conn->io.write_event);
    event_del(conn->io.flush_event);
    struct h2_stream *s;
    TAILQ_FOREACH(s, &conn->open, link)
    {
        sl_timer_stop(&s->timer);
    }
}

static struct h2_stream *take_stream(struct h2_conn *conn)
{
    struct h2_stream *s = TAILQ_FIRST(&conn->spare);
    if (s != NULL) {
        TAILQ_REMOVE(&conn->spare, s, link);
    } else {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return NULL;
        s->conn = conn;
        s->body = evbuffer_new();
        int timer_rc = sl_timer_init(&s->timer, conn->loop, on_stream_timeout, s);
        if (s->body == NULL || timer_rc != 0) {
            free_stream(s);
            return NULL;
        }
    }
    TAILQ_INSERT_TAIL(&conn->open, s, link);
    return s;
}

static void recycle_stream(struct h2_stream *s)
{
    struct h2_conn *conn = s->conn;
    TAILQ_REMOVE(&conn->open, s, link);
    sl_timer_stop(&s->timer); /* its event, if pending, fires into nothing */
    evbuffer_drain(s->body, evbuffer_get_length(s->body));
    *s = (struct h2_stream){.conn = conn, .body = s->body, .timer = s->timer};
    TAILQ_INSERT_HEAD(&conn->spare, s, link);
}

/* --- output --- */

static void schedule_write(struct h2_conn *conn)
{
    if (!conn->is_connecting && !conn->is_write_waiting && !conn->is_closed &&
        !conn->is_write_broken)
        event_active(conn->io.flush_event, EV_WRITE, 0);
}

static void fail_all(struct h2_conn *conn, enum sl_upstream_failure what);

/* A backend that closed after its last response (after a GOAWAY) may still have
 * responses in flight to sluice: they are read up to the EOF, which ends the
 * exchanges still open. */
static void stop_writing(struct h2_conn *conn)
{
    SL_DEBUG("backend %s: write failed: %s; reading what is left", server_name(conn),
             strerror(errno));
    conn->is_write_broken = true;
    evbuffer_drain(conn->io.out, evbuffer_get_length(conn->io.out));
    sl_pool_capacity_changed(&conn->base);
}

/* Frames what nghttp2 has and writes it, a batch at a time, until the socket is
 * full or nothing is left. */
static void write_output(struct h2_conn *conn)
{
    for (;;) {
        while (evbuffer_get_length(conn->io.out) < H2_WRITE_BATCH_BYTES) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(conn->session, &data);
            if (n < 0) {
                SL_WARN("backend %s: HTTP/2 error: %s", server_name(conn),
                        nghttp2_strerror((int)n));
                fail_all(conn, SL_UPSTREAM_PROTOCOL);
                return;
            }
            if (n == 0 || conn->is_closed)
                break;
            if (evbuffer_add(conn->io.out, data, (size_t)n) != 0) {
                fail_all(conn, SL_UPSTREAM_BROKEN);
                return;
            }
        }
        if (conn->is_closed || evbuffer_get_length(conn->io.out) == 0)
            break;
        if (evbuffer_write(conn->io.out, conn->io.fd) >= 0)
            continue;
        if (errno == EAGAIN || errno == EINTR) {
            /* a backend that reads nothing for response_timeout_ms is given up */
            struct timeval tv = sl_timeval_ms(backend_of(conn)->response_timeout_ms);
            conn->is_write_waiting = true;
            event_add(conn->io.write_event, &tv);
            return;
        }
        stop_writing(conn);
        return;
    }
    if (conn->is_write_waiting && !conn->is_closed) {
        conn->is_write_waiting = false;
        event_del(conn->io.write_event);
    }
}

/* --- ending exchanges --- */

static bool was_reused(const struct h2_conn *conn)
{
    return conn->base.exchanges_done > 0;
}

/* The stream's request goes: the stream no longer holds a pool stream. */
static struct sl_request *take_request(struct h2_stream *s)
{
    struct sl_request *req = s->req;
    s->req = NULL;
    req->exchange = NULL;
    sl_timer_stop(&s->timer);
    return req;
}

static void reset_stream(struct h2_stream *s, uint32_t code)
{
    nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->id, code);
    schedule_write(s->conn);
}

/* One stream failed; the connection carries on. The request hears first, so
 * that a retry does not wait behind the requests the freed stream serves. */
static void fail_stream(struct h2_stream *s, enum sl_upstream_failure what)
{
    struct h2_conn *conn = s->conn;
    struct sl_request *req = take_request(s);
    sl_request_on_upstream_failure(req, what, was_reused(conn));
    sl_pool_release(&conn->base);
}

/* The connection is lost: the pool forgets it, then each request hears. The
 * stream objects stay until the hold ends. */
static void fail_all(struct h2_conn *conn, enum sl_upstream_failure what)
{
    struct sl_pool *pool = conn->base.server->pool;
    bool is_reused = was_reused(conn);
    hold(conn);
    sl_pool_close(&conn->base);
    struct h2_stream *s;
    TAILQ_FOREACH(s, &conn->open, link)
    {
        if (s->req != NULL)
            sl_request_on_upstream_failure(take_request(s), what, is_reused);
    }
    unhold(conn);
    sl_pool_serve_waiters(pool);
}

/* The response is complete. A request body the backend did not wait for is cut
 * short (RFC 9113 §8.1). */
static void complete_stream(struct h2_stream *s)
{
    struct h2_conn *conn = s->conn;
    struct sl_request *req = take_request(s);
    if (!s->is_sent)
        reset_stream(s, NGHTTP2_NO_ERROR);
    conn->base.exchanges_done++;
    sl_request_on_upstream_progress(req);
    sl_pool_release(&conn->base);
}

/* --- nghttp2 callbacks --- */

static struct h2_stream *stream_of(nghttp2_session *session, int32_t id)
{
    return nghttp2_session_get_stream_user_data(session, id);
}

static void arm_response_timer(struct h2_stream *s)
{
    if (!s->is_body_ended || s->is_paused)
        return;
    sl_timer_arm_ms(&s->timer, backend_of(s->conn)->response_timeout_ms);
}

/* A backend whose flow-control window stays shut holds the request body: the
 * same response_timeout_ms without progress ends the stream. */
static void arm_window_timer(struct h2_stream *s)
{
    nghttp2_session *session = s->conn->session;
    if (s->is_body_ended || (nghttp2_session_get_stream_remote_window_size(session, s->id) > 0 &&
                             nghttp2_session_get_remote_window_size(session) > 0))
        return;
    sl_timer_arm_ms(&s->timer, backend_of(s->conn)->response_timeout_ms);
}

static unsigned parse_status(const uint8_t *value, size_t len)
{
    if (len != 3)
        return 0;
    unsigned status = 0;
    for (size_t i = 0; i < 3; i++) {
        if (value[i] < '0' || value[i] > '9')
            return 0;
        status = status * 10 + (unsigned)(value[i] - '0');
    }
    return status;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    struct h2_stream *s = stream_of(session, frame->hd.stream_id);
    if (s == NULL || s->req == NULL || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct sl_upstream_response *resp = sl_request_response(s->req);
    resp->has_bytes = true; /* the backend answered: no retry */
    if (resp->is_head_complete)
        return 0; /* trailers are not relayed */
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        /* nghttp2's HTTP messaging checks make it three digits */
        unsigned status = parse_status(value, valuelen);
        if (status < 200 && status != 100 && status != 103) {
            SL_WARN("backend %s sent interim response %u on stream %d; sluice takes only 100 and "
                    "103",
                    server_name(s->conn), status, s->id);
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream: 502 */
        }
        s->is_informational = status < 200;
        resp->status = status;
        return 0;
    }
    if (s->is_informational || (namelen > 0 && name[0] == ':'))
        return 0;
    if (sl_header_list_add(&resp->headers, (const char *)name, namelen, (const char *)value,
                           valuelen, NGHTTP2_NV_FLAG_NONE) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream: 502 */
    uint32_t limit = s->req->plane->cfg->max_response_header_bytes;
    if (resp->headers.total_bytes > limit) {
        SL_WARN("backend %s sent a response head over max_response_header_bytes (%u) on stream %d",
                server_name(s->conn), limit, s->id);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

/* RFC 9110 §15.2: interim responses are not relayed; the final one follows.
 * Their bytes stay counted: every head shares max_response_header_bytes. */
static void on_headers_frame(struct h2_stream *s, struct sl_upstream_response *resp)
{
    if (s->is_informational) {
        s->is_informational = false;
        resp->headers.count = 0;
        return;
    }
    resp->is_head_complete = true;
}

static void on_stream_frame(struct h2_stream *s, const nghttp2_frame *frame)
{
    struct sl_upstream_response *resp = sl_request_response(s->req);
    resp->has_bytes = true;
    if (frame->hd.type == NGHTTP2_HEADERS && !resp->is_head_complete)
        on_headers_frame(s, resp);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        resp->is_complete = true;
        complete_stream(s);
        return;
    }
    arm_response_timer(s);
    sl_request_on_upstream_progress(s->req);
}

/* Client streams are 1, 3, 5...: the kth has id 2k - 1. */
static void learn_stream_budget(struct h2_conn *conn, int32_t last_stream_id)
{
    struct sl_server *server = conn->base.server;
    uint32_t processed = last_stream_id > 0 ? ((uint32_t)last_stream_id + 1) / 2 : 0;
    if (processed == 0 || processed >= conn->streams_begun)
        return; /* nothing refused: a shutdown, not a budget */
    if (processed == server->goaway_streams && processed != server->streams_per_connection) {
        SL_INFO("backend %s closes each connection after %u streams: sluice retires its "
                "connections there",
                server_name(conn), processed);
        server->streams_per_connection = processed;
    }
    server->goaway_streams = processed;
}

/* GOAWAY: no new stream goes on this connection; nghttp2 closes the streams
 * above the last one the backend will process as refused, and the rest finish. */
static void on_goaway(struct h2_conn *conn, const nghttp2_goaway *goaway)
{
    if (goaway->error_code != NGHTTP2_NO_ERROR)
        SL_WARN("backend %s sent GOAWAY: %s", server_name(conn),
                nghttp2_http2_strerror(goaway->error_code));
    else
        learn_stream_budget(conn, goaway->last_stream_id);
    sl_pool_capacity_changed(&conn->base);
    if (conn->base.streams == 0)
        sl_pool_discard(&conn->base);
}

static uint32_t peer_max_streams(const struct h2_conn *conn)
{
    return nghttp2_session_get_remote_settings(conn->session,
                                               NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

static void on_settings(struct h2_conn *conn)
{
    conn->base.server->max_streams_seen = peer_max_streams(conn);
    sl_pool_capacity_changed(&conn->base);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2_conn *conn = user_data;
    if (conn->is_closed)
        return 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: {
        struct h2_stream *s = stream_of(session, frame->hd.stream_id);
        if (s != NULL && s->req != NULL)
            on_stream_frame(s, frame);
        break;
    }
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
            on_settings(conn);
        break;
    case NGHTTP2_GOAWAY:
        on_goaway(conn, &frame->goaway);
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user_data)
{
    nghttp2_session_consume_connection(session, len);
    struct h2_stream *s = stream_of(session, stream_id);
    if (s == NULL || s->req == NULL) {
        nghttp2_session_consume_stream(session, stream_id, len);
        return 0;
    }
    if (evbuffer_add(sl_request_response(s->req)->body, data, len) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (s->is_paused)
        s->unconsumed_bytes += len;
    else
        nghttp2_session_consume_stream(session, stream_id, len);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct h2_stream *s = stream_of(session, stream_id);
    if (s == NULL)
        return 0;
    if (s->req != NULL && !s->conn->is_closed) {
        bool is_refused = error_code == NGHTTP2_REFUSED_STREAM;
        SL_LOG(is_refused ? SL_LOG_DEBUG : SL_LOG_WARN,
               "backend %s: stream %d closed before the response ended: %s", server_name(s->conn),
               stream_id, nghttp2_http2_strerror(error_code));
        fail_stream(s, is_refused ? SL_UPSTREAM_REFUSED : SL_UPSTREAM_BROKEN);
    }
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    recycle_stream(s);
    return 0;
}

/* The request body, as the request hands it over; credit goes back to the client
 * once each batch is framed, within the backend's flow-control window. */
static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    struct h2_stream *s = source->ptr;
    if (!s->is_body_ended)
        sl_timer_stop(&s->timer); /* the window is open */
    int n = evbuffer_remove(s->body, buf, length);
    size_t taken = n > 0 ? (size_t)n : 0;
    bool is_empty = evbuffer_get_length(s->body) == 0;
    if (is_empty && s->is_body_ended) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        s->is_sent = true;
    } else if (taken == 0) {
        s->is_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (is_empty && s->req != NULL)
        sl_request_on_upstream_drained(s->req);
    return (ssize_t)taken;
}

/* A request nghttp2 never sent (it was reset while waiting for a free stream,
 * or the backend sent GOAWAY first) is not processed: it may go elsewhere. */
static int on_frame_not_send(nghttp2_session *session, const nghttp2_frame *frame, int error_code,
                             void *user_data)
{
    struct h2_conn *conn = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct h2_stream *s;
    TAILQ_FOREACH(s, &conn->open, link)
    {
        if (s->id == frame->hd.stream_id)
            break;
    }
    if (s == NULL)
        return 0;
    if (s->req != NULL && !conn->is_closed)
        fail_stream(s, SL_UPSTREAM_REFUSED);
    recycle_stream(s);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct h2_stream *s = stream_of(session, frame->hd.stream_id);
    if (s != NULL)
        s->is_sent = true;
    return 0;
}

/* --- connecting --- */

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
    return cbs;
}

/* The client preface's SETTINGS: no push, each stream's window, no RFC 7540
 * priorities (the urgency goes in a priority field, RFC 9218, and nghttp2 then
 * keeps no dependency tree and no closed streams), and a larger connection
 * window. */
static int start_session(struct h2_conn *conn, uint32_t assumed_max_streams)
{
    nghttp2_session_callbacks *cbs = make_callbacks();
    nghttp2_option *opt = NULL;
    if (cbs == NULL || nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return -ENOMEM;
    }
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, assumed_max_streams);
    int rv = nghttp2_session_client_new3(&conn->session, cbs, conn, opt, sl_h2_mem());
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return -ENOMEM;
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW_BYTES},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    if (nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings,
                                sizeof(settings) / sizeof(settings[0])) != 0 ||
        nghttp2_session_set_local_window_size(conn->session, NGHTTP2_FLAG_NONE, 0,
                                              H2_CONNECTION_WINDOW_BYTES) != 0)
        return -ENOMEM;
    return 0;
}

static struct sl_upconn *h2_connect(struct sl_server *server, struct event_base *base, int *err)
{
    struct h2_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    conn->base.ops = &sl_upstream_h2c_ops;
    conn->base.server = server;
    conn->loop = base;
    TAILQ_INIT(&conn->open);
    TAILQ_INIT(&conn->spare);
    bool is_connected = false;
    *err = sl_upstream_io_open(&conn->io, server->addr, base, &io_handlers, conn, &is_connected);
    if (*err != 0) {
        free(conn);
        return NULL;
    }
    /* until its SETTINGS arrive, a server allows what it did last time, or what
     * RFC 9113 §6.5.2 recommends as the least: 100 */
    *err = start_session(conn, server->max_streams_seen ? server->max_streams_seen : 100);
    if (*err != 0) {
        destroy(conn);
        return NULL;
    }
    server->conn_count++;
    if (is_connected) {
        event_add(conn->io.read_event, NULL);
        schedule_write(conn);
    } else {
        conn->is_connecting = true;
        struct timeval tv = sl_timeval_ms(backend_of(conn)->connect_timeout_ms);
        event_add(conn->io.write_event, &tv);
    }
    return &conn->base;
}

/* --- the ops --- */

/* Does the connection take no new stream, ever? */
static bool is_retired(const struct h2_conn *conn)
{
    uint32_t budget = conn->base.server->streams_per_connection;
    return conn->is_closed || conn->is_write_broken ||
           (budget != 0 && conn->streams_begun >= budget) ||
           !nghttp2_session_check_request_allowed(conn->session);
}

uint32_t sl_h2_stream_ids_left(uint32_t next_id)
{
    return next_id > INT32_MAX ? 0 : (INT32_MAX - next_id) / 2 + 1;
}

static uint32_t h2_available_streams(const struct sl_upconn *c)
{
    const struct h2_conn *conn = (const struct h2_conn *)c;
    if (is_retired(conn))
        return 0;
    uint32_t max = peer_max_streams(conn);
    if (max > H2_MAX_STREAMS)
        max = H2_MAX_STREAMS;
    uint32_t available = c->streams < max ? max - c->streams : 0;
    /* Near the end of the ids a request lent more would fail to submit. Every
     * stream lent counts as not yet submitted (the pool lends before the head
     * goes): a connection retires up to H2_MAX_STREAMS ids early, never late. */
    uint32_t ids_left = sl_h2_stream_ids_left(nghttp2_session_get_next_stream_id(conn->session));
    uint32_t ids_free = ids_left > c->streams ? ids_left - c->streams : 0;
    if (ids_free < available)
        available = ids_free;
    uint32_t budget = conn->base.server->streams_per_connection;
    if (budget != 0 && budget - conn->streams_begun < available)
        available = budget - conn->streams_begun; /* is_retired: begun < budget */
    return available;
}

/* RFC 9218 urgency: the class's rank, the most important class first (0). */
static const char *urgency_of(unsigned class_index)
{
    static const char *const urgency[] = {"u=0", "u=1", "u=2", "u=3", "u=4", "u=5", "u=6", "u=7"};
    return urgency[class_index < 7 ? class_index : 7];
}

/* The fields, then priority, then room for the extra field send_head adds. */
static int h2_prepare(struct sl_request *req)
{
    struct sl_forward_info fwd = sl_front_forward_info(req->front);
    sl_header_list_remove(&req->fields, "priority"); /* sluice decides the urgency */
    nghttp2_nv *fields;
    size_t count;
    int rv = sl_h2_request_fields(&req->fields, &fwd, 2, req->arena, &fields, &count);
    if (rv != 0)
        return rv;
    const char *urgency = urgency_of(req->class_index);
    fields[count++] = (nghttp2_nv){(uint8_t *)"priority", (uint8_t *)urgency, 8, strlen(urgency),
                                   NGHTTP2_NV_FLAG_NONE};
    req->prepared.data = fields;
    req->prepared.len = count;
    req->prepared.has_body = !req->is_ended;
    return 0;
}

static void leave_idle(struct h2_conn *conn)
{
    if (!conn->is_idle)
        return;
    conn->is_idle = false;
    /* Only the timer goes (deleting and adding the event would cost an
     * epoll_ctl); an idle timeout due in this very loop turn still runs, and
     * on_readable ignores it while the connection carries streams. */
    event_remove_timer(conn->io.read_event);
}

static int h2_send_head(struct sl_upconn *c, struct sl_request *req, const nghttp2_nv *extra)
{
    struct h2_conn *conn = h2_of(c);
    leave_idle(conn);
    struct h2_stream *s = take_stream(conn);
    if (s == NULL)
        return -ENOMEM;
    nghttp2_nv *fields = req->prepared.data;
    size_t count = req->prepared.len;
    if (extra != NULL)
        fields[count++] = *extra;
    nghttp2_data_provider body = {.source.ptr = s, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(conn->session, NULL, fields, count,
                                        req->prepared.has_body ? &body : NULL, s);
    if (id < 0) {
        recycle_stream(s);
        return -ENOMEM; /* the request fails from its timer and detaches */
    }
    s->id = id;
    s->req = req;
    conn->streams_begun++;
    s->is_body_ended = !req->prepared.has_body;
    req->exchange = s;
    schedule_write(conn);
    return 0;
}

static int h2_send_body(struct sl_upconn *c, struct sl_request *req, const void *data, size_t len)
{
    struct h2_stream *s = req->exchange;
    if (s == NULL || len == 0)
        return s == NULL ? -ENOMEM : 0;
    if (evbuffer_add(s->body, data, len) != 0)
        return -ENOMEM;
    arm_window_timer(s);
    if (s->is_deferred) {
        s->is_deferred = false;
        nghttp2_session_resume_data(s->conn->session, s->id);
    }
    schedule_write(s->conn);
    return 0;
}

static void h2_end(struct sl_upconn *c, struct sl_request *req)
{
    struct h2_stream *s = req->exchange;
    if (s == NULL)
        return;
    s->is_body_ended = true;
    if (s->is_deferred) {
        s->is_deferred = false;
        nghttp2_session_resume_data(s->conn->session, s->id);
        schedule_write(s->conn);
    }
    arm_response_timer(s);
}

/* Flow control is the brake: a paused stream's bytes are not credited back. */
static void h2_pause(struct sl_upconn *c, struct sl_request *req, bool is_paused)
{
    struct h2_stream *s = req->exchange;
    if (s == NULL || s->is_paused == is_paused)
        return;
    s->is_paused = is_paused;
    if (is_paused) {
        sl_timer_stop(&s->timer);
        return;
    }
    if (s->unconsumed_bytes > 0) {
        nghttp2_session_consume_stream(s->conn->session, s->id, s->unconsumed_bytes);
        s->unconsumed_bytes = 0;
        schedule_write(s->conn);
    }
    arm_response_timer(s);
}

/* Only this stream is abandoned: RST_STREAM CANCEL, and the connection stays. */
static void h2_detach(struct sl_upconn *c, struct sl_request *req)
{
    struct h2_stream *s = req->exchange;
    if (s != NULL) {
        take_request(s);
        reset_stream(s, NGHTTP2_CANCEL);
    }
    sl_pool_release(c);
}

/* A connection that takes no new stream closes once idle; another waits for
 * the next exchange up to keepalive_idle_timeout_ms. */
static void h2_idle(struct sl_upconn *c)
{
    struct h2_conn *conn = h2_of(c);
    conn->is_idle = true;
    uint32_t ms = is_retired(conn) ? 0 : backend_of(conn)->keepalive_idle_timeout_ms;
    struct timeval tv = sl_timeval_ms(ms);
    event_add(conn->io.read_event, &tv);
}

const struct sl_upstream_ops sl_upstream_h2c_ops = {
    .connect = h2_connect,
    .free = h2_free,
    .available_streams = h2_available_streams,
    .prepare = h2_prepare,
    .send_head = h2_send_head,
    .send_body = h2_send_body,
    .end = h2_end,
    .pause = h2_pause,
    .detach = h2_detach,
    .idle = h2_idle,
};

/* --- events: each holds the connection while it runs --- */

static void on_stream_timeout(void *arg)
{
    struct h2_stream *s = arg;
    struct h2_conn *conn = s->conn;
    if (s->req == NULL)
        return;
    hold(conn);
    SL_WARN("backend %s: stream %d made no progress for %u ms", server_name(conn), s->id,
            backend_of(conn)->response_timeout_ms);
    reset_stream(s, NGHTTP2_CANCEL);
    fail_stream(s, SL_UPSTREAM_TIMEOUT);
    unhold(conn);
}

/* EOF, a read error, or a session nghttp2 says is over. */
static void on_lost(struct h2_conn *conn, const char *why)
{
    if (conn->base.streams == 0) {
        sl_pool_discard(&conn->base);
        return;
    }
    SL_WARN("backend %s: %s with %u streams open", server_name(conn), why, conn->base.streams);
    fail_all(conn, SL_UPSTREAM_BROKEN);
}

static void read_input(struct h2_conn *conn)
{
    ssize_t n = read(conn->io.fd, read_buf, sizeof(read_buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        on_lost(conn, n == 0 ? "connection closed" : strerror(errno));
        return;
    }
    ssize_t rv = nghttp2_session_mem_recv(conn->session, (const uint8_t *)read_buf, (size_t)n);
    if (conn->is_closed)
        return;
    if (rv < 0) {
        SL_WARN("backend %s: HTTP/2 error: %s", server_name(conn), nghttp2_strerror((int)rv));
        fail_all(conn, SL_UPSTREAM_PROTOCOL);
        return;
    }
    if (!nghttp2_session_want_read(conn->session) && !nghttp2_session_want_write(conn->session)) {
        on_lost(conn, "session ended");
        return;
    }
    schedule_write(conn); /* acknowledgements, window updates, new streams */
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *conn = arg;
    hold(conn);
    if (what & EV_TIMEOUT) {
        if (conn->base.streams == 0)
            sl_pool_discard(&conn->base); /* idle */
    } else {
        read_input(conn);
    }
    unhold(conn);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *conn = arg;
    if (conn->is_write_waiting || conn->is_connecting)
        return;
    hold(conn);
    write_output(conn);
    unhold(conn);
}

static void on_connected(struct h2_conn *conn, short what)
{
    int err = (what & EV_TIMEOUT) ? ETIMEDOUT : sl_upstream_io_connect_error(&conn->io);
    if (err != 0) {
        SL_WARN("backend %s: connect failed: %s", server_name(conn), strerror(err));
        fail_all(conn, SL_UPSTREAM_CONNECT);
        return;
    }
    conn->is_connecting = false;
    event_del(conn->io.write_event);
    event_add(conn->io.read_event, NULL);
    write_output(conn);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *conn = arg;
    hold(conn);
    if (conn->is_connecting) {
        on_connected(conn, what);
    } else if (what & EV_TIMEOUT) {
        SL_WARN("backend %s: read none of the output for %u ms", server_name(conn),
                backend_of(conn)->response_timeout_ms);
        fail_all(conn, SL_UPSTREAM_TIMEOUT);
    } else {
        conn->is_write_waiting = false;
        event_del(conn->io.write_event);
        write_output(conn);
    }
    unhold(conn);
}
