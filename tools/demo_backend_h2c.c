/* sluice-demo-backend --h2c: the same routes over cleartext HTTP/2 (prior
 * knowledge), with nghttp2 on a bufferevent, so that tests and benchmarks can
 * put an h2c backend behind sluice and make it misbehave on demand:
 *   /rst, /refuse     the stream is reset (INTERNAL_ERROR, REFUSED_STREAM)
 *   /big-header/N     the / answer with an x-big field of N bytes (N <= 60000)
 *   /interim/CODE     an interim (1xx) head with that status, then the / answer
 *   --goaway-after N  a connection that began N streams sends GOAWAY with the
 *                     Nth as the last stream, finishes those and closes
 *   --max-streams N   SETTINGS_MAX_CONCURRENT_STREAMS
 * With --verbose each accepted connection and each answered stream is logged,
 * with the streams open at once on its connection, so a test can count both.
 *
 * nghttp2 callbacks never free the connection: it is freed at the end of a
 * libevent callback (on_read, on_write, on_event, a stream's delay timer), once
 * nghttp2 wants neither to read nor to write. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "demo_backend.h"

#define OUTPUT_HIGH_BYTES (256 * 1024)
#define PATH_MAX_BYTES 2048
#define METHOD_MAX_BYTES 32
#define BIG_HEADER_MAX_BYTES 60000 /* below nghttp2's 64 KiB limit on one field */

/* Owned by the server's list; freed by conn_free() only. Owns bev and session. */
struct h2c_conn {
    struct server *srv;
    struct h2c_conn *prev;
    struct h2c_conn *next;
    struct bufferevent *bev;
    nghttp2_session *session;
    uint64_t id;
    uint32_t streams_begun; /* X-Connection-Streams */
    uint32_t streams_open;
};

/* One request; owned by nghttp2's stream (freed in on_stream_close). */
struct h2c_stream {
    struct h2c_conn *c;
    int32_t id;
    uint32_t number; /* its place among its connection's streams, from 1 */
    char method[METHOD_MAX_BYTES];
    char path[PATH_MAX_BYTES]; /* with its query */
    struct evbuffer *headers;  /* the JSON array's elements for /headers */
    struct evbuffer *body;     /* /echo: the request body; then the response body */
    struct event *delay;       /* /delay/MS */
    uint64_t body_bytes;
    uint64_t left_bytes; /* /bytes/N: body bytes not yet sent */
    uint64_t offset;     /* /bytes/N: index of the next byte */
    enum route route;
    uint64_t route_arg;
    uint32_t big_header_bytes; /* /big-header/N */
    unsigned interim_status;   /* /interim/CODE */
    bool is_reset_route;       /* /rst or /refuse */
    uint32_t reset_code;       /* what such a route resets with */
};

static void conn_free(struct h2c_conn *c)
{
    struct server *srv = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        srv->h2c_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nghttp2_session_del(c->session); /* closes no stream through callbacks */
    bufferevent_free(c->bev);
    free(c);
}

void demo_h2c_close_all(struct server *srv)
{
    while (srv->h2c_conns)
        conn_free(srv->h2c_conns);
}

static void stream_free(struct h2c_stream *s)
{
    if (s->delay)
        event_free(s->delay);
    if (s->headers)
        evbuffer_free(s->headers);
    if (s->body)
        evbuffer_free(s->body);
    free(s);
}

/* Moves what nghttp2 has to send into the output, up to its high-water mark;
 * on_write asks for more. Returns -1 when the session failed. */
static int flush(struct h2c_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    while (evbuffer_get_length(out) < OUTPUT_HIGH_BYTES) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);

        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (evbuffer_add(out, data, (size_t)n) < 0)
            return -1;
    }
    return 0;
}

/* Ends each libevent callback: c may be freed. */
static void settle(struct h2c_conn *c)
{
    if (flush(c) < 0 ||
        (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
         evbuffer_get_length(bufferevent_get_output(c->bev)) == 0))
        conn_free(c);
}

/* ---- responses ---- */

