#include "upstream_h1.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "request.h"
#include "upstream_pool.h"

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

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static struct timeval tv_from_ms(uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static int open_socket(const struct sl_addr *addr)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (!sl_addr_is_unix(addr)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

struct sl_upconn *sl_upconn_connect(struct sl_server *server, struct event_base *base, int *err)
{
    struct sl_upconn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    int fd = open_socket(server->addr);
    if (fd < 0) {
        *err = fd;
        goto fail_socket;
    }
    conn->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (conn->bev == NULL) {
        close(fd);
        *err = -ENOMEM;
        goto fail_socket;
    }
    const struct sl_addr *addr = server->addr;
    if (bufferevent_socket_connect(conn->bev, (const struct sockaddr *)&addr->ss,
                                   (int)addr->len) < 0) {
        *err = errno ? -errno : -ECONNREFUSED;
        goto fail_connect;
    }
    /* set after connecting: an immediate refusal is reported by a deferred
     * callback, which must find these in place */
    bufferevent_setcb(conn->bev, on_read, on_write, on_event, conn);
    struct timeval connect_tv = tv_from_ms(server->pool->cfg->connect_timeout_ms);
    bufferevent_set_timeouts(conn->bev, NULL, &connect_tv);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
    conn->server = server;
    conn->state = SL_UPCONN_CONNECTING;
    server->conn_count++;
    return conn;

fail_connect:
    bufferevent_free(conn->bev);
fail_socket:
    free(conn);
    return NULL;
}

void sl_upconn_free(struct sl_upconn *conn)
{
    conn->server->conn_count--;
    bufferevent_free(conn->bev);
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
        /* no response timeout until the whole request is queued */
        bufferevent_set_timeouts(conn->bev, NULL, NULL);
    }
}

void sl_upconn_detach(struct sl_upconn *conn)
{
    conn->req = NULL;
}

int sl_upconn_write(struct sl_upconn *conn, const void *data, size_t len)
{
    return bufferevent_write(conn->bev, data, len) == 0 ? 0 : -ENOMEM;
}

void sl_upconn_request_sent(struct sl_upconn *conn)
{
    conn->is_request_sent = true;
    if (conn->state == SL_UPCONN_BUSY) {
        struct timeval response_tv = tv_from_ms(conn->server->pool->cfg->response_timeout_ms);
        bufferevent_set_timeouts(conn->bev, &response_tv, NULL);
    }
}

void sl_upconn_set_paused(struct sl_upconn *conn, bool is_paused)
{
    if (is_paused)
        bufferevent_disable(conn->bev, EV_READ);
    else
        bufferevent_enable(conn->bev, EV_READ);
}

bool sl_upconn_is_reused(const struct sl_upconn *conn)
{
    return conn->exchanges_done > 0;
}

size_t sl_upconn_pending(const struct sl_upconn *conn)
{
    return evbuffer_get_length(bufferevent_get_output(conn->bev));
}

struct sl_server *sl_upconn_server(const struct sl_upconn *conn)
{
    return conn->server;
}

void sl_upconn_idle(struct sl_upconn *conn)
{
    conn->state = SL_UPCONN_IDLE;
    conn->req = NULL;
    struct timeval idle_tv = tv_from_ms(conn->server->pool->cfg->keepalive_idle_timeout_ms);
    bufferevent_set_timeouts(conn->bev, &idle_tv, NULL);
    bufferevent_enable(conn->bev, EV_READ);
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
    return conn->req->is_head_method ? 1 : 0; /* 1: a HEAD response has no body */
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

/* --- events, handled at the edge --- */

static void fail(struct sl_upconn *conn, enum sl_upstream_failure what)
{
    struct sl_request *req = conn->req;
    bool was_reused = sl_upconn_is_reused(conn);
    conn->req = NULL;
    sl_pool_discard(conn);
    if (req != NULL)
        sl_request_on_upstream_failure(req, what, was_reused);
}

static void complete(struct sl_upconn *conn, bool is_reusable)
{
    struct sl_request *req = conn->req;
    conn->req = NULL;
    conn->exchanges_done++;
    is_reusable = is_reusable && conn->is_request_sent && sl_upconn_pending(conn) == 0 &&
                  http_should_keep_alive(&conn->parser);
    sl_request_on_upstream_progress(req);
    if (is_reusable)
        sl_pool_release(conn);
    else
        sl_pool_discard(conn);
}

/* Feeds input to the parser; returns bytes consumed or -1 on a parse error. */
static ssize_t parse_input(struct sl_upconn *conn, struct evbuffer *in)
{
    struct evbuffer_iovec vec[8];
    int n = evbuffer_peek(in, -1, NULL, vec, 8);
    size_t consumed = 0;
    for (int i = 0; i < n && i < 8; i++) {
        size_t done = http_parser_execute(&conn->parser, &parser_settings, vec[i].iov_base,
                                          vec[i].iov_len);
        consumed += done;
        enum http_errno e = HTTP_PARSER_ERRNO(&conn->parser);
        if (e == HPE_PAUSED)
            break;
        if (e != HPE_OK || done != vec[i].iov_len)
            return -1;
    }
    return (ssize_t)consumed;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct sl_upconn *conn = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (conn->req == NULL) {
        /* bytes on an idle connection belong to no request */
        SL_INFO("backend %s sent %zu bytes on an idle connection; closing it",
                conn->server->addr->text, evbuffer_get_length(in));
        if (conn->state == SL_UPCONN_IDLE)
            sl_pool_on_idle_closed(conn);
        else
            sl_pool_discard(conn);
        return;
    }
    sl_request_response(conn->req)->has_bytes = true;
    while (evbuffer_get_length(in) > 0) {
        ssize_t consumed = parse_input(conn, in);
        if (consumed < 0) {
            SL_WARN("backend %s sent an unparsable response: %s", conn->server->addr->text,
                    http_errno_description(HTTP_PARSER_ERRNO(&conn->parser)));
            fail(conn, SL_UPSTREAM_PROTOCOL);
            return;
        }
        evbuffer_drain(in, (size_t)consumed);
        if (sl_request_response(conn->req)->is_complete) {
            /* bytes past the response: a confused backend, do not reuse */
            complete(conn, evbuffer_get_length(in) == 0);
            return;
        }
        if (consumed == 0)
            break;
    }
    sl_request_on_upstream_progress(conn->req);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct sl_upconn *conn = arg;
    if (conn->req != NULL)
        sl_request_on_upstream_drained(conn->req);
}

static void on_connected(struct sl_upconn *conn)
{
    conn->state = SL_UPCONN_BUSY;
    if (conn->is_request_sent) {
        sl_upconn_request_sent(conn);
    } else {
        bufferevent_set_timeouts(conn->bev, NULL, NULL);
    }
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

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sl_upconn *conn = arg;
    if (what & BEV_EVENT_CONNECTED) {
        on_connected(conn);
        return;
    }
    if (conn->state == SL_UPCONN_IDLE || conn->req == NULL) {
        if (conn->state == SL_UPCONN_IDLE)
            sl_pool_on_idle_closed(conn);
        else
            sl_pool_discard(conn);
        return;
    }
    if (conn->state == SL_UPCONN_CONNECTING) {
        int e = EVUTIL_SOCKET_ERROR();
        SL_WARN("backend %s: connect failed: %s", conn->server->addr->text,
                (what & BEV_EVENT_TIMEOUT) ? "timed out" : evutil_socket_error_to_string(e));
        fail(conn, SL_UPSTREAM_CONNECT);
    } else if (what & BEV_EVENT_TIMEOUT) {
        SL_WARN("backend %s: no response within %u ms", conn->server->addr->text,
                conn->server->pool->cfg->response_timeout_ms);
        fail(conn, SL_UPSTREAM_TIMEOUT);
    } else if (what & BEV_EVENT_EOF) {
        on_busy_eof(conn);
    } else {
        int e = EVUTIL_SOCKET_ERROR();
        SL_WARN("backend %s: connection error: %s", conn->server->addr->text,
                evutil_socket_error_to_string(e));
        fail(conn, SL_UPSTREAM_BROKEN);
    }
}
