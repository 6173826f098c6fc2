/* The HTTP/1.1 front (front.h): one client connection speaking HTTP/1.0 or
 * HTTP/1.1, cleartext or over TLS.
 *
 * One exchange at a time: a pipelined request waits in the input buffer until
 * the response before it is complete, so answers leave in order (RFC 9112
 * §9.3.2) and at most one request of a connection is open.
 *
 * Reading a request: its first byte must come within client_idle_timeout_ms of
 * the connection opening or of the previous response (the keep-alive idle
 * time), the whole head within client_header_timeout_ms of that byte, and
 * within max_request_header_bytes. It is read once whole, with the checks of
 * hpack/h1.h, so a head that could mean something else to the backend is
 * answered 400 and the connection closed; the backend never sees it. The body
 * is read while the request holds fewer than stream_window_bytes the upstream
 * has not taken: the socket stops being read beyond that.
 *
 * States of an exchange: no request (waiting for a head) → head done (the
 * request is routed; body flowing) → response head sent → response done; the
 * exchange ends when both the response and the request body are complete. A
 * response that completes first leaves the rest of the body to be read and
 * dropped, up to SL_H1_DRAIN_MAX_BYTES; beyond that the connection closes.
 *
 * Ownership: owned by its plane; owns its bufferevent and its one request.
 * Freed only at the edge (pump, the bufferevent callbacks, the head timer) or
 * by its abort op, never from inside a reader's callback or a request's call. */
#include "front_h1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h> /* http_parser_parse_url, for absolute-form targets */

#include "config.h"
#include "front.h"
#include "front_io.h"
#include "front_h2.h"
#include "h1.h"
#include "h1_body.h"
#include "headers.h"
#include "log.h"
#include "plane.h"
#include "request.h"
#include "timeval_ms.h"
#include "writer.h"

/* Response bytes are produced only while less than this waits for the socket. */
#define SL_H1_OUTPUT_HIGH_BYTES (64 * 1024)
/* Request body read and dropped after its response, before closing instead. */
#define SL_H1_DRAIN_MAX_BYTES (64 * 1024)
#define SL_H1_BODY_CHUNK_BYTES (16 * 1024)
/* How long a closing connection still reads and drops what the client sends:
 * closing on unread bytes would reset the connection and could take the
 * answer already sent with it (nginx's lingering close). */
#define SL_H1_LINGER_MS 1000

struct front_h1 {
    struct sl_front base;          /* first: what requests and the plane see */
    struct bufferevent *bev;       /* its input, its output and write event (front_io.h) */
    struct event *read_event;      /* reads the socket into the input (sl_front_read) */
    struct event *pump_event;      /* runs pump() on the next loop turn */
    struct event *head_timer;      /* the next head must be complete by then */
    struct sl_h1_body body;        /* reads the current request's body */
    struct sl_request *req;        /* the open exchange; NULL between requests */
    int32_t next_id;               /* requests are numbered in logs like streams */
    struct sl_h1_head_notes notes; /* the current request's */
    bool is_http10;                /* the request line says HTTP/1.0 */
    bool is_connect;               /* the method is CONNECT */
    /* the input's first bytes already searched for a head's end: a head that
     * trickles in is searched in linear time, not quadratic */
    size_t head_searched;
    size_t unconsumed;      /* body bytes handed to the request, not yet taken */
    size_t drained;         /* body bytes dropped after the response was done */
    bool has_failed_parse;  /* a callback refused the head (out of memory) */
    bool is_upgrading;      /* the request asked for h2c, and gets it */
    bool is_head_done;      /* the request has its head */
    bool is_message_done;   /* the whole request, body included, was read */
    bool wants_continue;    /* Expect: 100-continue */
    bool is_head_sent;      /* the response head is in the output */
    bool is_response_done;  /* the whole response is in the output */
    bool is_chunked_out;    /* the response body goes out in chunks */
    bool is_keep_alive;     /* another request may follow this exchange */
    bool is_reading_paused; /* the request holds a window's worth */
    bool is_draining_body;  /* answered: the rest of the body is read and dropped */
    bool is_shutdown;       /* the drain ends, or the client shut its side: the last exchange */
    bool is_draining;       /* the worker drains: SL_DRAIN_IDLE_MS between requests closes */
    bool is_head_started;   /* part of the next head came: the header time runs */
    bool is_closing;        /* free at the next edge */
    bool is_finishing;      /* free once the output has drained */
    bool is_lingering; /* answered and shut for writing: reading until EOF or the linger time */
    bool is_read_on;   /* reading is on, unless the input reached the high mark */
};

static struct front_h1 *h1_of(struct sl_front *f)
{
    return (struct front_h1 *)f;
}

static const struct sl_config *cfg_of(const struct front_h1 *front)
{
    return front->base.plane->cfg;
}

static size_t head_limit(const struct front_h1 *front)
{
    return cfg_of(front)->max_request_header_bytes;
}

/* Input waiting to be parsed stays below a head and a body chunk: reading
 * stops at this mark. */
