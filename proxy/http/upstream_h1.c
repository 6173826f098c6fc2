/* One HTTP/1.1 connection to a backend server (Unix socket, or TCP with
 * TCP_NODELAY), reading responses with sl_h1_response_parser: sl_upstream_h1_ops.
 *
 * Raw non-blocking I/O rather than a bufferevent: each connection carries one
 * request at a time, so per-request syscalls are what counts. A request costs one
 * writev (the turn's output, flushed together) and one read per readiness, with no
 * epoll_ctl in the steady state: EV_WRITE is registered only when the socket is full.
 *
 * States: CONNECTING → BUSY ⇄ IDLE, and closed from any state. Parser callbacks
 * only record; everything that can free or hand over the connection happens
 * after sl_h1_response_parse() returns. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "front.h"
#include "h1_response.h"
#include "headers.h"
#include "log.h"
#include "plane.h"
#include "request.h"
#include "timer.h"
#include "timeval_ms.h"
#include "upstream.h"
#include "upstream_pool.h"
#include "upstream_socket.h"

enum h1_state { H1_CONNECTING, H1_BUSY, H1_IDLE };

struct h1_conn {
    struct sl_upconn base;    /* first: the pool's view */
    struct sl_upstream_io io; /* owned; read_event is added once connected */
    struct sl_timer timer;    /* the response timeout once the request is queued (moved
                               * by each read: the longest silence), or the idle one */
    struct sl_request *req;   /* the borrower; NULL when idle or detached */
    enum h1_state state;
    struct sl_h1_response_parser parser; /* owned: its stash */
    bool is_chunked;                     /* the request body goes out as chunks */
    bool is_request_sent;                /* the borrower queued its whole request */
    bool is_request_started;             /* a byte of the exchange went out */
    bool is_paused;                      /* reading stopped for backpressure */
    bool is_write_waiting;               /* write_event added: the socket was full */
    struct sl_turn_task write_task;      /* the write, left for the end of a front's read */
    /* The request's head (its arena's), not yet in io.out: while nothing else
     * is queued it waits here, and the body that follows in the same loop turn
     * goes out with it in one writev, neither of them copied. NULL: none. */
    const char *lent_head;
    size_t lent_head_len;
    unsigned refused_interim; /* the parser stopped at this 1xx status; 0: none */
    bool is_draining;         /* the borrower left: its response is read and dropped */
    size_t drain_left;        /* bytes the drain may still read */
};

static struct h1_conn *h1_of(struct sl_upconn *c)
{
    return (struct h1_conn *)c;
}

/* The most of a response nobody waits for any more that is read to keep the
 * connection: a bid answer or an error page, not a download. */
#define SL_H1_DRAIN_MAX_BYTES (256 * 1024)

/* One read's worth. Parsed at once and never kept: the parser copies body bytes
 * into the request's buffer, and a head cut by the read into its own stash, so
 * one buffer serves every connection of the worker. */
#define SL_UPSTREAM_READ_BYTES (64 * 1024)
static char read_buf[SL_UPSTREAM_READ_BYTES];

static int on_field(void *ctx, const char *name, size_t name_len, const char *value,
                    size_t value_len);
static int on_head(void *ctx, const struct sl_h1_response_head *head);
static int on_body(void *ctx, const char *data, size_t len);

static const struct sl_h1_response_callbacks response_callbacks = {
    .on_field = on_field,
    .on_head = on_head,
    .on_body = on_body,
};

static int drop_field(void *ctx, const char *name, size_t name_len, const char *value,
                      size_t value_len);
static int drop_head(void *ctx, const struct sl_h1_response_head *head);
static int drop_body(void *ctx, const char *data, size_t len);

/* for a response whose request went away: read to its end and dropped */
static const struct sl_h1_response_callbacks drain_callbacks = {
    .on_field = drop_field,
    .on_head = drop_head,
    .on_body = drop_body,
};

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_flush(evutil_socket_t fd, short what, void *arg);

static const struct sl_upstream_io_handlers io_handlers = {
    .on_readable = on_readable,
    .on_writable = on_writable,
    .on_flush = on_flush,
};

static const struct sl_backend_config *backend_of(const struct h1_conn *conn)
{
    return conn->base.server->pool->cfg;
}

static void arm_response_timeout(struct h1_conn *conn)
{
    sl_timer_arm_ms(&conn->timer, backend_of(conn)->response_timeout_ms);
}

