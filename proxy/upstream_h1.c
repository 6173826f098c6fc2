#include "upstream_h1.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "request.h"
#include "timeval_ms.h"
#include "upstream_pool.h"

/* One read's worth. Parsed at once and never kept: the parser copies body bytes
 * into the request's buffer, so one buffer serves every connection of the worker. */
#define SL_UPSTREAM_READ_BYTES (64 * 1024)
static char read_buf[SL_UPSTREAM_READ_BYTES];

static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings parser_settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_flush(evutil_socket_t fd, short what, void *arg);

static const struct sl_backend_config *backend_of(const struct sl_upconn *conn)
{
    return conn->server->pool->cfg;
}

/* Returns a connecting (or, for most Unix sockets, connected) socket, or -errno. */
static int open_socket(const struct sl_addr *addr, bool *is_connected)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (!sl_addr_is_unix(addr)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) == 0) {
        *is_connected = true;
        return fd;
    }
    int err = errno;
    if (err == EINPROGRESS) {
        *is_connected = false;
        return fd;
    }
    close(fd);
    return -err;
}

static int make_events(struct sl_upconn *conn, struct event_base *base)
{
    conn->read_event = event_new(base, conn->fd, EV_READ | EV_PERSIST, on_readable, conn);
    conn->write_event = event_new(base, conn->fd, EV_WRITE | EV_PERSIST, on_writable, conn);
    conn->flush_event = event_new(base, -1, 0, on_flush, conn);
    conn->out = evbuffer_new();
    if (conn->read_event && conn->write_event && conn->flush_event && conn->out)
        return 0;
    return -ENOMEM;
}

static void free_events(struct sl_upconn *conn)
{
    if (conn->read_event)
        event_free(conn->read_event);
    if (conn->write_event)
        event_free(conn->write_event);
    if (conn->flush_event)
        event_free(conn->flush_event);
    if (conn->out)
        evbuffer_free(conn->out);
}

static void start_reading(struct sl_upconn *conn)
{
    struct timeval tv;
    bool has_timer = conn->is_request_sent;
    if (has_timer)
        tv = sl_timeval_ms(backend_of(conn)->response_timeout_ms);
    event_add(conn->read_event, has_timer ? &tv : NULL);
}

struct sl_upconn *sl_upconn_connect(struct sl_server *server, struct event_base *base, int *err)
{
    struct sl_upconn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    conn->server = server;
    bool is_connected = false;
    conn->fd = open_socket(server->addr, &is_connected);
    if (conn->fd < 0) {
        *err = conn->fd;
        free(conn);
        return NULL;
    }
    *err = make_events(conn, base);
    if (*err != 0) {
        free_events(conn);
        close(conn->fd);
        free(conn);
        return NULL;
    }
    server->conn_count++;
    if (is_connected) {
        conn->state = SL_UPCONN_BUSY;
        start_reading(conn);
    } else {
        conn->state = SL_UPCONN_CONNECTING;
        struct timeval connect_tv = sl_timeval_ms(backend_of(conn)->connect_timeout_ms);
        event_add(conn->write_event, &connect_tv);
    }
    return conn;
}

void sl_upconn_free(struct sl_upconn *conn)
{
    conn->server->conn_count--;
    free_events(conn);
    close(conn->fd);
    free(conn);
}

void sl_upconn_begin(struct sl_upconn *conn, struct sl_request *req)
{
    conn->req = req;
    conn->is_request_sent = false;
    conn->is_in_value = false;
    conn->is_informational = false;
    http_parser_init(&conn->parser, HTTP_RESPONSE);
    conn->parser.data = conn;
    if (conn->state == SL_UPCONN_IDLE) {
        conn->state = SL_UPCONN_BUSY;
        /* No response timeout until the whole request is queued. Delete and re-add
         * rather than remove the timer: the idle timer may have fired in this very
         * loop turn, and only event_del cancels that pending activation (with the
         * epoll changelist the pair costs no syscall). */
        event_del(conn->read_event);
        event_add(conn->read_event, NULL);
    }
}

void sl_upconn_detach(struct sl_upconn *conn)
{
    conn->req = NULL;
}

int sl_upconn_write(struct sl_upconn *conn, const void *data, size_t len)
{
    if (evbuffer_add(conn->out, data, len) != 0)
        return -ENOMEM;
    if (conn->state == SL_UPCONN_BUSY && !conn->is_write_waiting)
        event_active(conn->flush_event, EV_WRITE, 0);
    return 0;
}