static size_t read_mark(const struct front_h1 *front)
{
    return head_limit(front) + SL_H1_BODY_CHUNK_BYTES;
}

/* The read event is on while reading is and the input is below the mark;
 * pump() calls this once it has parsed what it could. What OpenSSL already
 * holds is read on the next loop turn, as no readiness will announce it. */
static void update_read_event(struct front_h1 *front)
{
    bool is_below_mark = evbuffer_get_length(bufferevent_get_input(front->bev)) < read_mark(front);
    if (front->is_read_on && is_below_mark) {
        event_add(front->read_event, NULL);
        if (sl_front_has_pending(&front->base))
            event_active(front->read_event, EV_READ, 0);
    } else {
        event_del(front->read_event);
    }
}

static void set_reading(struct front_h1 *front, bool on)
{
    front->is_read_on = on;
    update_read_event(front);
}

static struct evbuffer *output_of(struct front_h1 *front)
{
    return sl_front_output(&front->base, front->bev);
}

static void schedule_pump(struct front_h1 *front)
{
    event_active(front->pump_event, EV_WRITE, 0);
}

static void arm_head_timer(struct front_h1 *front)
{
    struct timeval tv = sl_timeval_ms(sl_front_idle_ms(&front->base, front->is_draining));
    evtimer_add(front->head_timer, &tv);
}

/* Closes once the output has left, and gives a client that does not read it
 * client_idle_timeout_ms to do so. */
static void finish(struct front_h1 *front)
{
    front->is_finishing = true;
    struct timeval tv = sl_timeval_ms(cfg_of(front)->client_idle_timeout_ms);
    bufferevent_set_timeouts(front->bev, NULL, &tv);
}

static bool is_http10(const struct front_h1 *front)
{
    return front->is_http10;
}

/* Writes a response of sluice's own and closes once it has left: for a client
 * whose request cannot be read (or answered) as HTTP/1.1. */
static void reject(struct front_h1 *front, unsigned status, const char *why)
{
    SL_INFO("conn=%llu peer=%s: client sent %s; answering %u and closing",
            (unsigned long long)front->base.id, front->base.peer, why, status);
    front->base.plane->stats->requests_malformed++;
    if (status == 431)
        front->base.plane->stats->heads_too_large++;
    if (front->req != NULL && !front->is_head_sent)
        sl_request_answered_by_front(front->req, status);
    if (!front->is_head_sent) {
        char body[128];
        int n = snprintf(body, sizeof(body), "%u %s\n", status, sl_h1_reason(status));
        evbuffer_add_printf(output_of(front),
                            "HTTP/1.1 %u %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                            "content-length: %d\r\nconnection: close\r\n\r\n%s",
                            status, sl_h1_reason(status), n, body);
    }
    /* whatever the request's upstream answers now is dropped */
    front->is_head_sent = front->is_response_done = true;
    finish(front);
    set_reading(front, false);
    schedule_pump(front);
}

/* --- the head and body readers' callbacks: they record into the request, and free nothing --- */

static int add_field(struct front_h1 *front, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
    int rv = sl_request_on_h1_header(front->req, name, name_len, value, value_len);
    if (rv == SL_ENOMEM) {
        front->has_failed_parse = true;
        return -1;
    }
    return 0; /* SL_ETOOBIG: the request answers 431 once the head is done */
}

static int add_pseudo(struct front_h1 *front, const char *name, const char *value, size_t value_len)
{
    return add_field(front, name, strlen(name), value, value_len);
}

/* The target as HTTP/2 pseudo-headers: origin-form and "*" are the :path;
 * absolute-form gives :authority and :path, the query kept (RFC 9112 §3.2.2);
 * CONNECT's authority-form only :authority. */
static int add_target(struct front_h1 *front, const char *at, size_t len)
{
    if (front->is_connect)
        return add_pseudo(front, ":authority", at, len);
    if (at[0] == '/' || (len == 1 && at[0] == '*'))
        return add_pseudo(front, ":path", at, len);
    struct http_parser_url url;
    http_parser_url_init(&url);
    if (http_parser_parse_url(at, len, 0, &url) != 0 || !(url.field_set & (1 << UF_HOST)))
        return add_pseudo(front, ":path", at, len); /* the request refuses what it cannot forward */
    size_t host_at = url.field_data[UF_HOST].off;
    size_t host_end = host_at + url.field_data[UF_HOST].len;
    if (host_at > 0 && at[host_at - 1] == '[')
        host_at--, host_end++; /* an IPv6 literal keeps its brackets */
    if (url.field_set & (1 << UF_PORT))
        host_end = url.field_data[UF_PORT].off + url.field_data[UF_PORT].len;
    if (add_pseudo(front, ":authority", at + host_at, host_end - host_at) != 0)
        return -1;
    if (url.field_set & (1 << UF_PATH))
        return add_pseudo(front, ":path", at + url.field_data[UF_PATH].off,
                          len - url.field_data[UF_PATH].off);
    if (!(url.field_set & (1 << UF_QUERY)))
        return add_pseudo(front, ":path", "/", 1);
    /* "http://h?q": the path is "/" and the query follows it */
    size_t query_at = url.field_data[UF_QUERY].off - 1; /* the '?' */
    char *path = malloc(len - query_at + 2);
    if (path == NULL) {
        front->has_failed_parse = true;
        return -1;
    }
    path[0] = '/';
    memcpy(path + 1, at + query_at, len - query_at);
    int rv = add_pseudo(front, ":path", path, len - query_at + 1);
    free(path);
    return rv;
}