/* The read event stays added from the connect on, but while paused. */
static void start_reading(struct h1_conn *conn)
{
    if (!event_pending(conn->io.read_event, EV_READ, NULL))
        event_add(conn->io.read_event, NULL);
    if (conn->is_request_sent)
        arm_response_timeout(conn);
}

static void stop_reading(struct h1_conn *conn)
{
    event_del(conn->io.read_event);
    sl_timer_stop(&conn->timer);
}

static void on_timer(void *arg);
static void run_write_task(struct sl_turn_task *task);

static struct sl_upconn *h1_connect(struct sl_server *server, struct event_base *base, int *err)
{
    struct h1_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    conn->base.ops = &sl_upstream_h1_ops;
    conn->base.server = server;
    sl_turn_task_init(&conn->write_task, run_write_task);
    if (sl_timer_init(&conn->timer, base, on_timer, conn) != 0) {
        sl_timer_deinit(&conn->timer);
        free(conn);
        *err = -ENOMEM;
        return NULL;
    }
    bool is_connected = false;
    *err = sl_upstream_io_open(&conn->io, server->addr, base, &io_handlers, conn, &is_connected);
    if (*err != 0) {
        sl_timer_deinit(&conn->timer);
        free(conn);
        return NULL;
    }
    server->conn_count++;
    if (is_connected) {
        conn->state = H1_BUSY;
        start_reading(conn);
    } else {
        conn->state = H1_CONNECTING;
        struct timeval connect_tv = sl_timeval_ms(backend_of(conn)->connect_timeout_ms);
        event_add(conn->io.write_event, &connect_tv);
    }
    return &conn->base;
}

static void h1_free(struct sl_upconn *c)
{
    struct h1_conn *conn = h1_of(c);
    conn->base.server->conn_count--;
    sl_turn_cancel(&conn->write_task);
    sl_h1_response_parser_deinit(&conn->parser);
    sl_upstream_io_close(&conn->io);
    sl_timer_deinit(&conn->timer);
    free(conn);
}

static uint32_t h1_available_streams(const struct sl_upconn *c)
{
    return c->streams == 0 ? 1 : 0;
}

static int h1_prepare(struct sl_request *req)
{
    struct sl_forward_info fwd = sl_front_forward_info(req->front);
    char *head;
    int rv = sl_h1_request_head(&req->fields, &fwd, !req->is_ended, req->arena, &head,
                                &req->prepared.len, &req->prepared.is_chunked);
    if (rv == 0)
        req->prepared.data = head;
    return rv;
}

/* Output leaves in one writev at the end of the front's read (turn.h) or,
 * outside one, of the loop turn. */
static void schedule_write(struct h1_conn *conn)
{
    if (conn->state == H1_BUSY && !conn->is_write_waiting &&
        !sl_turn_defer(&conn->req->plane->turn, &conn->write_task))
        event_active(conn->io.flush_event, EV_WRITE, 0);
}

/* Bytes of the exchange that have not left yet. */
static bool has_unsent(const struct h1_conn *conn)
{
    return conn->lent_head != NULL || evbuffer_get_length(conn->io.out) > 0;
}

/* Whether the head can wait outside io.out: nothing is queued before it, and
 * the connection may write now. */
static bool can_lend_head(const struct h1_conn *conn)
{
    return conn->state == H1_BUSY && !conn->is_write_waiting &&
           evbuffer_get_length(conn->io.out) == 0;
}

/* Copies what a write left of the lent head, and then of data, into io.out. */
static int keep_unwritten(struct h1_conn *conn, size_t written, const void *data, size_t len)
{
    const char *head = conn->lent_head;
    size_t head_len = conn->lent_head_len;
    conn->lent_head = NULL;
    if (written < head_len && evbuffer_add(conn->io.out, head + written, head_len - written) != 0)
        return -ENOMEM;
    written = written > head_len ? written - head_len : 0;
    if (written < len &&
        evbuffer_add(conn->io.out, (const char *)data + written, len - written) != 0)
        return -ENOMEM;
    return 0;
}

/* The lent head, and data after it, straight to the socket. What the socket
 * does not take, or all of it on an error (which write_output then meets and
 * reports, after this call has returned), waits in io.out. */