static void log_stream(const struct h2c_stream *s, int status)
{
    const struct h2c_conn *c = s->c;

    if (!c->srv->opt->is_verbose)
        return;
    fprintf(stderr,
            "sluice-demo-backend[%s] conn %" PRIu64 " #%" PRIu32 ": %s %s -> %d (open %" PRIu32
            ")\n",
            c->srv->opt->id, c->id, s->number, s->method, s->path, status, c->streams_open);
}

/* A deferred answer is logged on arrival too: tests wait for this line to know
 * the request is being held. */
static void log_waiting(const struct h2c_stream *s)
{
    const struct h2c_conn *c = s->c;

    if (!c->srv->opt->is_verbose)
        return;
    fprintf(stderr, "sluice-demo-backend[%s] conn %" PRIu64 " #%" PRIu32 ": %s %s waiting\n",
            c->srv->opt->id, c->id, s->number, s->method, s->path);
}

static ssize_t read_buffer(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                           uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    struct h2c_stream *s = source->ptr;
    int n = evbuffer_remove(s->body, buf, length);

    if (evbuffer_get_length(s->body) == 0)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return n > 0 ? n : 0;
}

static ssize_t read_pattern(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                            void *user_data)
{
    struct h2c_stream *s = source->ptr;
    size_t n = length < s->left_bytes ? length : (size_t)s->left_bytes;

    if (n > STREAM_PIECE_BYTES)
        n = STREAM_PIECE_BYTES;
    memcpy(buf, pattern + s->offset % PATTERN_PERIOD, n);
    s->offset += n;
    s->left_bytes -= n;
    if (s->left_bytes == 0)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v, vlen)                                                                             \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE                \
    }

/* A response with s->body (or, for /bytes, the pattern) as its body. */
static void respond(struct h2c_stream *s, int status, const char *content_type, uint64_t length,
                    nghttp2_data_source_read_callback read_body)
{
    char status_text[4], length_text[24], streams_text[12];
    int status_len = snprintf(status_text, sizeof(status_text), "%d", status);
    int length_len = snprintf(length_text, sizeof(length_text), "%" PRIu64, length);
    int streams_len = snprintf(streams_text, sizeof(streams_text), "%" PRIu32, s->number);
    const char *id = s->c->srv->opt->id;
    nghttp2_nv fields[7] = {
        NV(":status", status_text, (size_t)status_len),
        NV("server", "sluice-demo-backend", 19),
        NV("x-backend-id", id, strlen(id)),
        NV("x-connection-streams", streams_text, (size_t)streams_len),
    };
    size_t n = 4;
    /* RFC 9110 §8.6: no Content-Length in a 204; a 304 has no body to measure */
    if (status != 204 && status != 304)
        fields[n++] = (nghttp2_nv)NV("content-length", length_text, (size_t)length_len);
    if (content_type)
        fields[n++] = (nghttp2_nv)NV("content-type", content_type, strlen(content_type));
    if (s->big_header_bytes > 0)
        fields[n++] = (nghttp2_nv)NV("x-big", pattern, s->big_header_bytes);
    nghttp2_data_provider body = {.source.ptr = s, .read_callback = read_body};
    bool has_body = length > 0 && strcmp(s->method, "HEAD") != 0;

    log_stream(s, status);
    nghttp2_submit_response(s->c->session, s->id, fields, n, has_body ? &body : NULL);
}

static void respond_text(struct h2c_stream *s, int status, const char *content_type,
                         const char *data, size_t len)
{
    evbuffer_drain(s->body, evbuffer_get_length(s->body));
    evbuffer_add(s->body, data, len);
    respond(s, status, content_type, len, read_buffer);
}

static void respond_buffer(struct h2c_stream *s, const char *content_type)
{
    respond(s, 200, content_type, evbuffer_get_length(s->body), read_buffer);
}