static int add_request_line(struct front_h1 *front, const struct sl_h1_request_line *line)
{
    const char *scheme = sl_front_scheme(&front->base);
    front->is_http10 = line->is_http10;
    front->is_connect = line->method_len == 7 && memcmp(line->method, "CONNECT", 7) == 0;
    if (add_pseudo(front, ":method", line->method, line->method_len) != 0 ||
        add_pseudo(front, ":scheme", scheme, strlen(scheme)) != 0)
        return -1;
    return add_target(front, line->target, line->target_len);
}

static int on_field(void *ctx, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    struct front_h1 *front = ctx;
    sl_h1_note_field(&front->notes, name, name_len, value, value_len);
    if (name_len == 6 && sl_h1_equal_ignoring_case(name, name_len, "expect"))
        front->wants_continue = sl_h1_equal_ignoring_case(value, value_len, "100-continue");
    return add_field(front, name, name_len, value, value_len);
}

/* RFC 7540 §3.2: cleartext, no body, "Upgrade: h2c", exactly one HTTP2-Settings,
 * and both named in Connection. Anything else is served as HTTP/1.1. */
static bool asks_for_h2c(const struct front_h1 *front)
{
    const struct sl_header_list *fields = &front->req->fields;
    return !sl_front_is_tls(&front->base) && front->notes.framing.content_length_count == 0 &&
           front->notes.framing.transfer_encoding_count == 0 &&
           sl_header_list_has_token(fields, "upgrade", "h2c") &&
           sl_header_list_has_token(fields, "connection", "upgrade") &&
           sl_header_list_has_token(fields, "connection", "http2-settings") &&
           sl_header_list_count(fields, "http2-settings") == 1;
}

/* RFC 9112 §3.2: HTTP/1.0 may omit Host; the backend is sent one anyway. */
static int add_missing_host(struct front_h1 *front)
{
    if (is_http10(front) && sl_header_list_find(&front->req->fields, "host") == NULL &&
        sl_header_list_find(&front->req->fields, ":authority") == NULL)
        return add_field(front, "host", 4, "localhost", 9);
    return 0;
}

static int on_body(void *ctx, const char *at, size_t len)
{
    struct front_h1 *front = ctx;
    if (front->is_response_done)
        front->drained += len;
    front->unconsumed += len;
    sl_request_on_body(front->req, (const uint8_t *)at, len);
    return 0;
}

/* The whole request was read: what follows is the next request's. */
static void end_message(struct front_h1 *front)
{
    front->is_message_done = true;
    if (front->is_head_done)
        sl_request_on_end(front->req);
}

/* A request without framing has no body; the framing checks have passed. */
static int start_body(struct front_h1 *front)
{
    enum sl_h1_body_kind kind;
    if (sl_h1_body_kind_of(&front->notes, SL_H1_BODY_NONE, &kind) != 0)
        return SL_EINVALID;
    /* trailers share the head's limit */
    sl_h1_body_init(&front->body, kind, front->notes.length, head_limit(front));
    if (sl_h1_body_is_done(&front->body))
        end_message(front);
    return 0;
}

/* --- reading requests --- */

static void begin_exchange(struct front_h1 *front, struct sl_request *req)
{
    front->req = req;
    memset(&front->notes, 0, sizeof(front->notes));
    front->unconsumed = front->drained = 0;
    front->has_failed_parse = front->is_head_done = front->is_message_done = false;
    front->is_upgrading = false;
    front->wants_continue = front->is_head_sent = front->is_response_done = false;
    front->is_chunked_out = front->is_draining_body = false;
    front->is_keep_alive = true;
    sl_front_publish_streams(&front->base, 1, 0);
}

/* Searches for what (a CRLF CRLF or LF LF) from where it could start if the
 * first searched bytes of the input were not all of it. */
static struct evbuffer_ptr search_from(struct evbuffer *in, const char *what, size_t searched)
{
    size_t len = strlen(what);
    struct evbuffer_ptr start;
    evbuffer_ptr_set(in, &start, searched < len ? 0 : searched - (len - 1), EVBUFFER_PTR_SET);
    return evbuffer_search(in, what, len, &start);
}

/* The head is in the input: the length through its empty line, or 0 while it
 * is not (a bare-LF end, or a head past the limit, is refused at once). */