static int write_lent_head(struct h1_conn *conn, const void *data, size_t len)
{
    struct iovec iov[2] = {
        {.iov_base = (void *)conn->lent_head, .iov_len = conn->lent_head_len},
        {.iov_base = (void *)data, .iov_len = len},
    };
    ssize_t n = writev(conn->io.fd, iov, len > 0 ? 2 : 1);
    if (n > 0)
        conn->is_request_started = true;
    return keep_unwritten(conn, n > 0 ? (size_t)n : 0, data, len);
}

/* Queues the lent head ahead of bytes that cannot go with it. */
static int settle_lent_head(struct h1_conn *conn)
{
    return conn->lent_head == NULL ? 0 : keep_unwritten(conn, 0, NULL, 0);
}

static int queue_bytes(struct h1_conn *conn, const void *data, size_t len)
{
    if (settle_lent_head(conn) != 0 || evbuffer_add(conn->io.out, data, len) != 0)
        return -ENOMEM;
    schedule_write(conn);
    return 0;
}

/* The parser starts afresh for each exchange. */
static void begin_exchange(struct h1_conn *conn, struct sl_request *req)
{
    conn->req = req;
    conn->is_chunked = req->prepared.is_chunked;
    conn->is_request_sent = false;
    conn->is_request_started = false;
    conn->is_paused = false;
    conn->refused_interim = 0;
    conn->is_draining = false;
    conn->lent_head = NULL;
    sl_h1_response_parser_deinit(&conn->parser);
    sl_h1_response_parser_init(&conn->parser, &response_callbacks, conn, req->is_head_method,
                               req->plane->cfg->max_response_header_bytes);
    if (conn->state == H1_IDLE) {
        conn->state = H1_BUSY;
        sl_timer_stop(&conn->timer); /* no response timeout until the request is queued */
    }
}

/* The head ends with its empty line: an extra field goes in before it. */
static void h1_begin(struct sl_upconn *c, struct sl_request *req)
{
    begin_exchange(h1_of(c), req);
}

/* What chunked framing adds to a body, at most, for the room below. */
#define SL_H1_CHUNK_FRAMING_BYTES 32

/* The head and the body already received go out of one chunk of the output:
 * an evbuffer sizes a new chunk to what is added first, so the body would
 * take an allocation of its own. Nothing fails here: without the room, the
 * adds allocate. */
static void make_room(struct h1_conn *conn, const struct sl_request *req, size_t head_len)
{
    size_t body =
        req->held_len + evbuffer_get_length(req->pending_body) + evbuffer_get_length(req->replay);
    size_t framing = conn->is_chunked && body > 0 ? SL_H1_CHUNK_FRAMING_BYTES : 0;
    evbuffer_expand(conn->io.out, head_len + body + framing);
}

static int h1_send_head(struct sl_upconn *c, struct sl_request *req, const nghttp2_nv *extra)
{
    struct h1_conn *conn = h1_of(c);
    const char *head = req->prepared.data;
    size_t len = req->prepared.len;
    if (extra == NULL && can_lend_head(conn)) {
        conn->lent_head = head;
        conn->lent_head_len = len;
        schedule_write(conn); /* the head alone, if no body comes this turn */
        return 0;
    }
    make_room(conn, req, extra == NULL ? len : len + extra->namelen + extra->valuelen + 4);
    if (extra == NULL)
        return queue_bytes(conn, head, len);
    if (evbuffer_add(conn->io.out, head, len - 2) != 0 ||
        evbuffer_add_printf(conn->io.out, "%.*s: %.*s\r\n\r\n", (int)extra->namelen,
                            (const char *)extra->name, (int)extra->valuelen,
                            (const char *)extra->value) < 0)
        return -ENOMEM;
    schedule_write(conn);
    return 0;
}

/* RFC 9112 §7.1: a chunk is its size in hex, CRLF, the bytes, CRLF. */
static int h1_send_body(struct sl_upconn *c, struct sl_request *req, const void *data, size_t len)
{
    struct h1_conn *conn = h1_of(c);
    if (len == 0)
        return 0;
    if (!conn->is_chunked && conn->lent_head != NULL)
        return write_lent_head(conn, data, len);
    if (!conn->is_chunked)
        return queue_bytes(conn, data, len);
    if (settle_lent_head(conn) != 0 || evbuffer_add_printf(conn->io.out, "%zx\r\n", len) < 0 ||
        evbuffer_add(conn->io.out, data, len) != 0 || evbuffer_add(conn->io.out, "\r\n", 2) != 0)
        return -ENOMEM;
    schedule_write(conn);
    return 0;
}

