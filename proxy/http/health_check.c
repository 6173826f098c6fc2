#include "health_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "timeval_ms.h"
#include "upstream_pool.h"

/* A status line or header line longer than this is not a health answer. */
#define SL_HEALTH_LINE_MAX 8192

struct sl_health_check {
    struct event_base *base;
    struct sl_server *server;
    struct event *timer;     /* EV_PERSIST, every interval while started */
    struct bufferevent *bev; /* the probe in flight; NULL between probes */
    nghttp2_session *h2;     /* h2c backends: the probe's session */
    int status;              /* the head being read's; 0 before its status */
    bool is_final;           /* status is the final answer's */
    bool is_over;            /* the probe's stream or connection ended first */
    uint32_t failures;       /* since the start: the first is a warning, the rest debug */
};

static const struct sl_backend_config *backend_of(const struct sl_health_check *hc)
{
    return hc->server->pool->cfg;
}

/* What the probe names as its authority: the server's address, or localhost
 * for a Unix socket, whose address is no host name. */
static const char *authority_of(const struct sl_health_check *hc)
{
    return sl_addr_is_unix(hc->server->addr) ? "localhost" : hc->server->addr->text;
}

static void end_probe(struct sl_health_check *hc)
{
    if (hc->h2 != NULL)
        nghttp2_session_del(hc->h2);
    if (hc->bev != NULL)
        bufferevent_free(hc->bev);
    hc->h2 = NULL;
    hc->bev = NULL;
    hc->status = 0;
    hc->is_final = false;
    hc->is_over = false;
}

/* Ends the probe and tells the pool, which stops the checker on a pass. */
static void conclude(struct sl_health_check *hc, const char *failure)
{
    const struct sl_backend_config *cfg = backend_of(hc);
    int status = hc->status;
    end_probe(hc);
    if (failure == NULL && status >= 200 && status < 300) {
        sl_pool_health_check_passed(hc->server);
        return;
    }
    char answered[32];
    if (failure == NULL) {
        snprintf(answered, sizeof(answered), "status %d", status);
        failure = answered;
    }
    enum sl_log_level level = hc->failures++ == 0 ? SL_LOG_WARN : SL_LOG_DEBUG;
    SL_LOG(level, "backend %s: health check GET %s of server %s failed (%s); probing every %u ms",
           cfg->name, cfg->health_check_path.text, hc->server->addr->text, failure,
           cfg->health_check_interval_ms);
    sl_pool_health_check_failed(hc->server);
}

/* --- HTTP/1.1 --- */

/* "HTTP/1.x NNN ...": the status, or -1. */
static int parse_status_line(const char *line)
{
    if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ')
        return -1;
    const char *d = line + 9;
    for (int i = 0; i < 3; i++)
        if (d[i] < '0' || d[i] > '9')
            return -1;
    if (d[3] != '\0' && d[3] != ' ')
        return -1;
    return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
}

static int send_h1_request(struct sl_health_check *hc)
{
    return evbuffer_add_printf(bufferevent_get_output(hc->bev),
                               "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-health-check\r\n"
                               "Connection: close\r\n\r\n",
                               backend_of(hc)->health_check_path.text, authority_of(hc)) < 0
               ? -1
               : 0;
}

/* Reads heads up to the final status line; interim (1xx) heads are skipped. */
static const char *read_h1(struct sl_health_check *hc, struct evbuffer *in)
{
    char *line;
    while (!hc->is_final && (line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) != NULL) {
        bool is_status_line = hc->status == 0;
        if (is_status_line)
            hc->status = parse_status_line(line);
        else if (line[0] == '\0')
            hc->status = 0; /* the end of an interim head: the next status line follows */
        free(line);
        if (hc->status < 0)
            return "not an HTTP/1.1 status line";
        if (is_status_line && hc->status >= 200)
            hc->is_final = true;
    }
    if (!hc->is_final && evbuffer_get_length(in) > SL_HEALTH_LINE_MAX)
        return "a head line too long";
    return NULL;
}

/* --- h2c --- */

static ssize_t on_h2_send(nghttp2_session *session, const uint8_t *data, size_t len, int flags,
                          void *arg)
{
    struct sl_health_check *hc = arg;
    if (bufferevent_write(hc->bev, data, len) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static int on_h2_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *arg)
{
    struct sl_health_check *hc = arg;
    if (frame->hd.type != NGHTTP2_HEADERS || namelen != 7 || memcmp(name, ":status", 7) != 0)
        return 0;
    int status = valuelen == 3 ? 0 : -1;
    for (size_t i = 0; status >= 0 && i < valuelen; i++)
        status = value[i] >= '0' && value[i] <= '9' ? status * 10 + (value[i] - '0') : -1;
    hc->status = status;
    return 0;
}

static int on_h2_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    struct sl_health_check *hc = arg;
    if (frame->hd.type == NGHTTP2_HEADERS && hc->status >= 200)
        hc->is_final = true;
    else if (frame->hd.type == NGHTTP2_GOAWAY)
        hc->is_over = true;
    return 0;
}