static size_t find_head(struct front_h1 *front)
{
    struct evbuffer *in = bufferevent_get_input(front->bev);
    size_t have = evbuffer_get_length(in);
    if (have == 0)
        return 0; /* the usual look for a next request, after a response */
    struct evbuffer_ptr end = search_from(in, "\r\n\r\n", front->head_searched);
    size_t limit = head_limit(front);
    if (end.pos < 0) {
        if (have > limit)
            reject(front, 431, "a request head over max_request_header_bytes");
        else if (search_from(in, "\n\n", front->head_searched).pos >= 0)
            reject(front, 400, "a request head ended by bare LFs");
        front->head_searched = have;
        return 0;
    }
    front->head_searched = 0;
    size_t len = (size_t)end.pos + 4;
    if (len > limit) {
        reject(front, 431, "a request head over max_request_header_bytes");
        return 0;
    }
    return len;
}

/* RFC 9112 §2.2: empty lines before a request line are ignored. */
static void skip_empty_lines(struct front_h1 *front)
{
    struct evbuffer *in = bufferevent_get_input(front->bev);
    char two[2];
    while (evbuffer_copyout(in, two, 2) == 2 && two[0] == '\r' && two[1] == '\n') {
        evbuffer_drain(in, 2);
        front->head_searched = front->head_searched < 2 ? 0 : front->head_searched - 2;
    }
}

/* From a head's first byte it has client_header_timeout_ms to be complete,
 * however long the connection was idle before. */
static void note_head_started(struct front_h1 *front)
{
    if (front->is_head_started || evbuffer_get_length(bufferevent_get_input(front->bev)) == 0)
        return;
    front->is_head_started = true;
    struct timeval tv = sl_timeval_ms(cfg_of(front)->client_header_timeout_ms);
    evtimer_add(front->head_timer, &tv);
}

/* The request line and fields go to a new request, which routes it. */
static void start_request(struct front_h1 *front)
{
    skip_empty_lines(front);
    size_t len = find_head(front);
    if (len == 0) {
        note_head_started(front);
        return;
    }
    front->is_head_started = false;
    evtimer_del(front->head_timer);
    struct evbuffer *in = bufferevent_get_input(front->bev);
    const char *head = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
    struct sl_h1_request_line line;
    size_t fields = head == NULL ? 0 : sl_h1_read_request_line(head, len, &line);
    if (fields == 0) {
        reject(front, 400, "a malformed request head");
        return;
    }
    struct sl_request *req = sl_request_new(&front->base, ++front->next_id);
    if (req == NULL) {
        reject(front, 503, "a request while out of memory");
        return;
    }
    begin_exchange(front, req);
    int rv = add_request_line(front, &line);
    if (rv == 0)
        rv = sl_h1_read_fields(head, len, fields, on_field, front);
    if (rv == 0)
        rv = add_missing_host(front);
    evbuffer_drain(in, len);
    sl_front_publish_read(&front->base, len);
    if (front->has_failed_parse) {
        reject(front, 503, "a request while out of memory");
        return;
    }
    if (rv != 0) {
        reject(front, 400, "a malformed request head");
        return;
    }
    if (sl_h1_framing_check(&front->notes.framing, is_http10(front)) != 0 ||
        start_body(front) != 0) {
        reject(front, 400, "a request with ambiguous or malformed framing");
        return;
    }
    front->is_upgrading = asks_for_h2c(front);
    if (front->is_upgrading)
        return; /* pump hands the connection over */
    bool has_body = !front->is_message_done;
    front->is_head_done = true;
    sl_request_on_head_done(req, has_body);
    /* RFC 9110 §10.1.1: the client holds its body back until asked */
    if (has_body && front->wants_continue && !front->is_head_sent && req->state != SL_REQ_DONE)
        evbuffer_add(output_of(front), "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Feeds what has arrived of the body, up to the request's window. */
static void read_body(struct front_h1 *front)
{
    struct evbuffer *in = bufferevent_get_input(front->bev);
    while (!front->is_message_done && !front->is_closing && !front->is_finishing &&
           !front->is_reading_paused && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec vec;
        evbuffer_peek(in, -1, NULL, &vec, 1);
        size_t parsed;
        int rv = sl_h1_body_read(&front->body, vec.iov_base, vec.iov_len, &parsed, on_body, front);
        evbuffer_drain(in, parsed);
        sl_front_publish_read(&front->base, parsed);
        if (rv == 1) {
            end_message(front);
        } else if (rv != 0) {
            reject(front, 400, front->body.error);
            return;
        }
        if (front->drained > SL_H1_DRAIN_MAX_BYTES) {
            finish(front); /* not worth reading the rest */
            return;
        }
        if (front->unconsumed >= cfg_of(front)->stream_window_bytes) {
            front->is_reading_paused = true;
            set_reading(front, false);
        }
    }
}

/* --- writing responses --- */

static bool has_field(const nghttp2_nv *nva, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (nva[i].namelen == strlen(name) && memcmp(nva[i].name, name, nva[i].namelen) == 0)
            return true;
    }
    return false;
}

/* Another request may follow only if the client allows it and the rest of
 * this one's body is worth reading. A request sluice itself found malformed
 * (its own 400) closes the connection: what follows it cannot be trusted. */
static bool can_keep_alive(const struct front_h1 *front, const struct sl_request *req,
                           unsigned status, bool is_close_delimited)
{
    if (!sl_h1_keeps_alive(&front->notes, is_http10(front)) || is_close_delimited ||
        front->is_shutdown || front->is_connect ||
        (status == 400 && !req->outcome.is_from_upstream))
        return false;
    if (front->is_message_done || front->notes.framing.transfer_encoding_count > 0)
        return true; /* a chunked rest is read up to the drain limit */
    return sl_h1_body_length_left(&front->body) <= SL_H1_DRAIN_MAX_BYTES;
}

/* The lines sluice adds after the backend's fields, each a literal. */
struct head_framing {
    bool needs_zero_length;
    bool is_chunked;
    bool is_close;
    bool is_http10_keep_alive;
};

static void put_head(struct sl_writer *w, unsigned status, const nghttp2_nv *nva, size_t count,
                     const struct head_framing *framing)
{
    char digits[3] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                      (char)('0' + status % 10)};
    const char *reason = sl_h1_reason(status);
    SL_PUT_LITERAL(w, "HTTP/1.1 ");
    sl_put(w, digits, sizeof(digits));
    SL_PUT_LITERAL(w, " ");
    sl_put(w, reason, strlen(reason));
    SL_PUT_LITERAL(w, "\r\n");
    for (size_t i = 0; i < count; i++) {
        sl_put(w, nva[i].name, nva[i].namelen);
        SL_PUT_LITERAL(w, ": ");
        sl_put(w, nva[i].value, nva[i].valuelen);
        SL_PUT_LITERAL(w, "\r\n");
    }
    if (framing->needs_zero_length)
        SL_PUT_LITERAL(w, "content-length: 0\r\n");
    if (framing->is_chunked)
        SL_PUT_LITERAL(w, "transfer-encoding: chunked\r\n");
    if (framing->is_close)
        SL_PUT_LITERAL(w, "connection: close\r\n");
    else if (framing->is_http10_keep_alive)
        SL_PUT_LITERAL(w, "connection: keep-alive\r\n");
    SL_PUT_LITERAL(w, "\r\n");
}