static void respond_headers(struct h2c_stream *s)
{
    struct evbuffer *b = s->body;

    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add(b, "{\"method\":", 10);
    demo_add_json_string(b, s->method, strlen(s->method));
    evbuffer_add(b, ",\"path\":", 8);
    demo_add_json_string(b, s->path, strlen(s->path));
    evbuffer_add(b, ",\"headers\":[", 12);
    evbuffer_add_buffer(b, s->headers);
    evbuffer_add_printf(b, "],\"body_bytes\":%" PRIu64 "}\n", s->body_bytes);
    respond_buffer(s, "application/json");
}

static void respond_root(struct h2c_stream *s)
{
    evbuffer_drain(s->body, evbuffer_get_length(s->body));
    evbuffer_add_printf(s->body, "hello from the sluice demo backend (h2c)\nmethod: %s\npath: %s\n",
                        s->method, s->path);
    respond_buffer(s, "text/plain");
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    struct h2c_stream *s = arg;
    struct h2c_conn *c = s->c;

    respond_text(s, 200, "text/plain", "ok\n", 3);
    settle(c);
}

static void start_delay(struct h2c_stream *s)
{
    struct timeval tv = {
        .tv_sec = (time_t)(s->route_arg / 1000),
        .tv_usec = (suseconds_t)(s->route_arg % 1000 * 1000),
    };

    s->delay = evtimer_new(s->c->srv->base, on_delay, s);
    if (!s->delay || evtimer_add(s->delay, &tv) < 0)
        respond_text(s, 503, "text/plain", "out of memory\n", 14);
}

static void send_interim(struct h2c_stream *s)
{
    char status[4] = {
        /* 100..199, three digits */
        (char)('0' + s->interim_status / 100),
        (char)('0' + s->interim_status / 10 % 10),
        (char)('0' + s->interim_status % 10),
        '\0',
    };
    nghttp2_nv fields[] = {
        NV(":status", status, 3),
        NV("link", "</style.css>; rel=preload", 25),
    };
    nghttp2_submit_headers(s->c->session, NGHTTP2_FLAG_NONE, s->id, NULL, fields, 2, NULL);
}

static void answer(struct h2c_stream *s)
{
    if (s->interim_status != 0)
        send_interim(s);
    if (s->is_reset_route) {
        log_stream(s, 0);
        nghttp2_submit_rst_stream(s->c->session, NGHTTP2_FLAG_NONE, s->id, s->reset_code);
        return;
    }
    switch (s->route) {
    case ROUTE_ROOT:
        respond_root(s);
        break;
    case ROUTE_HEADERS:
        respond_headers(s);
        break;
    case ROUTE_ECHO:
        respond_buffer(s, "application/octet-stream");
        break;
    case ROUTE_BID:
        respond_text(s, 200, "application/json", BID_RESPONSE, BID_RESPONSE_LEN);
        break;
    case ROUTE_BYTES:
        s->left_bytes = s->route_arg;
        respond(s, 200, "application/octet-stream", s->route_arg, read_pattern);
        break;
    case ROUTE_DELAY:
        log_waiting(s);
        start_delay(s);
        break;
    case ROUTE_STATUS:
        respond(s, (int)s->route_arg, NULL, 0, read_buffer);
        break;
    case ROUTE_HANG:
        log_waiting(s);
        break;
    case ROUTE_DIE: /* an HTTP/1.1 framing fault: no HTTP/2 equivalent */
    case ROUTE_NOT_FOUND:
        respond_text(s, 404, "text/plain", "not found\n", 10);
        break;
    }
}

/* ---- nghttp2 callbacks ---- */

static void route_path(struct h2c_stream *s)
{
    size_t len = strcspn(s->path, "?");

    if (len == 4 && memcmp(s->path, "/rst", 4) == 0) {
        s->is_reset_route = true;
        s->reset_code = NGHTTP2_INTERNAL_ERROR;
    } else if (len == 7 && memcmp(s->path, "/refuse", 7) == 0) {
        s->is_reset_route = true;
        s->reset_code = NGHTTP2_REFUSED_STREAM;
    } else if (len > 9 && memcmp(s->path, "/interim/", 9) == 0) {
        unsigned long code = strtoul(s->path + 9, NULL, 10);
        s->interim_status = code >= 100 && code <= 199 ? (unsigned)code : 103;
        s->route = ROUTE_ROOT;
    } else if (len > 12 && memcmp(s->path, "/big-header/", 12) == 0) {
        unsigned long n = strtoul(s->path + 12, NULL, 10);
        s->big_header_bytes = n <= BIG_HEADER_MAX_BYTES ? (uint32_t)n : BIG_HEADER_MAX_BYTES;
        s->route = ROUTE_ROOT;
    } else {
        demo_match_route(s->path, len, &s->route, &s->route_arg);
    }
}