static int on_h2_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                              void *arg)
{
    struct sl_health_check *hc = arg;
    hc->is_over = true;
    return 0;
}

static int send_h2_request(struct sl_health_check *hc)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return -1;
    nghttp2_session_callbacks_set_send_callback(cbs, on_h2_send);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_h2_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_h2_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_h2_stream_close);
    int rv = nghttp2_session_client_new(&hc->h2, cbs, hc);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        hc->h2 = NULL;
        return -1;
    }
    const struct sl_string *path = &backend_of(hc)->health_check_path;
    const char *authority = authority_of(hc);
#define FIELD(n, v, vlen)                                                                          \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE                \
    }
    const nghttp2_nv fields[] = {
        FIELD(":method", "GET", 3),
        FIELD(":scheme", "http", 4),
        FIELD(":authority", authority, strlen(authority)),
        FIELD(":path", path->text, path->len),
        FIELD("user-agent", "sluice-health-check", 19),
    };
#undef FIELD
    if (nghttp2_submit_settings(hc->h2, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
        nghttp2_submit_request(hc->h2, NULL, fields, sizeof(fields) / sizeof(fields[0]), NULL,
                               NULL) < 0)
        return -1;
    return nghttp2_session_send(hc->h2) == 0 ? 0 : -1;
}

static const char *read_h2(struct sl_health_check *hc, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    ssize_t n = nghttp2_session_mem_recv(hc->h2, evbuffer_pullup(in, -1), len);
    if (n < 0)
        return nghttp2_strerror((int)n);
    evbuffer_drain(in, len);
    if (hc->status < 0)
        return "an unreadable :status";
    if (nghttp2_session_send(hc->h2) != 0)
        return "cannot send HTTP/2 frames";
    return !hc->is_final && hc->is_over ? "the stream ended without a final answer" : NULL;
}

/* --- the probe --- */

/* The callback runs deferred, so errno is another call's: the socket's own
 * error is read, when it has one (a connect refused at once leaves none). */
static const char *socket_failure(struct bufferevent *bev)
{
    int err = 0;
    socklen_t len = sizeof(err);
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0)
        return "cannot connect";
    return strerror(err);
}

static void on_readable(struct bufferevent *bev, void *arg)
{
    struct sl_health_check *hc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    const char *failure = hc->h2 != NULL ? read_h2(hc, in) : read_h1(hc, in);
    if (failure != NULL || hc->is_final)
        conclude(hc, failure);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sl_health_check *hc = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    conclude(hc, what & BEV_EVENT_EOF ? "closed before the answer" : socket_failure(bev));
}

static void start_probe(struct sl_health_check *hc)
{
    const struct sl_addr *addr = hc->server->addr;
    hc->bev = bufferevent_socket_new(hc->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (hc->bev == NULL) {
        conclude(hc, "out of memory");
        return;
    }
    bufferevent_setcb(hc->bev, on_readable, NULL, on_event, hc);
    bufferevent_enable(hc->bev, EV_READ | EV_WRITE);
    /* The request waits in the output until the connection is up. */
    bool is_h2 = backend_of(hc)->protocol == SL_BACKEND_H2C;
    if ((is_h2 ? send_h2_request(hc) : send_h1_request(hc)) != 0) {
        conclude(hc, "out of memory");
        return;
    }
    if (bufferevent_socket_connect(hc->bev, (const struct sockaddr *)&addr->ss, (int)addr->len) !=
        0)
        conclude(hc, "cannot open a socket");
}

/* Each tick ends the probe before it, which had its interval to answer. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct sl_health_check *hc = arg;
    if (hc->bev != NULL)
        conclude(hc, "no answer within health_check_interval_ms");
    start_probe(hc);
}

struct sl_health_check *sl_health_check_new(struct event_base *base, struct sl_server *s)
{
    struct sl_health_check *hc = calloc(1, sizeof(*hc));
    if (hc == NULL)
        return NULL;
    hc->base = base;
    hc->server = s;
    hc->timer = event_new(base, -1, EV_PERSIST, on_tick, hc);
    if (hc->timer == NULL) {
        free(hc);
        return NULL;
    }
    return hc;
}

void sl_health_check_free(struct sl_health_check *hc)
{
    if (hc == NULL)
        return;
    sl_health_check_stop(hc);
    event_free(hc->timer);
    free(hc);
}

int sl_health_check_start(struct sl_health_check *hc)
{
    if (event_pending(hc->timer, EV_TIMEOUT, NULL))
        return 0;
    hc->failures = 0;
    struct timeval tv = sl_timeval_ms(backend_of(hc)->health_check_interval_ms);
    return event_add(hc->timer, &tv);
}

void sl_health_check_stop(struct sl_health_check *hc)
{
    end_probe(hc);
    event_del(hc->timer);
}