/* The head goes into the output in one piece: an evbuffer_add per part ran
 * the output's callbacks twenty-odd times a response. guess is the space
 * tried first. */
static int add_head(struct evbuffer *out, size_t guess, unsigned status, const nghttp2_nv *nva,
                    size_t count, const struct head_framing *framing)
{
    struct evbuffer_iovec vec;
    struct sl_writer w = {0};
    for (size_t space = guess;; space = w.len) {
        if (evbuffer_reserve_space(out, (ev_ssize_t)space, &vec, 1) != 1)
            return SL_ENOMEM;
        w = (struct sl_writer){.buf = vec.iov_base, .cap = space};
        put_head(&w, status, nva, count, framing);
        if (sl_writer_fits(&w))
            break;
    }
    vec.iov_len = w.len;
    return evbuffer_commit_space(out, &vec, 1) == 0 ? 0 : SL_ENOMEM;
}

/* Status line, the fields (sl_h2_response_fields has dropped what is
 * connection-specific, and lowercased the names), then the framing. */
static int h1_send_head(struct sl_front *f, struct sl_request *req, unsigned status,
                        const struct sl_header_list *fields, bool has_body)
{
    struct front_h1 *front = h1_of(f);
    if (front->is_head_sent)
        return 0; /* sluice has answered the client itself (reject) */
    nghttp2_nv *nva;
    size_t count;
    int rv = sl_h2_response_fields(fields, status, req->arena, &nva, &count);
    if (rv != 0)
        return rv;
    nva++, count--; /* :status is the status line's */
    bool has_length = has_field(nva, count, "content-length");
    bool is_close_delimited = has_body && !has_length && is_http10(front);
    front->is_chunked_out = has_body && !has_length && !is_http10(front);
    front->is_keep_alive = can_keep_alive(front, req, status, is_close_delimited);
    /* RFC 9112 §6.3: without a length or chunks, a body would run to the close */
    bool may_have_body = status != 204 && status != 304 && !req->is_head_method;
    struct head_framing framing = {
        .needs_zero_length = !has_body && !has_length && may_have_body,
        .is_chunked = front->is_chunked_out,
        .is_close = !front->is_keep_alive,
        .is_http10_keep_alive = is_http10(front),
    };
    /* the list counts 32 bytes a field, where the head takes 4; the status
     * line and the framing take less than 128 */
    rv = add_head(output_of(front), fields->total_bytes + 128, status, nva, count, &framing);
    front->is_head_sent = true;
    front->is_response_done = !has_body;
    schedule_pump(front);
    return rv;
}