static void h1_end(struct sl_upconn *c, struct sl_request *req)
{
    struct h1_conn *conn = h1_of(c);
    if (conn->is_chunked && queue_bytes(conn, "0\r\n\r\n", 5) != 0)
        return; /* the request never completes: the response timeout ends it */
    conn->is_request_sent = true;
    if (conn->state == H1_BUSY && !conn->is_paused)
        start_reading(conn);
}

static void h1_pause(struct sl_upconn *c, struct sl_request *req, bool is_paused)
{
    struct h1_conn *conn = h1_of(c);
    if (is_paused == conn->is_paused || conn->state != H1_BUSY)
        return;
    conn->is_paused = is_paused;
    if (is_paused)
        stop_reading(conn);
    else
        start_reading(conn);
}

/* Nothing of the exchange left sluice (a client reset its stream in the loop
 * turn that sent it): the backend never hears of it, and the connection is
 * free at once. */
static void withdraw(struct h1_conn *conn)
{
    conn->lent_head = NULL;
    evbuffer_drain(conn->io.out, evbuffer_get_length(conn->io.out));
    if (conn->is_write_waiting) {
        conn->is_write_waiting = false;
        event_del(conn->io.write_event);
    }
    sl_pool_release(&conn->base);
}

/* An HTTP/1.1 exchange cannot be abandoned halfway: once the whole request is
 * out, its response is read and dropped (up to SL_H1_DRAIN_MAX_BYTES, within
 * the response timeout) and the connection serves the next request, so that
 * clients resetting their streams do not cost a connect and a close each
 * (TIME_WAIT and port churn on TCP backends). Otherwise it is closed. */
static void h1_detach(struct sl_upconn *c, struct sl_request *req)
{
    struct h1_conn *conn = h1_of(c);
    conn->req = NULL;
    if (conn->state == H1_BUSY && !conn->is_request_started) {
        withdraw(conn);
        return;
    }
    bool can_drain = conn->state == H1_BUSY && conn->is_request_sent && !req->plane->is_draining;
    if (!can_drain) {
        sl_pool_discard(c);
        return;
    }
    conn->is_draining = true;
    conn->parser.cb = &drain_callbacks;
    conn->drain_left = SL_H1_DRAIN_MAX_BYTES;
    if (conn->is_paused) {
        conn->is_paused = false;
        start_reading(conn);
    }
}

static void h1_idle(struct sl_upconn *c)
{
    struct h1_conn *conn = h1_of(c);
    conn->state = H1_IDLE;
    conn->req = NULL;
    conn->is_paused = false;
    if (!event_pending(conn->io.read_event, EV_READ, NULL))
        event_add(conn->io.read_event, NULL);
    sl_timer_arm_ms(&conn->timer, backend_of(conn)->keepalive_idle_timeout_ms);
}

const struct sl_upstream_ops sl_upstream_h1_ops = {
    .connect = h1_connect,
    .free = h1_free,
    .available_streams = h1_available_streams,
    .prepare = h1_prepare,
    .begin = h1_begin,
    .send_head = h1_send_head,
    .send_body = h1_send_body,
    .end = h1_end,
    .pause = h1_pause,
    .detach = h1_detach,
    .idle = h1_idle,
};

/* --- response parsing: the callbacks only record into the borrower's response --- */

static int on_field(void *ctx, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    struct h1_conn *conn = ctx;
    struct sl_header_list *headers = &sl_request_response(conn->req)->headers;
    return sl_header_list_add_lowercased(headers, name, name_len, value, value_len);
}

static int on_head(void *ctx, const struct sl_h1_response_head *head)
{
    struct h1_conn *conn = ctx;
    struct sl_upstream_response *resp = sl_request_response(conn->req);
    if (head->status < 200) {
        if (head->status != 100 && head->status != 103) {
            conn->refused_interim = head->status; /* 101 would switch protocols */
            return -1;
        }
        /* RFC 9110 §15.2: interim responses end without a body, whatever they say of
         * a length; the final one follows. */
        resp->headers.count = 0;
        return 0;
    }
    resp->status = head->status;
    resp->is_head_complete = true;
    return 0;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct h1_conn *conn = ctx;
    return evbuffer_add(sl_request_response(conn->req)->body, data, len) == 0 ? 0 : SL_ENOMEM;
}