void sl_upconn_request_sent(struct sl_upconn *conn)
{
    conn->is_request_sent = true;
    if (conn->state == SL_UPCONN_BUSY && !conn->is_paused)
        start_reading(conn);
}

void sl_upconn_set_paused(struct sl_upconn *conn, bool is_paused)
{
    if (is_paused == conn->is_paused || conn->state != SL_UPCONN_BUSY)
        return;
    conn->is_paused = is_paused;
    if (is_paused)
        event_del(conn->read_event);
    else
        start_reading(conn);
}

void sl_upconn_idle(struct sl_upconn *conn)
{
    conn->state = SL_UPCONN_IDLE;
    conn->req = NULL;
    conn->is_paused = false;
    struct timeval idle_tv = sl_timeval_ms(backend_of(conn)->keepalive_idle_timeout_ms);
    event_add(conn->read_event, &idle_tv);
}

/* --- response parsing: the callbacks only record into the borrower's response --- */

static struct sl_upstream_response *response_of(http_parser *p)
{
    struct sl_upconn *conn = p->data;
    return sl_request_response(conn->req);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct sl_upconn *conn = p->data;
    struct sl_upstream_response *resp = response_of(p);
    if (resp->is_head_complete)
        return 0; /* trailers are not relayed */
    int rv;
    if (conn->is_in_value || resp->headers.count == 0)
        rv = sl_header_list_add(&resp->headers, at, len, "", 0, NGHTTP2_NV_FLAG_NONE);
    else
        rv = sl_header_list_append_name(&resp->headers, at, len);
    conn->is_in_value = false;
    return rv == 0 ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct sl_upconn *conn = p->data;
    struct sl_upstream_response *resp = response_of(p);
    if (resp->is_head_complete)
        return 0;
    conn->is_in_value = true;
    return sl_header_list_append_value(&resp->headers, at, len) == 0 ? 0 : -1;
}

static int on_headers_complete(http_parser *p)
{
    struct sl_upconn *conn = p->data;
    struct sl_upstream_response *resp = response_of(p);
    if (p->status_code >= 100 && p->status_code < 200) {
        /* RFC 9110 §15.2: interim responses end without a body; the final one follows */
        conn->is_informational = true;
        resp->headers.count = 0;
        resp->headers.total_bytes = 0;
        conn->is_in_value = false;
        return 0;
    }
    resp->status = p->status_code;
    resp->is_head_complete = true;
    /* RFC 9112 §6.3: no body after HEAD, 204 or 304, whatever Content-Length says */
    bool has_body = !conn->req->is_head_method && p->status_code != 204 && p->status_code != 304;
    return has_body ? 0 : 1;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct sl_upstream_response *resp = response_of(p);
    return evbuffer_add(resp->body, at, len) == 0 ? 0 : -1;
}

static int on_message_complete(http_parser *p)
{
    struct sl_upconn *conn = p->data;
    if (conn->is_informational) {
        conn->is_informational = false;
        return 0;
    }
    response_of(p)->is_complete = true;
    /* stop at the message's end: what follows is not this request's */
    http_parser_pause(p, 1);
    return 0;
}

/* --- events, handled at the edge: each returns right after the connection may
 * have been freed --- */

/* The request hears first, so that a retry takes the freed slot before the
 * waiters do. */
static void fail(struct sl_upconn *conn, enum sl_upstream_failure what)
{
    struct sl_request *req = conn->req;
    struct sl_pool *pool = conn->server->pool;
    bool was_reused = conn->exchanges_done > 0;
    conn->req = NULL;
    sl_pool_close(conn);
    if (req != NULL)
        sl_request_on_upstream_failure(req, what, was_reused);
    sl_pool_serve_waiters(pool);
}

/* The connection closed by itself, or misbehaved, with no request on it. */
static void close_unlent(struct sl_upconn *conn)
{
    if (conn->state == SL_UPCONN_IDLE)
        sl_pool_on_idle_closed(conn);
    else
        sl_pool_discard(conn);
}

static void complete(struct sl_upconn *conn, bool is_reusable)
{
    struct sl_request *req = conn->req;
    conn->req = NULL;
    conn->exchanges_done++;
    is_reusable = is_reusable && conn->is_request_sent && evbuffer_get_length(conn->out) == 0 &&
                  http_should_keep_alive(&conn->parser);
    sl_request_on_upstream_progress(req);
    if (is_reusable)
        sl_pool_release(conn);
    else
        sl_pool_discard(conn);
}