/* Pulls response body into the output, up to the high mark. */
static void write_body(struct front_h1 *front)
{
    static uint8_t chunk[SL_H1_BODY_CHUNK_BYTES];
    struct evbuffer *out = output_of(front);
    while (front->is_head_sent && !front->is_response_done &&
           evbuffer_get_length(out) < SL_H1_OUTPUT_HIGH_BYTES) {
        bool is_end;
        size_t n = sl_request_take_body(front->req, chunk, sizeof(chunk), &is_end);
        if (n > 0 && front->is_chunked_out)
            evbuffer_add_printf(out, "%zx\r\n", n);
        if (n > 0)
            evbuffer_add(out, chunk, n);
        if (n > 0 && front->is_chunked_out)
            evbuffer_add(out, "\r\n", 2);
        if (is_end) {
            if (front->is_chunked_out)
                evbuffer_add(out, "0\r\n\r\n", 5);
            front->is_response_done = true;
        }
        if (n == 0)
            return;
    }
}

static void h1_resume_body(struct sl_front *f, struct sl_request *req)
{
    schedule_pump(h1_of(f));
}

static void h1_consume(struct sl_front *f, struct sl_request *req, size_t len)
{
    struct front_h1 *front = h1_of(f);
    front->unconsumed -= len < front->unconsumed ? len : front->unconsumed;
    if (front->is_reading_paused && front->unconsumed < cfg_of(front)->stream_window_bytes) {
        front->is_reading_paused = false;
        set_reading(front, true);
        schedule_pump(front); /* what is already buffered */
    }
}

/* HTTP/1.1 has no stream to reset: a request refused before its answer gets
 * 503 and the connection closes; any other reset closes it. */
static void h1_reset(struct sl_front *f, struct sl_request *req, enum sl_front_reset how)
{
    struct front_h1 *front = h1_of(f);
    if (how == SL_RESET_REFUSED && !front->is_head_sent) {
        sl_request_answered_by_front(req, 503);
        evbuffer_add_printf(output_of(front),
                            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
                            "retry-after: 1\r\nconnection: close\r\n\r\n");
        front->is_head_sent = front->is_response_done = true;
        finish(front);
    } else {
        front->is_closing = true;
    }
    schedule_pump(front);
}

static bool is_between_requests(struct front_h1 *front)
{
    return front->req == NULL && evbuffer_get_length(bufferevent_get_input(front->bev)) == 0;
}

/* Requests go on being served as usual, with no connection: close, which
 * would lose the requests a pipelining client has sent behind the answered one;
 * the connection closes once idle for SL_DRAIN_IDLE_MS. */
static void h1_shutdown(struct sl_front *f)
{
    struct front_h1 *front = h1_of(f);
    front->is_draining = true;
    if (is_between_requests(front))
        arm_head_timer(front);
}

static void h1_finish_shutdown(struct sl_front *f)
{
    struct front_h1 *front = h1_of(f);
    front->is_shutdown = true;
    if (is_between_requests(front))
        finish(front);
    schedule_pump(front);
}

static void front_free(struct front_h1 *front, enum sl_request_end how);

/* The HTTP/1.1 side of the connection goes; its bufferevent, and its request
 * unless front_free finished it, stay with whoever took them. */
static void release(struct front_h1 *front)
{
    sl_front_fini(&front->base);
    event_free(front->pump_event);
    event_free(front->head_timer);
    event_free(front->read_event);
    free(front);
}

static void h1_abort(struct sl_front *f)
{
    front_free(h1_of(f), SL_END_SHUTDOWN);
}

static const struct sl_front_ops h1_ops = {
    .send_head = h1_send_head,
    .resume_body = h1_resume_body,
    .consume = h1_consume,
    .reset = h1_reset,
    .shutdown = h1_shutdown,
    .finish_shutdown = h1_finish_shutdown,
    .abort = h1_abort,
};

/* --- the edge --- */

static void front_free(struct front_h1 *front, enum sl_request_end how)
{
    if (front->req != NULL) {
        sl_request_finish(front->req, how);
        sl_front_publish_streams(&front->base, 0, 1);
    }
    bufferevent_free(front->bev);
    SL_DEBUG("conn=%llu peer=%s: closed", (unsigned long long)front->base.id, front->base.peer);
    release(front);
}

/* Answered before the whole body came: the rest is read and dropped within
 * client_idle_timeout_ms, or the connection closes when it is not worth it. */
static void drain_body(struct front_h1 *front)
{
    if (!front->is_keep_alive) {
        finish(front);
    } else if (!front->is_draining_body) {
        front->is_draining_body = true;
        arm_head_timer(front);
    }
}

/* Both halves done: the request leaves, and the connection waits for the next. */
static void end_exchange(struct front_h1 *front)
{
    sl_request_finish(front->req, SL_END_CLOSED);
    sl_front_publish_streams(&front->base, 0, 1);
    front->req = NULL;
    if (!front->is_keep_alive || front->is_shutdown) {
        finish(front);
        return;
    }
    arm_head_timer(front);
}

/* Upgrade: h2c (RFC 7540 §3.2): 101, then the connection is HTTP/2 and the
 * request is its stream 1. An HTTP2-Settings that does not decode is 400. */