/* --- draining: the parser reads on, with nothing kept --- */

static int drop_field(void *ctx, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
    return 0;
}

static int drop_head(void *ctx, const struct sl_h1_response_head *head)
{
    return 0;
}

static int drop_body(void *ctx, const char *data, size_t len)
{
    return 0;
}

/* --- events, handled at the edge: each returns right after the connection may
 * have been freed --- */

/* The request hears first, so that a retry takes the freed slot before the
 * waiters do. */
static void fail(struct h1_conn *conn, enum sl_upstream_failure what)
{
    struct sl_request *req = conn->req;
    struct sl_pool *pool = conn->base.server->pool;
    bool was_reused = conn->base.exchanges_done > 0;
    conn->req = NULL;
    sl_pool_close(&conn->base);
    if (req != NULL)
        sl_request_on_upstream_failure(req, what, was_reused);
    sl_pool_serve_waiters(pool);
}

static void complete(struct h1_conn *conn, bool is_reusable)
{
    struct sl_request *req = conn->req;
    conn->req = NULL;
    conn->base.exchanges_done++;
    is_reusable =
        is_reusable && conn->is_request_sent && !has_unsent(conn) && conn->parser.head.keeps_alive;
    conn->state = H1_IDLE; /* no exchange: the pool lends it again or idles it */
    sl_request_on_upstream_progress(req);
    if (is_reusable)
        sl_pool_release(&conn->base);
    else
        sl_pool_discard(&conn->base);
}

static void on_response_bytes(struct h1_conn *conn, const char *data, size_t len)
{
    struct sl_upstream_response *resp = sl_request_response(conn->req);
    resp->has_bytes = true;
    size_t parsed;
    int rv = sl_h1_response_parse(&conn->parser, data, len, &parsed);
    if (rv == 1) {
        resp->is_complete = true;
        /* bytes past the response: a confused backend, do not reuse */
        complete(conn, parsed == len);
        return;
    }
    if (conn->refused_interim != 0) {
        SL_WARN("backend %s sent interim response %u; sluice relays no 1xx and takes only 100 "
                "and 103",
                conn->base.server->addr->text, conn->refused_interim);
        fail(conn, SL_UPSTREAM_PROTOCOL);
        return;
    }
    if (rv == SL_ETOOBIG) {
        SL_WARN("backend %s sent a response head over max_response_header_bytes (%u)",
                conn->base.server->addr->text, conn->req->plane->cfg->max_response_header_bytes);
        fail(conn, SL_UPSTREAM_PROTOCOL);
        return;
    }
    if (rv == SL_ENOMEM) {
        SL_WARN("backend %s: no memory for the response", conn->base.server->addr->text);
        fail(conn, SL_UPSTREAM_PROTOCOL);
        return;
    }
    if (rv != 0) {
        SL_WARN("backend %s sent an unparsable response: %s", conn->base.server->addr->text,
                conn->parser.error);
        fail(conn, SL_UPSTREAM_PROTOCOL);
        return;
    }
    sl_request_on_upstream_progress(conn->req);
}

/* EOF while busy: the end of a body delimited by the connection's close, or a break. */
static void on_busy_eof(struct h1_conn *conn)
{
    if (sl_h1_response_eof(&conn->parser) == 1) {
        sl_request_response(conn->req)->is_complete = true;
        complete(conn, false);
        return;
    }
    SL_WARN("backend %s closed the connection before the response was complete",
            conn->base.server->addr->text);
    fail(conn, SL_UPSTREAM_BROKEN);
}

static void drain_bytes(struct h1_conn *conn, const char *data, size_t len)
{
    if (len > conn->drain_left) {
        sl_pool_discard(&conn->base); /* too long to wait for */
        return;
    }
    conn->drain_left -= len;
    size_t parsed;
    int rv = sl_h1_response_parse(&conn->parser, data, len, &parsed);
    if (rv == 1) {
        bool is_reusable = parsed == len && conn->parser.head.keeps_alive && !has_unsent(conn);
        conn->is_draining = false;
        conn->base.exchanges_done++;
        conn->state = H1_IDLE;
        if (is_reusable)
            sl_pool_release(&conn->base);
        else
            sl_pool_discard(&conn->base);
        return;
    }
    if (rv != 0)
        sl_pool_discard(&conn->base);
}