static void on_response_bytes(struct sl_upconn *conn, const char *data, size_t len)
{
    struct sl_upstream_response *resp = sl_request_response(conn->req);
    resp->has_bytes = true;
    size_t parsed = http_parser_execute(&conn->parser, &parser_settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&conn->parser);
    if (resp->is_complete) {
        /* bytes past the response: a confused backend, do not reuse */
        complete(conn, parsed == len);
        return;
    }
    if (e != HPE_OK || parsed != len) {
        SL_WARN("backend %s sent an unparsable response: %s", conn->server->addr->text,
                http_errno_description(e));
        fail(conn, SL_UPSTREAM_PROTOCOL);
        return;
    }
    sl_request_on_upstream_progress(conn->req);
}

/* EOF while busy: the end of a body delimited by the connection's close, or a break. */
static void on_busy_eof(struct sl_upconn *conn)
{
    http_parser_execute(&conn->parser, &parser_settings, NULL, 0);
    if (sl_request_response(conn->req)->is_complete) {
        complete(conn, false);
        return;
    }
    SL_WARN("backend %s closed the connection before the response was complete",
            conn->server->addr->text);
    fail(conn, SL_UPSTREAM_BROKEN);
}

static void on_read_timeout(struct sl_upconn *conn)
{
    if (conn->req == NULL) {
        close_unlent(conn); /* keep-alive idle timeout */
        return;
    }
    SL_WARN("backend %s: no response within %u ms", conn->server->addr->text,
            backend_of(conn)->response_timeout_ms);
    fail(conn, SL_UPSTREAM_TIMEOUT);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct sl_upconn *conn = arg;
    if (what & EV_TIMEOUT) {
        on_read_timeout(conn);
        return;
    }
    ssize_t n = read(fd, read_buf, sizeof(read_buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (conn->req == NULL) {
        if (n > 0)
            SL_INFO("backend %s sent %zd bytes on an idle connection; closing it",
                    conn->server->addr->text, n);
        close_unlent(conn);
    } else if (n > 0) {
        on_response_bytes(conn, read_buf, (size_t)n);
    } else if (n == 0) {
        on_busy_eof(conn);
    } else {
        SL_WARN("backend %s: connection error: %s", conn->server->addr->text, strerror(errno));
        fail(conn, SL_UPSTREAM_BROKEN);
    }
}

/* Writes what is queued; returns false when the connection was freed. */
static bool write_output(struct sl_upconn *conn)
{
    while (evbuffer_get_length(conn->out) > 0) {
        if (evbuffer_write(conn->out, conn->fd) >= 0)
            continue;
        if (errno == EAGAIN || errno == EINTR) {
            if (!conn->is_write_waiting) {
                conn->is_write_waiting = true;
                event_add(conn->write_event, NULL);
            }
            return true;
        }
        SL_WARN("backend %s: write failed: %s", conn->server->addr->text, strerror(errno));
        fail(conn, SL_UPSTREAM_BROKEN);
        return false;
    }
    if (conn->is_write_waiting) {
        conn->is_write_waiting = false;
        event_del(conn->write_event);
    }
    if (conn->req != NULL)
        sl_request_on_upstream_drained(conn->req);
    return true;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct sl_upconn *conn = arg;
    if (conn->state == SL_UPCONN_BUSY && !conn->is_write_waiting)
        write_output(conn);
}

static void on_connected(struct sl_upconn *conn)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        SL_WARN("backend %s: connect failed: %s", conn->server->addr->text, strerror(err));
        fail(conn, SL_UPSTREAM_CONNECT);
        return;
    }
    conn->state = SL_UPCONN_BUSY;
    event_del(conn->write_event);
    start_reading(conn);
    write_output(conn);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct sl_upconn *conn = arg;
    if (conn->state == SL_UPCONN_CONNECTING) {
        if (what & EV_TIMEOUT) {
            SL_WARN("backend %s: connect failed: timed out after %u ms",
                    conn->server->addr->text, backend_of(conn)->connect_timeout_ms);
            fail(conn, SL_UPSTREAM_CONNECT);
            return;
        }
        on_connected(conn);
        return;
    }
    write_output(conn);
}