static bool hand_over_to_h2c(struct front_h1 *front)
{
    const nghttp2_nv *field = sl_header_list_find(&front->req->fields, "http2-settings");
    unsigned char settings[256];
    size_t len;
    if (sl_base64url_decode((const char *)field->value, field->valuelen, settings, sizeof(settings),
                            &len) != 0 ||
        len % 6 != 0) { /* RFC 9113 §6.5.1: entries of 6 bytes */
        reject(front, 400, "an HTTP2-Settings that does not decode");
        return false;
    }
    static const char switching[] =
        "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n";
    evbuffer_add(output_of(front), switching, sizeof(switching) - 1);
    struct sl_request *req = front->req;
    /* a Unix-socket client has no address to copy, only its family */
    struct sockaddr_un unix_peer = {.sun_family = AF_UNIX};
    bool is_unix = front->base.peer_addr.ss_family == AF_UNSPEC;
    const struct sockaddr *peer = is_unix ? (const struct sockaddr *)&unix_peer
                                          : (const struct sockaddr *)&front->base.peer_addr;
    socklen_t peer_len = is_unix ? sizeof(unix_peer) : sizeof(front->base.peer_addr);
    if (sl_front_h2_start_upgraded(front->base.plane, front->bev, front->base.listener_index, peer,
                                   peer_len, settings, len, req) != 0) {
        SL_ERROR("conn=%llu peer=%s: cannot start HTTP/2 after the 101 (out of memory, or "
                 "settings nghttp2 refuses); closing",
                 (unsigned long long)front->base.id, front->base.peer);
        front->is_closing = true; /* the 101 is out: no HTTP/1.1 answer can follow */
        return false;
    }
    SL_DEBUG("conn=%llu peer=%s: upgraded to h2c", (unsigned long long)front->base.id,
             front->base.peer);
    sl_front_publish_streams(&front->base, 0, 1);
    front->req = NULL;
    release(front);
    return true;
}

/* The answer has left; the client may still be sending a request body sluice
 * will not read: shut the write side and drop what comes, for a while. */
static bool needs_linger(const struct front_h1 *front)
{
    struct evbuffer *in = bufferevent_get_input(front->bev);
    return evbuffer_get_length(in) > 0 || (front->req != NULL && !front->is_message_done);
}

static void linger(struct front_h1 *front)
{
    if (front->req != NULL && front->is_response_done) {
        sl_request_finish(front->req, SL_END_CLOSED); /* its whole answer left */
        sl_front_publish_streams(&front->base, 0, 1);
        front->req = NULL;
    }
    front->is_lingering = true;
    sl_front_close_notify(&front->base);
    shutdown(bufferevent_getfd(front->bev), SHUT_WR);
    bufferevent_set_timeouts(front->bev, NULL, NULL);
    set_reading(front, true);
    struct timeval tv = sl_timeval_ms(SL_H1_LINGER_MS);
    evtimer_add(front->head_timer, &tv);
}

/* The output goes to the socket. One that reached the high mark stopped the
 * pump; if the socket took it all, no write callback comes to resume it. */
static void write_out(struct front_h1 *front)
{
    bool was_full = evbuffer_get_length(output_of(front)) >= SL_H1_OUTPUT_HIGH_BYTES;
    if (!sl_front_write_out(&front->base, front->bev))
        front->is_closing = true;
    else if (was_full && evbuffer_get_length(output_of(front)) == 0)
        schedule_pump(front);
}

/* Writes, ends exchanges and reads pipelined requests until nothing moves.
 * Returns true when the front was freed. */
static bool pump_exchanges(struct front_h1 *front)
{
    struct evbuffer *in = bufferevent_get_input(front->bev);
    if (front->is_lingering) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return false;
    }
    size_t before;
    do {
        before = evbuffer_get_length(in);
        if (front->req != NULL)
            write_body(front);
        if (front->req != NULL && front->is_response_done && front->is_message_done &&
            !front->is_finishing && !front->is_closing)
            end_exchange(front);
        if (front->req != NULL && front->is_response_done && !front->is_message_done)
            drain_body(front);
        if (front->is_closing || front->is_finishing)
            break;
        if (front->req == NULL && evbuffer_get_length(output_of(front)) >= SL_H1_OUTPUT_HIGH_BYTES)
            break; /* the client reads its answers first: on_write resumes */
        if (front->req == NULL)
            start_request(front);
        else
            read_body(front);
        if (front->is_upgrading && !front->is_finishing && hand_over_to_h2c(front))
            return true;
    } while (!front->is_closing && !front->is_finishing && evbuffer_get_length(in) < before);
    write_out(front);
    size_t waiting = sl_front_output_length(&front->base, front->bev);
    if (!front->is_closing && front->is_finishing && waiting == 0 && needs_linger(front)) {
        linger(front);
        return false;
    }
    if (front->is_closing || (front->is_finishing && waiting == 0)) {
        if (!front->is_closing)
            sl_front_close_notify(&front->base);
        front_free(front, SL_END_ABORTED);
        return true;
    }
    return false;
}