static void copy_text(char *dst, size_t cap, const uint8_t *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* The GOAWAY of --goaway-after names the Nth stream as the last processed. */
static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2c_conn *c = user_data;
    struct h2c_stream *s;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    s->c = c;
    s->id = frame->hd.stream_id;
    s->headers = evbuffer_new();
    s->body = evbuffer_new();
    if (!s->headers || !s->body) {
        stream_free(s);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->number = ++c->streams_begun;
    c->streams_open++;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    uint32_t limit = c->srv->opt->goaway_after;
    if (limit != 0 && s->number == limit)
        nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR, NULL, 0);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    struct h2c_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);

    if (!s)
        return 0;
    if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
        copy_text(s->method, sizeof(s->method), value, valuelen);
        return 0;
    }
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        copy_text(s->path, sizeof(s->path), value, valuelen);
        route_path(s);
        return 0;
    }
    if (namelen > 0 && name[0] == ':')
        return 0;
    if (evbuffer_get_length(s->headers) > 0)
        evbuffer_add(s->headers, ",", 1);
    evbuffer_add(s->headers, "[", 1);
    demo_add_json_string(s->headers, (const char *)name, namelen);
    evbuffer_add(s->headers, ",", 1);
    demo_add_json_string(s->headers, (const char *)value, valuelen);
    evbuffer_add(s->headers, "]", 1);
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    struct h2c_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);

    if (!s)
        return 0;
    s->body_bytes += len;
    if (s->route == ROUTE_ECHO && s->body_bytes <= ECHO_MAX_BYTES)
        evbuffer_add(s->body, data, len);
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2c_stream *s;

    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s) {
        if (s->route == ROUTE_ECHO && s->body_bytes > ECHO_MAX_BYTES)
            respond_text(s, 413, "text/plain", "too large\n", 10);
        else
            answer(s);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct h2c_conn *c = user_data;
    struct h2c_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);

    if (!s)
        return 0;
    c->streams_open--;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    stream_free(s);
    return 0;
}

/* ---- libevent callbacks ---- */

static void on_read(struct bufferevent *bev, void *arg)
{
    struct h2c_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    ssize_t n = nghttp2_session_mem_recv(c->session, evbuffer_pullup(in, -1), len);

    if (n < 0) {
        conn_free(c);
        return;
    }
    evbuffer_drain(in, len);
    settle(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    settle(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_free(arg);
}

static int start_session(struct h2c_conn *c)
{
    nghttp2_session_callbacks *cbs;
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->srv->opt->max_streams},
    };
    int rv;

    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    rv = nghttp2_session_server_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return -1;
    return nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 1) == 0 ? 0 : -1;
}

int demo_h2c_accept(struct server *srv, evutil_socket_t fd)
{
    struct h2c_conn *c = calloc(1, sizeof(*c));

    if (!c) {
        evutil_closesocket(fd);
        return -1;
    }
    c->srv = srv;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        evutil_closesocket(fd);
        free(c);
        return -1;
    }
    c->id = ++srv->next_conn_id;
    c->next = srv->h2c_conns;
    if (srv->h2c_conns)
        srv->h2c_conns->prev = c;
    srv->h2c_conns = c;
    if (start_session(c) < 0 || bufferevent_enable(c->bev, EV_READ) < 0) {
        conn_free(c);
        return -1;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    if (srv->opt->is_verbose)
        fprintf(stderr, "sluice-demo-backend[%s] conn %" PRIu64 " accepted (h2c)\n", srv->opt->id,
                c->id);
    settle(c);
    return 0;
}