static void on_read_timeout(struct h1_conn *conn)
{
    if (conn->req == NULL) {
        sl_pool_discard(&conn->base); /* keep-alive idle timeout */
        return;
    }
    SL_WARN("backend %s: no response within %u ms", conn->base.server->addr->text,
            backend_of(conn)->response_timeout_ms);
    fail(conn, SL_UPSTREAM_TIMEOUT);
}

static void on_timer(void *arg)
{
    on_read_timeout(arg);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct h1_conn *conn = arg;
    ssize_t n = read(fd, read_buf, sizeof(read_buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0 && conn->is_request_sent && (conn->req != NULL || conn->is_draining))
        arm_response_timeout(conn); /* silence is measured from the last byte */
    if (conn->req == NULL && conn->is_draining && n > 0) {
        drain_bytes(conn, read_buf, (size_t)n);
    } else if (conn->req == NULL) {
        if (n > 0 && !conn->is_draining)
            SL_INFO("backend %s sent %zd bytes on an idle connection; closing it",
                    conn->base.server->addr->text, n);
        sl_pool_discard(&conn->base);
    } else if (n > 0) {
        on_response_bytes(conn, read_buf, (size_t)n);
    } else if (n == 0) {
        on_busy_eof(conn);
    } else {
        SL_WARN("backend %s: connection error: %s", conn->base.server->addr->text, strerror(errno));
        fail(conn, SL_UPSTREAM_BROKEN);
    }
}

/* Writes what is queued; returns false when the connection was freed. */
static bool write_output(struct h1_conn *conn)
{
    if (conn->lent_head != NULL && write_lent_head(conn, NULL, 0) != 0) {
        fail(conn, SL_UPSTREAM_BROKEN);
        return false;
    }
    while (evbuffer_get_length(conn->io.out) > 0) {
        if (evbuffer_write(conn->io.out, conn->io.fd) >= 0) {
            conn->is_request_started = true;
            continue;
        }
        if (errno == EAGAIN || errno == EINTR) {
            if (!conn->is_write_waiting) {
                /* a backend that stops reading the request gets response_timeout_ms
                 * without progress (the persistent timer restarts on each write) */
                struct timeval tv = sl_timeval_ms(backend_of(conn)->response_timeout_ms);
                conn->is_write_waiting = true;
                event_add(conn->io.write_event, &tv);
            }
            return true;
        }
        SL_WARN("backend %s: write failed: %s", conn->base.server->addr->text, strerror(errno));
        fail(conn, SL_UPSTREAM_BROKEN);
        return false;
    }
    if (conn->is_write_waiting) {
        conn->is_write_waiting = false;
        event_del(conn->io.write_event);
    }
    if (conn->req != NULL)
        sl_request_on_upstream_drained(conn->req);
    return true;
}

static void flush_output(struct h1_conn *conn)
{
    if (conn->state == H1_BUSY && !conn->is_write_waiting)
        write_output(conn);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    flush_output(arg);
}

static void run_write_task(struct sl_turn_task *task)
{
    flush_output((struct h1_conn *)((char *)task - offsetof(struct h1_conn, write_task)));
}

static void on_connected(struct h1_conn *conn)
{
    int err = sl_upstream_io_connect_error(&conn->io);
    if (err != 0) {
        SL_WARN("backend %s: connect failed: %s", conn->base.server->addr->text, strerror(err));
        fail(conn, SL_UPSTREAM_CONNECT);
        return;
    }
    conn->state = H1_BUSY;
    event_del(conn->io.write_event);
    start_reading(conn);
    write_output(conn);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct h1_conn *conn = arg;
    if (conn->state == H1_CONNECTING) {
        if (what & EV_TIMEOUT) {
            SL_WARN("backend %s: connect failed: timed out after %u ms",
                    conn->base.server->addr->text, backend_of(conn)->connect_timeout_ms);
            fail(conn, SL_UPSTREAM_CONNECT);
            return;
        }
        on_connected(conn);
        return;
    }
    if (what & EV_TIMEOUT) {
        SL_WARN("backend %s: read none of the request for %u ms", conn->base.server->addr->text,
                backend_of(conn)->response_timeout_ms);
        fail(conn, SL_UPSTREAM_TIMEOUT);
        return;
    }
    write_output(conn);
}