/* pump_exchanges, then reading resumes if the input it parsed fell below the
 * mark. Returns true when the front was freed. */
static bool pump(struct front_h1 *front)
{
    if (pump_exchanges(front))
        return true;
    update_read_event(front);
    return false;
}

static void on_pump_event(evutil_socket_t fd, short what, void *arg)
{
    pump(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    pump(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg);

/* The bytes (sl_front_read) join the bufferevent's input, whose end the
 * bufferevent keeps frozen, up to the mark; EOF and errors take the
 * bufferevent's own path. */
static void read_and_pump(struct front_h1 *front, evutil_socket_t fd)
{
    struct evbuffer *in = bufferevent_get_input(front->bev);
    size_t held = evbuffer_get_length(in);
    if (held >= read_mark(front)) {
        update_read_event(front); /* the mark came first: wait for pump() to parse */
        return;
    }
    const uint8_t *data;
    ssize_t n = sl_front_read(&front->base, fd, read_mark(front) - held, &data);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        on_event(front->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), front);
        return;
    }
    evbuffer_unfreeze(in, 0);
    int rv = evbuffer_add(in, data, (size_t)n);
    evbuffer_freeze(in, 0);
    if (rv != 0) {
        front_free(front, SL_END_ABORTED);
        return;
    }
    pump(front);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct front_h1 *front = arg;
    struct sl_turn *turn = &front->base.plane->turn;
    sl_turn_begin(turn); /* an upstream write waits for the body this read brings */
    read_and_pump(front, fd);
    sl_turn_end(turn);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct front_h1 *front = arg;
    if ((what & BEV_EVENT_EOF) && front->req != NULL && front->is_message_done &&
        !front->is_finishing) {
        /* the client shut its side after a whole request: answer it, then close */
        front->is_shutdown = true;
        set_reading(front, false);
        return;
    }
    if (what & BEV_EVENT_ERROR)
        SL_DEBUG("conn=%llu peer=%s: connection error: %s", (unsigned long long)front->base.id,
                 front->base.peer, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    front_free(front, SL_END_ABORTED);
}

/* No complete head in time: an idle keep-alive connection closes quietly, a
 * client that sent part of a head gets 408. */
static void on_head_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct front_h1 *front = arg;
    if (front->is_lingering) {
        front_free(front, SL_END_ABORTED);
        return;
    }
    if (front->req != NULL && front->is_draining_body) {
        front->is_closing = true; /* the rest of a body never came */
        pump(front);
        return;
    }
    if (front->req != NULL)
        return;
    if (evbuffer_get_length(bufferevent_get_input(front->bev)) == 0) {
        front->is_closing = true;
        pump(front);
        return;
    }
    reject(front, 408, "no complete request head in time");
    pump(front);
}

int sl_front_h1_start(struct sl_plane *p, struct bufferevent *bev, SSL *ssl,
                      unsigned listener_index, const struct sockaddr *peer, socklen_t peer_len)
{
    struct front_h1 *front = calloc(1, sizeof(*front));
    if (front == NULL)
        goto fail_alloc;
    front->bev = bev;
    front->pump_event = event_new(p->base, -1, 0, on_pump_event, front);
    front->head_timer = evtimer_new(p->base, on_head_timeout, front);
    front->read_event =
        event_new(p->base, bufferevent_getfd(bev), EV_READ | EV_PERSIST, on_readable, front);
    struct evbuffer *tls_plain = ssl != NULL ? evbuffer_new() : NULL;
    if (front->pump_event == NULL || front->head_timer == NULL || front->read_event == NULL ||
        (ssl != NULL && tls_plain == NULL))
        goto fail_events;
    sl_front_init(&front->base, &h1_ops, p, listener_index, ssl,
                  ssl != NULL ? SL_PROTO_HTTP1_TLS : SL_PROTO_HTTP1, peer, peer_len);
    front->base.tls_plain = tls_plain;
    bufferevent_setcb(bev, NULL, on_write, on_event, front); /* on_readable reads */
    bufferevent_disable(bev, EV_READ);                       /* detection read through it */
    bufferevent_enable(bev, EV_WRITE);
    set_reading(front, true);
    front->is_draining = p->is_draining; /* accepted just before the drain */
    arm_head_timer(front);
    SL_DEBUG("conn=%llu peer=%s: HTTP/1.1 on %s", (unsigned long long)front->base.id,
             front->base.peer, p->cfg->listeners[listener_index].addr.text);
    schedule_pump(front); /* bytes read while the protocol was being told */
    return 0;

fail_events:
    if (front->pump_event != NULL)
        event_free(front->pump_event);
    if (front->head_timer != NULL)
        event_free(front->head_timer);
    if (front->read_event != NULL)
        event_free(front->read_event);
    if (tls_plain != NULL)
        evbuffer_free(tls_plain);
    free(front);
fail_alloc:
    SSL_free(ssl);
    bufferevent_free(bev);
    return -1;
}
