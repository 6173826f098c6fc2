/* sluice-demo-backend: the small HTTP/1.1 server that sluice's README demo,
 * integration tests and benchmarks run behind the proxy. Single process, one
 * libevent loop, http-parser for requests. Routes are listed in usage().
 *
 * A connection answers one request at a time; pipelined bytes wait in the input
 * buffer until the response before them is queued. Connection states:
 *   READING    http-parser runs over input as it arrives. on_message_complete
 *              pauses the parser, so exactly one request is taken at a time.
 *   WAITING    request complete, answer deferred (/delay timer armed, or /hang).
 *              Input is not parsed. Peer EOF frees the connection.
 *   STREAMING  head queued; the /bytes body is generated whenever the output
 *              drains below WRITE_LOW_BYTES, so memory stays bounded for any N.
 *   DRAINING   the last response is queued; input is discarded. Once the output
 *              is empty: freed if the peer has sent EOF, else LINGERING.
 *   LINGERING  our side is shut down (FIN sent); input is discarded until the
 *              peer closes or LINGER_MS pass, so unread request bytes do not
 *              turn our close into a RST that destroys the response.
 * A queued response returns the connection to READING, or to DRAINING when it
 * is not kept alive (RFC 9112 §9.3) or the peer has half-closed.
 *
 * http-parser callbacks never free: they record a refusal and return -1. A
 * connection is freed only from settle() or on_event(), at the end of a libevent
 * callback, or by server_cleanup() at exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>

#include "demo_backend.h"

#define HEAD_MAX_BYTES (64 * 1024) /* target + header names and values */
#define HEADERS_MAX 1024
#define CHUNK_MAX_BYTES (16 * 1024)
#define STREAM_HIGH_BYTES (256 * 1024)
#define WRITE_LOW_BYTES (64 * 1024)
#define READ_HIGH_BYTES (256 * 1024)
#define IO_MAX_BYTES (256 * 1024)
#define DIE_LENGTH_BYTES 1000000
#define DIE_SENT_BYTES 1000
#define LINGER_MS 2000
#define LISTEN_BACKLOG 4096
#define ACCEPT_RETRY_MS 100
#define ID_MAX_BYTES 64

static const char PATTERN_ALPHABET[] = "0123456789abcdefghijklmnopqrstuvwxyz";

char pattern[STREAM_PIECE_BYTES + PATTERN_PERIOD];

const char BID_RESPONSE[] =
    "{\"id\":\"80ce30c53c16e6ede735f123ef6e32361bfc7b22\",\"bidid\":\"a1b2c3d4\",\"cur\":\"USD\","
    "\"seatbid\":[{\"seat\":\"512\",\"bid\":[{\"id\":\"1\",\"impid\":\"1\",\"price\":0.912,"
    "\"adid\":\"314\",\"crid\":\"creative-314\",\"adomain\":[\"advertiser.example.com\"],"
    "\"w\":728,\"h\":90,\"nurl\":\"https://bidder.example.com/win?i=1&p=AUCTION_PRICE\"}]}]}";
const size_t BID_RESPONSE_LEN = sizeof(BID_RESPONSE) - 1;

/* A received header, as offsets into conn.head. */
struct header {
    uint32_t name_off;
    uint32_t name_len;
    uint32_t value_off;
    uint32_t value_len;
};

/* The request being parsed or answered; zeroed by on_message_begin. */
struct request {
    uint32_t head_len;   /* bytes used in conn.head; the target comes first */
    uint32_t target_len; /* request-target as received, at conn.head[0] */
    uint32_t n_headers;
    bool is_in_value; /* the last header callback was on_header_value */
    bool is_keep_alive;
    bool is_http10;
    bool is_head;
    bool wants_chunked; /* query chunked=1 */
    bool is_dropped;    /* --drop-reused: close without answering */
    int refuse_status;  /* set by a parser callback that refuses the request */
    enum route route;
    uint64_t route_arg; /* N for /bytes, MS for /delay, CODE for /status */
    uint64_t body_bytes;
    uint64_t stream_left_bytes; /* /bytes: body bytes not yet queued */
    uint64_t stream_offset;     /* /bytes: index of the next byte to queue */
    bool is_stream_chunked;
};

enum conn_state { CONN_READING, CONN_WAITING, CONN_STREAMING, CONN_DRAINING, CONN_LINGERING };

/* Owned by the server's list; freed only by conn_free(), called from the end of
 * a libevent callback. Owns bev (and its socket), timer, head, headers, echo.
 * Borrows srv. The storage is kept across requests for reuse. */
struct conn {
    struct server *srv;
    struct conn *prev;
    struct conn *next;
    struct bufferevent *bev;
    struct event *timer; /* /delay; created on first use */
    http_parser parser;
    struct request req;
    enum conn_state state;
    uint64_t id;
    uint32_t n_requests; /* begun on this connection: X-Connection-Requests */
    bool is_peer_eof;
    char *head; /* target, then header names and values, unterminated */
    uint32_t head_cap;
    struct header *headers;
    uint32_t headers_cap;
    struct evbuffer *echo; /* /echo request body */
};

enum framing { FRAMING_LENGTH, FRAMING_CHUNKED, FRAMING_NONE };

static void usage(FILE *f)
{
    fputs("usage: sluice-demo-backend --listen ADDR [--listen ADDR ...] [--id NAME]\n"
          "                           [--drop-reused] [--quiet] [--verbose]\n"
          "                           [--h2c [--max-streams N] [--goaway-after N]]\n"
          "\n"
          "The HTTP/1.1 (or HTTP/2) backend behind sluice's demo, integration tests and\n"
          "benchmarks.\n"
          "  --listen ADDR  unix:/path, IPv4:port or [IPv6]:port, up to 16 times; port 0\n"
          "                 picks a free port, shown in the listening line on stderr\n"
          "  --id NAME      value of X-Backend-Id (default \"demo\")\n"
          "  --drop-reused  close a connection unanswered when its 2nd request arrives\n"
          "  --quiet        do not print the listening lines\n"
          "  --verbose      print one line per request (and, with --h2c, per connection)\n"
          "  --h2c          speak cleartext HTTP/2 with prior knowledge instead of HTTP/1.1\n"
          "  --max-streams N   with --h2c: SETTINGS_MAX_CONCURRENT_STREAMS (default 100)\n"
          "  --goaway-after N  with --h2c: send GOAWAY once a connection began N streams,\n"
          "                 finish those and close (later streams are refused)\n"
          "\n"
          "Routes (any method):\n"
          "  /                  text: greeting, method, path and the request headers\n"
          "  /headers           JSON: method, path, headers in order, body_bytes\n"
          "  /echo[?chunked=1]  the request body (413 above 64 MiB)\n"
          "  /bytes/N[?chunked=1]  N bytes, byte i = \"0-9a-z\"[i % 36], N <= 1 GiB\n"
          "  /delay/MS          \"ok\\n\" after MS milliseconds\n"
          "  /hang              never answers\n"
          "  /die-mid-response  Content-Length 1000000, 1000 bytes, then close\n"
          "  /status/CODE       that status (200-599), empty body\n"
          "  /bid               a small OpenRTB bid response\n"
          "  /rst, /refuse      with --h2c: RST_STREAM INTERNAL_ERROR, REFUSED_STREAM\n"
          "  /big-header/N      with --h2c: the / answer with an x-big field of N bytes\n"
          "  /interim/CODE      with --h2c: a 1xx head with that status, then the / answer\n"
          "  anything else      404\n",
          f);
}

/* ---- logging ---- */

static void log_request(const struct conn *c, int status)
{
    if (!c->srv->opt->is_verbose)
        return;
    fprintf(stderr, "sluice-demo-backend[%s] conn %" PRIu64 " #%" PRIu32 ": %s %.*s -> %d\n",
            c->srv->opt->id, c->id, c->n_requests, http_method_str(c->parser.method),
            (int)c->req.target_len, c->head, status);
}

/* A deferred answer is logged on arrival too: tests wait for this line to know
 * the request is being held. */
static void log_waiting(const struct conn *c)
{
    if (!c->srv->opt->is_verbose)
        return;
    fprintf(stderr, "sluice-demo-backend[%s] conn %" PRIu64 " #%" PRIu32 ": %s %.*s waiting\n",
            c->srv->opt->id, c->id, c->n_requests, http_method_str(c->parser.method),
            (int)c->req.target_len, c->head);
}

/* ---- routes ---- */

static bool span_equals(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* Parses 1-10 decimal digits filling s[0..len) into *out; returns 0 or -1. */
static int parse_decimal(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static const struct {
    const char *path;
    enum route route;
} exact_routes[] = {
    {"/", ROUTE_ROOT},   {"/headers", ROUTE_HEADERS},      {"/echo", ROUTE_ECHO},
    {"/bid", ROUTE_BID}, {"/die-mid-response", ROUTE_DIE}, {"/hang", ROUTE_HANG},
};

static const struct {
    const char *prefix;
    enum route route;
    uint64_t min;
    uint64_t max;
} numeric_routes[] = {
    {"/bytes/", ROUTE_BYTES, 0, BYTES_MAX},
    {"/delay/", ROUTE_DELAY, 0, DELAY_MAX_MS},
    {"/status/", ROUTE_STATUS, 200, 599},
};

void demo_match_route(const char *path, size_t len, enum route *route, uint64_t *arg)
{
    *route = ROUTE_NOT_FOUND;
    for (size_t i = 0; i < sizeof(exact_routes) / sizeof(exact_routes[0]); i++) {
        if (span_equals(path, len, exact_routes[i].path)) {
            *route = exact_routes[i].route;
            return;
        }
    }
    for (size_t i = 0; i < sizeof(numeric_routes) / sizeof(numeric_routes[0]); i++) {
        size_t plen = strlen(numeric_routes[i].prefix);
        uint64_t v;

        if (len <= plen || memcmp(path, numeric_routes[i].prefix, plen) != 0)
            continue;
        if (parse_decimal(path + plen, len - plen, &v) == 0 && v >= numeric_routes[i].min &&
            v <= numeric_routes[i].max) {
            *route = numeric_routes[i].route;
            *arg = v;
        }
        return;
    }
}

static bool query_has_param(const char *q, size_t len, const char *param)
{
    size_t plen = strlen(param);
    size_t i = 0;

    while (i < len) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - q) : len;

        if (end - i == plen && memcmp(q + i, param, plen) == 0)
            return true;
        i = end + 1;
    }
    return false;
}

/* Routes the request from its target; returns 0, or -1 if the target is malformed. */
static int resolve_route(struct conn *c)
{
    struct request *r = &c->req;
    struct http_parser_url u;

    http_parser_url_init(&u);
    if (http_parser_parse_url(c->head, r->target_len, c->parser.method == HTTP_CONNECT, &u) != 0)
        return -1;
    if (u.field_set & (1 << UF_QUERY))
        r->wants_chunked = query_has_param(c->head + u.field_data[UF_QUERY].off,
                                           u.field_data[UF_QUERY].len, "chunked=1");
    if (u.field_set & (1 << UF_PATH))
        demo_match_route(c->head + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len, &r->route,
                         &r->route_arg);
    else
        r->route = ROUTE_NOT_FOUND;
    return 0;
}

/* ---- request parsing (http-parser callbacks: never free, refuse by returning -1) ---- */

static int refuse_in_callback(struct conn *c, int status)
{
    c->req.refuse_status = status;
    return -1;
}

static int append_head(struct conn *c, const char *at, size_t len)
{
    struct request *r = &c->req;

    if (len > HEAD_MAX_BYTES - r->head_len)
        return refuse_in_callback(c, 431);
    if (r->head_len + len > c->head_cap) {
        uint32_t cap = c->head_cap ? c->head_cap : 1024;
        char *head;

        while (cap < r->head_len + len)
            cap *= 2;
        head = realloc(c->head, cap);
        if (!head)
            return refuse_in_callback(c, 503);
        c->head = head;
        c->head_cap = cap;
    }
    memcpy(c->head + r->head_len, at, len);
    r->head_len += (uint32_t)len;
    return 0;
}

static int add_header_slot(struct conn *c)
{
    struct request *r = &c->req;

    if (r->n_headers == HEADERS_MAX)
        return refuse_in_callback(c, 431);
    if (r->n_headers == c->headers_cap) {
        uint32_t cap = c->headers_cap ? c->headers_cap * 2 : 16;
        struct header *headers = realloc(c->headers, cap * sizeof(*headers));

        if (!headers)
            return refuse_in_callback(c, 503);
        c->headers = headers;
        c->headers_cap = cap;
    }
    c->headers[r->n_headers++] = (struct header){.name_off = r->head_len};
    r->is_in_value = false;
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;

    c->n_requests++;
    memset(&c->req, 0, sizeof(c->req));
    if (c->echo)
        evbuffer_drain(c->echo, evbuffer_get_length(c->echo));
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    if (append_head(c, at, len) < 0)
        return -1;
    c->req.target_len += (uint32_t)len;
    return 0;
}

/* http-parser may deliver a name or value in several calls when it spans reads. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct request *r = &c->req;

    if ((r->n_headers == 0 || r->is_in_value) && add_header_slot(c) < 0)
        return -1;
    if (append_head(c, at, len) < 0)
        return -1;
    c->headers[r->n_headers - 1].name_len += (uint32_t)len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct request *r = &c->req;
    struct header *h;

    if (r->n_headers == 0) /* http-parser sends a name first; do not trust it blindly */
        return refuse_in_callback(c, 400);
    h = &c->headers[r->n_headers - 1];
    if (!r->is_in_value) {
        h->value_off = r->head_len;
        r->is_in_value = true;
    }
    if (append_head(c, at, len) < 0)
        return -1;
    h->value_len += (uint32_t)len;
    return 0;
}

static bool span_equals_nocase(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

static bool expects_continue(const struct conn *c)
{
    for (uint32_t i = 0; i < c->req.n_headers; i++) {
        const struct header *h = &c->headers[i];

        if (span_equals_nocase(c->head + h->name_off, h->name_len, "expect") &&
            span_equals_nocase(c->head + h->value_off, h->value_len, "100-continue"))
            return true;
    }
    return false;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    struct request *r = &c->req;

    r->is_keep_alive = http_should_keep_alive(p) && !p->upgrade;
    r->is_http10 = p->http_major == 1 && p->http_minor == 0;
    r->is_head = p->method == HTTP_HEAD;
    if (c->srv->opt->is_drop_reused && c->n_requests > 1) {
        r->is_dropped = true;
        return -1;
    }
    if (resolve_route(c) < 0)
        return refuse_in_callback(c, 400);
    /* content_length is ULLONG_MAX when absent, and for chunked bodies */
    if (r->route == ROUTE_ECHO && p->content_length != ULLONG_MAX &&
        p->content_length > ECHO_MAX_BYTES)
        return refuse_in_callback(c, 413);
    /* RFC 9110 §10.1.1: without it, curl waits a second before sending a body */
    if (!r->is_http10 && expects_continue(c))
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

/* Only /echo keeps the body; other routes count it and let parse_input drain it. */
static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct request *r = &c->req;

    r->body_bytes += len;
    if (r->route != ROUTE_ECHO)
        return 0;
    if (r->body_bytes > ECHO_MAX_BYTES)
        return refuse_in_callback(c, 413);
    if (!c->echo && !(c->echo = evbuffer_new()))
        return refuse_in_callback(c, 503);
    if (evbuffer_add(c->echo, at, len) < 0)
        return refuse_in_callback(c, 503);
    return 0;
}

/* Pausing stops http_parser_execute right after this request, so pipelined
 * requests stay in the input buffer until this one is answered. */
static int on_message_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- responses ---- */

static const struct {
    int status;
    const char *text;
} reason_phrases[] = {
    {200, "OK"},
    {204, "No Content"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {404, "Not Found"},
    {413, "Content Too Large"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

/* RFC 9112 §4: clients ignore the reason phrase, so unlisted codes get a generic one. */
static const char *reason_phrase(int status)
{
    for (size_t i = 0; i < sizeof(reason_phrases) / sizeof(reason_phrases[0]); i++) {
        if (reason_phrases[i].status == status)
            return reason_phrases[i].text;
    }
    return "Status";
}

static struct evbuffer *output_of(const struct conn *c)
{
    return bufferevent_get_output(c->bev);
}

static void add_head(struct conn *c, int status, const char *content_type, enum framing framing,
                     uint64_t length)
{
    struct evbuffer *out = output_of(c);
    const struct request *r = &c->req;

    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nServer: sluice-demo-backend\r\nX-Backend-Id: %s\r\n"
                        "X-Connection-Requests: %" PRIu32 "\r\n",
                        status, reason_phrase(status), c->srv->opt->id, c->n_requests);
    if (content_type)
        evbuffer_add_printf(out, "Content-Type: %s\r\n", content_type);
    if (framing == FRAMING_LENGTH)
        evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n", length);
    else if (framing == FRAMING_CHUNKED)
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
    if (!r->is_keep_alive)
        evbuffer_add(out, "Connection: close\r\n", 19);
    else if (r->is_http10)
        evbuffer_add(out, "Connection: keep-alive\r\n", 24);
    evbuffer_add(out, "\r\n", 2);
    log_request(c, status);
}

static void reply_data(struct conn *c, int status, const char *content_type, const char *data,
                       size_t len)
{
    add_head(c, status, content_type, FRAMING_LENGTH, len);
    if (!c->req.is_head)
        evbuffer_add(output_of(c), data, len);
}

static void reply_text(struct conn *c, int status, const char *text)
{
    reply_data(c, status, "text/plain", text, strlen(text));
}

/* Sends body with a Content-Length, leaving body empty. */
static void reply_buffer(struct conn *c, int status, const char *content_type,
                         struct evbuffer *body)
{
    add_head(c, status, content_type, FRAMING_LENGTH, evbuffer_get_length(body));
    if (c->req.is_head)
        evbuffer_drain(body, evbuffer_get_length(body));
    else
        evbuffer_add_buffer(output_of(c), body);
}

/* Sends body in chunks of at most CHUNK_MAX_BYTES (RFC 9112 §7.1), leaving body empty. */
static void reply_buffer_chunked(struct conn *c, const char *content_type, struct evbuffer *body)
{
    struct evbuffer *out = output_of(c);
    size_t left;

    add_head(c, 200, content_type, FRAMING_CHUNKED, 0);
    if (c->req.is_head) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    while ((left = evbuffer_get_length(body)) > 0) {
        size_t n = left < CHUNK_MAX_BYTES ? left : CHUNK_MAX_BYTES;

        evbuffer_add_printf(out, "%zx\r\n", n);
        evbuffer_remove_buffer(body, out, n);
        evbuffer_add(out, "\r\n", 2);
    }
    evbuffer_add(out, "0\r\n\r\n", 5);
}

static void add_header_lines(struct evbuffer *b, const struct conn *c)
{
    for (uint32_t i = 0; i < c->req.n_headers; i++) {
        const struct header *h = &c->headers[i];

        evbuffer_add(b, c->head + h->name_off, h->name_len);
        evbuffer_add(b, ": ", 2);
        evbuffer_add(b, c->head + h->value_off, h->value_len);
        evbuffer_add(b, "\n", 1);
    }
}

static void reply_root(struct conn *c)
{
    struct evbuffer *b = c->srv->scratch;

    evbuffer_add_printf(b, "hello from the sluice demo backend\nmethod: %s\npath: %.*s\n",
                        http_method_str(c->parser.method), (int)c->req.target_len, c->head);
    add_header_lines(b, c);
    reply_buffer(c, 200, "text/plain", b);
}

/* Header octets are not necessarily UTF-8 (RFC 9110 §5.5): hence the escapes. */
void demo_add_json_string(struct evbuffer *b, const char *s, size_t len)
{
    size_t run = 0;

    evbuffer_add(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            continue;
        evbuffer_add(b, s + run, i - run);
        if (ch == '"' || ch == '\\')
            evbuffer_add_printf(b, "\\%c", ch);
        else
            evbuffer_add_printf(b, "\\u%04x", ch);
        run = i + 1;
    }
    evbuffer_add(b, s + run, len - run);
    evbuffer_add(b, "\"", 1);
}

static void reply_headers(struct conn *c)
{
    struct evbuffer *b = c->srv->scratch;
    const char *method = http_method_str(c->parser.method);

    evbuffer_add(b, "{\"method\":", 10);
    demo_add_json_string(b, method, strlen(method));
    evbuffer_add(b, ",\"path\":", 8);
    demo_add_json_string(b, c->head, c->req.target_len);
    evbuffer_add(b, ",\"headers\":[", 12);
    for (uint32_t i = 0; i < c->req.n_headers; i++) {
        const struct header *h = &c->headers[i];

        evbuffer_add(b, i ? ",[" : "[", i ? 2 : 1);
        demo_add_json_string(b, c->head + h->name_off, h->name_len);
        evbuffer_add(b, ",", 1);
        demo_add_json_string(b, c->head + h->value_off, h->value_len);
        evbuffer_add(b, "]", 1);
    }
    evbuffer_add_printf(b, "],\"body_bytes\":%" PRIu64 "}\n", c->req.body_bytes);
    reply_buffer(c, 200, "application/json", b);
}

/* HTTP/1.0 has no chunked coding (RFC 9112 §7), so such clients get a length. */
static bool use_chunked(const struct request *r)
{
    return r->wants_chunked && !r->is_http10;
}

static void reply_echo(struct conn *c)
{
    struct evbuffer *body = c->echo ? c->echo : c->srv->scratch;

    if (use_chunked(&c->req))
        reply_buffer_chunked(c, "application/octet-stream", body);
    else
        reply_buffer(c, 200, "application/octet-stream", body);
}

static void reply_status(struct conn *c)
{
    int status = (int)c->req.route_arg;

    /* RFC 9110 §8.6: no Content-Length in a 204; a 304 has no body to measure */
    if (status == 204 || status == 304)
        add_head(c, status, NULL, FRAMING_NONE, 0);
    else
        add_head(c, status, NULL, FRAMING_LENGTH, 0);
}

static void enter_draining(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    c->state = CONN_DRAINING;
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void finish_request(struct conn *c)
{
    if (c->req.is_keep_alive)
        c->state = CONN_READING;
    else
        enter_draining(c);
}

static void reply_die(struct conn *c)
{
    add_head(c, 200, "application/octet-stream", FRAMING_LENGTH, DIE_LENGTH_BYTES);
    if (!c->req.is_head)
        evbuffer_add_reference(output_of(c), pattern, DIE_SENT_BYTES, NULL, NULL);
    enter_draining(c);
}

/* Queues /bytes pieces until STREAM_HIGH_BYTES are pending; on_write calls it
 * again as the socket drains. The pieces reference the static pattern. */
static void fill_stream(struct conn *c)
{
    struct evbuffer *out = output_of(c);
    struct request *r = &c->req;
    size_t piece_max = r->is_stream_chunked ? CHUNK_MAX_BYTES : STREAM_PIECE_BYTES;

    while (r->stream_left_bytes > 0 && evbuffer_get_length(out) < STREAM_HIGH_BYTES) {
        size_t n = r->stream_left_bytes < piece_max ? (size_t)r->stream_left_bytes : piece_max;
        const char *piece = pattern + r->stream_offset % PATTERN_PERIOD;

        if (r->is_stream_chunked)
            evbuffer_add_printf(out, "%zx\r\n", n);
        evbuffer_add_reference(out, piece, n, NULL, NULL);
        if (r->is_stream_chunked)
            evbuffer_add(out, "\r\n", 2);
        r->stream_left_bytes -= n;
        r->stream_offset += n;
    }
    if (r->stream_left_bytes > 0)
        return;
    if (r->is_stream_chunked)
        evbuffer_add(out, "0\r\n\r\n", 5);
    finish_request(c);
}

static void start_bytes(struct conn *c)
{
    struct request *r = &c->req;

    r->is_stream_chunked = use_chunked(r);
    if (r->is_stream_chunked)
        add_head(c, 200, "application/octet-stream", FRAMING_CHUNKED, 0);
    else
        add_head(c, 200, "application/octet-stream", FRAMING_LENGTH, r->route_arg);
    if (r->is_head) {
        finish_request(c);
        return;
    }
    r->stream_left_bytes = r->route_arg;
    c->state = CONN_STREAMING;
    fill_stream(c);
}

static void on_delay_timer(evutil_socket_t fd, short what, void *arg);

static void start_delay(struct conn *c)
{
    struct timeval tv = {
        .tv_sec = (time_t)(c->req.route_arg / 1000),
        .tv_usec = (suseconds_t)(c->req.route_arg % 1000 * 1000),
    };

    if (!c->timer && !(c->timer = evtimer_new(c->srv->base, on_delay_timer, c))) {
        c->req.is_keep_alive = false;
        reply_text(c, 503, "out of memory\n");
        enter_draining(c);
        return;
    }
    evtimer_add(c->timer, &tv);
    c->state = CONN_WAITING;
}

static void start_response(struct conn *c)
{
    switch (c->req.route) {
    case ROUTE_ROOT:
        reply_root(c);
        break;
    case ROUTE_HEADERS:
        reply_headers(c);
        break;
    case ROUTE_ECHO:
        reply_echo(c);
        break;
    case ROUTE_BID:
        reply_data(c, 200, "application/json", BID_RESPONSE, BID_RESPONSE_LEN);
        break;
    case ROUTE_STATUS:
        reply_status(c);
        break;
    case ROUTE_NOT_FOUND:
        reply_text(c, 404, "not found\n");
        break;
    case ROUTE_BYTES:
        start_bytes(c);
        return;
    case ROUTE_DELAY:
        log_waiting(c);
        start_delay(c);
        return;
    case ROUTE_HANG:
        log_waiting(c);
        c->state = CONN_WAITING;
        return;
    case ROUTE_DIE:
        reply_die(c);
        return;
    }
    finish_request(c);
}

static const char *refusal_text(int status)
{
    switch (status) {
    case 413:
        return "request body too large\n";
    case 431:
        return "request header fields too large\n";
    case 503:
        return "out of memory\n";
    default:
        return "bad request\n";
    }
}

/* A malformed or oversized request is answered and the connection closed. */
static void refuse_request(struct conn *c, enum http_errno err)
{
    struct request *r = &c->req;
    int status;

    if (r->is_dropped) {
        enter_draining(c);
        return;
    }
    status = r->refuse_status ? r->refuse_status : err == HPE_HEADER_OVERFLOW ? 431 : 400;
    if (c->srv->opt->is_verbose)
        fprintf(stderr,
                "sluice-demo-backend[%s] conn %" PRIu64 ": client sent a request "
                "refused with %d (%s)\n",
                c->srv->opt->id, c->id, status, http_errno_name(err));
    r->is_keep_alive = false;
    r->is_head = false;
    reply_text(c, status, refusal_text(status));
    enter_draining(c);
}

/* ---- connections ---- */

/* Feeds buffered input to the parser until a request is complete (then answers
 * it) or the input runs out. */
static void parse_input(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (c->state == CONN_READING) {
        size_t avail = evbuffer_get_length(in);
        struct evbuffer_iovec v;
        enum http_errno err;
        size_t n;

        if (avail == 0)
            break;
        if (evbuffer_peek(in, (ev_ssize_t)avail, NULL, &v, 1) < 1 || v.iov_len == 0) {
            v.iov_base = evbuffer_pullup(in, -1);
            v.iov_len = avail;
        }
        /* never a zero length here: that would tell http-parser the peer sent EOF */
        n = http_parser_execute(&c->parser, &parser_settings, v.iov_base, v.iov_len);
        err = HTTP_PARSER_ERRNO(&c->parser);
        evbuffer_drain(in, n);
        if (err == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            start_response(c);
        } else if (err != HPE_OK) {
            refuse_request(c, err);
        }
    }
}

static void conn_free(struct conn *c)
{
    struct server *srv = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->timer)
        event_free(c->timer);
    if (c->echo)
        evbuffer_free(c->echo);
    bufferevent_free(c->bev);
    free(c->headers);
    free(c->head);
    free(c);
}

/* Our FIN goes out now; the socket is closed when the peer closes its side. */
static void start_lingering(struct conn *c)
{
    struct timeval linger = {.tv_sec = LINGER_MS / 1000, .tv_usec = LINGER_MS % 1000 * 1000};

    if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) < 0) {
        conn_free(c);
        return;
    }
    c->state = CONN_LINGERING;
    bufferevent_set_timeouts(c->bev, &linger, NULL);
}

/* Ends every libevent callback on a connection: parses what is pending and
 * frees or lingers once the last response is written. c may be freed. */
static void settle(struct conn *c)
{
    if (c->state == CONN_READING) {
        parse_input(c);
        if (c->state == CONN_READING && c->is_peer_eof)
            enter_draining(c);
    }
    if (c->state != CONN_DRAINING || evbuffer_get_length(output_of(c)) > 0)
        return;
    if (c->is_peer_eof)
        conn_free(c);
    else
        start_lingering(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->state == CONN_DRAINING || c->state == CONN_LINGERING) {
        struct evbuffer *in = bufferevent_get_input(bev);

        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    settle(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->state == CONN_STREAMING)
        fill_stream(c);
    settle(c);
}

/* A peer that closes while we wait (/delay, /hang) has given up: close too. A
 * half-close while reading or streaming lets the responses in progress finish. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if ((what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) || c->state == CONN_WAITING ||
        c->state == CONN_LINGERING) {
        conn_free(c);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        c->is_peer_eof = true;
        settle(c);
    }
}

static void on_delay_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    reply_text(c, 200, "ok\n");
    finish_request(c);
    settle(c);
}

/* Takes ownership of fd: on failure it is closed and NULL returned. */
static struct conn *conn_new(struct server *srv, evutil_socket_t fd)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (!c)
        goto fail_alloc;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        goto fail_bev;
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_BYTES);
    bufferevent_setwatermark(c->bev, EV_WRITE, WRITE_LOW_BYTES, 0);
    bufferevent_set_max_single_read(c->bev, IO_MAX_BYTES);
    bufferevent_set_max_single_write(c->bev, IO_MAX_BYTES);
    if (bufferevent_enable(c->bev, EV_READ) < 0)
        goto fail_enable;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    return c;

fail_enable:
    bufferevent_free(c->bev); /* closes fd */
    free(c);
    return NULL;
fail_bev:
    free(c);
fail_alloc:
    evutil_closesocket(fd);
    return NULL;
}

/* ---- listeners ---- */

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct listener *l = arg;
    int one = 1;

    if (l->is_tcp)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (l->srv->opt->is_h2c) {
        if (demo_h2c_accept(l->srv, fd) < 0)
            fprintf(stderr, "sluice-demo-backend: out of memory accepting on %s\n", l->text);
        return;
    }
    if (!conn_new(l->srv, fd))
        fprintf(stderr, "sluice-demo-backend: out of memory accepting on %s\n", l->text);
}

/* Typically EMFILE: stop accepting for a moment instead of spinning on it. */
static void on_accept_error(struct evconnlistener *evl, void *arg)
{
    struct listener *l = arg;
    struct timeval retry = {.tv_sec = 0, .tv_usec = ACCEPT_RETRY_MS * 1000};

    fprintf(stderr, "sluice-demo-backend: accept on %s: %s; retrying in %d ms\n", l->text,
            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()), ACCEPT_RETRY_MS);
    for (size_t i = 0; i < l->srv->n_listeners; i++)
        evconnlistener_disable(l->srv->listeners[i].evl);
    evtimer_add(l->srv->accept_retry, &retry);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    for (size_t i = 0; i < srv->n_listeners; i++)
        evconnlistener_enable(srv->listeners[i].evl);
}

static int parse_port(const char *text, uint16_t *port)
{
    uint64_t v;

    if (parse_decimal(text, strlen(text), &v) < 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* Parses "IPv4:port" or "[IPv6]:port" (numeric only) into *ss. Returns 0 or -1. */
static int parse_tcp_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    char host[INET6_ADDRSTRLEN];
    const char *colon;
    uint16_t port;
    size_t host_len;

    memset(ss, 0, sizeof(*ss));
    if (text[0] == '[') {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        const char *close = strstr(text, "]:");

        if (!close || (host_len = (size_t)(close - text - 1)) >= sizeof(host))
            return -1;
        memcpy(host, text + 1, host_len);
        host[host_len] = '\0';
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1 || parse_port(close + 2, &port) < 0)
            return -1;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        return 0;
    }
    colon = strrchr(text, ':');
    if (!colon || (host_len = (size_t)(colon - text)) >= sizeof(host))
        return -1;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 || parse_port(colon + 1, &port) < 0)
        return -1;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    *len = sizeof(*sin);
    return 0;
}

/* Formats the bound address, so that a requested port 0 shows the real port. */
static void format_bound_addr(int fd, char *text, size_t text_len)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(text, text_len, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(text, text_len, "%s:%u", host, ntohs(sin->sin_port));
    }
}

static int open_tcp_socket(const char *text, char *err, size_t err_len)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    int fd;

    if (parse_tcp_addr(text, &ss, &len) < 0) {
        snprintf(err, err_len, "expected unix:/path, IPv4:port or [IPv6]:port");
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&ss, len) < 0)
        goto fail_close;
    return fd;

fail_close:
    snprintf(err, err_len, "%s", strerror(errno));
    close(fd);
    return -1;
fail:
    snprintf(err, err_len, "%s", strerror(errno));
    return -1;
}

/* A socket file nobody accepts on is left over from a dead process. */
static bool is_stale_unix_socket(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool is_stale;

    if (fd < 0)
        return false;
    is_stale = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0 && errno == ECONNREFUSED;
    close(fd);
    return is_stale;
}

static int open_unix_socket(const char *path, char *err, size_t err_len)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, err_len, "unix socket path must be 1-%zu bytes", sizeof(sun.sun_path) - 1);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path));
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode) || !is_stale_unix_socket(&sun)) {
            snprintf(err, err_len, "%s exists and is %s", path,
                     S_ISSOCK(st.st_mode) ? "in use" : "not a socket");
            return -1;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        snprintf(err, err_len, "%s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void remember_unix_path(struct listener *l, const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return;
    snprintf(l->unix_path, sizeof(l->unix_path), "%s", path);
    l->unix_dev = st.st_dev;
    l->unix_ino = st.st_ino;
}

/* Leaves the path alone if another process has replaced our socket file. */
static void unlink_unix_path(const struct listener *l)
{
    struct stat st;

    if (l->unix_path[0] && lstat(l->unix_path, &st) == 0 && st.st_dev == l->unix_dev &&
        st.st_ino == l->unix_ino)
        unlink(l->unix_path);
}

/* Binds, listens and registers text as srv->listeners[n_listeners]. Returns 0 or -1. */
static int listener_open(struct server *srv, const char *text)
{
    struct listener *l = &srv->listeners[srv->n_listeners];
    bool is_unix = strncmp(text, "unix:", 5) == 0;
    char err[256];
    int fd;

    *l = (struct listener){.srv = srv, .is_tcp = !is_unix};
    snprintf(l->text, sizeof(l->text), "%s", text);
    fd = is_unix ? open_unix_socket(text + 5, err, sizeof(err))
                 : open_tcp_socket(text, err, sizeof(err));
    if (fd < 0)
        goto fail;
    if (is_unix)
        remember_unix_path(l, text + 5);
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, sizeof(err), "listen: %s", strerror(errno));
        goto fail_close;
    }
    l->evl = evconnlistener_new(srv->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    if (!l->evl) {
        snprintf(err, sizeof(err), "cannot register the listener");
        goto fail_close;
    }
    evconnlistener_set_error_cb(l->evl, on_accept_error);
    if (l->is_tcp)
        format_bound_addr(fd, l->text, sizeof(l->text));
    srv->n_listeners++;
    if (!srv->opt->is_quiet)
        fprintf(stderr, "sluice-demo-backend listening on %s\n", l->text);
    return 0;

fail_close:
    close(fd);
    unlink_unix_path(l);
fail:
    fprintf(stderr, "sluice-demo-backend: --listen %s: %s\n", text, err);
    return -1;
}

static void listener_close(struct listener *l)
{
    evconnlistener_free(l->evl);
    unlink_unix_path(l);
}

/* ---- server ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *srv = arg;

    event_base_loopbreak(srv->base);
}

/* Frees whatever server_init() acquired, in any state it left. */
static void server_cleanup(struct server *srv)
{
    while (srv->conns)
        conn_free(srv->conns);
    demo_h2c_close_all(srv);
    for (size_t i = 0; i < srv->n_listeners; i++)
        listener_close(&srv->listeners[i]);
    if (srv->accept_retry)
        event_free(srv->accept_retry);
    if (srv->sig_int)
        event_free(srv->sig_int);
    if (srv->sig_term)
        event_free(srv->sig_term);
    if (srv->scratch)
        evbuffer_free(srv->scratch);
    if (srv->base)
        event_base_free(srv->base);
    libevent_global_shutdown();
}

static int server_init(struct server *srv, const struct options *opt)
{
    *srv = (struct server){.opt = opt};
    srv->base = event_base_new();
    if (!srv->base) {
        fprintf(stderr, "sluice-demo-backend: cannot create the event loop\n");
        return -1;
    }
    srv->scratch = evbuffer_new();
    srv->sig_term = evsignal_new(srv->base, SIGTERM, on_signal, srv);
    srv->sig_int = evsignal_new(srv->base, SIGINT, on_signal, srv);
    srv->accept_retry = evtimer_new(srv->base, on_accept_retry, srv);
    if (!srv->scratch || !srv->sig_term || !srv->sig_int || !srv->accept_retry ||
        evsignal_add(srv->sig_term, NULL) < 0 || evsignal_add(srv->sig_int, NULL) < 0) {
        fprintf(stderr, "sluice-demo-backend: out of memory at startup\n");
        return -1;
    }
    for (size_t i = 0; i < opt->n_listen; i++) {
        if (listener_open(srv, opt->listen[i]) < 0)
            return -1;
    }
    return 0;
}

static bool is_valid_id(const char *id)
{
    size_t len = strlen(id);

    if (len == 0 || len > ID_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (id[i] <= ' ' || id[i] >= 0x7f)
            return false;
    }
    return true;
}

static int parse_count(const char *text, uint32_t *out)
{
    uint64_t v;

    if (parse_decimal(text, strlen(text), &v) < 0 || v == 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Fills *opt from argv. Returns 0, or -1 after printing why to stderr. */
static int parse_options(int argc, char **argv, struct options *opt)
{
    static const struct option long_options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"id", required_argument, NULL, 'i'},
        {"drop-reused", no_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"h2c", no_argument, NULL, '2'},
        {"max-streams", required_argument, NULL, 'm'},
        {"goaway-after", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    *opt = (struct options){.id = "demo", .max_streams = 100};
    while ((ch = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (opt->n_listen == LISTENERS_MAX) {
                fprintf(stderr, "sluice-demo-backend: at most %d --listen\n", LISTENERS_MAX);
                return -1;
            }
            opt->listen[opt->n_listen++] = optarg;
            break;
        case 'i':
            opt->id = optarg;
            break;
        case 'd':
            opt->is_drop_reused = true;
            break;
        case 'q':
            opt->is_quiet = true;
            break;
        case 'v':
            opt->is_verbose = true;
            break;
        case '2':
            opt->is_h2c = true;
            break;
        case 'm':
        case 'g':
            if (parse_count(optarg, ch == 'm' ? &opt->max_streams : &opt->goaway_after) < 0) {
                fprintf(stderr, "sluice-demo-backend: --%s takes a count of 1 or more\n",
                        ch == 'm' ? "max-streams" : "goaway-after");
                return -1;
            }
            break;
        case 'h':
            opt->is_help = true;
            return 0;
        default:
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-demo-backend: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (opt->n_listen == 0) {
        fprintf(stderr, "sluice-demo-backend: at least one --listen is required\n");
        return -1;
    }
    if (!is_valid_id(opt->id)) {
        fprintf(stderr, "sluice-demo-backend: --id must be 1-%d visible ASCII characters\n",
                ID_MAX_BYTES);
        return -1;
    }
    return 0;
}

static void fill_pattern(void)
{
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = PATTERN_ALPHABET[i % PATTERN_PERIOD];
}

int main(int argc, char **argv)
{
    struct options opt;
    struct server srv;

    if (parse_options(argc, argv, &opt) < 0) {
        usage(stderr);
        return 2;
    }
    if (opt.is_help) {
        usage(stdout);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an EPIPE error event instead */
    fill_pattern();
    if (server_init(&srv, &opt) < 0) {
        server_cleanup(&srv);
        return 1;
    }
    event_base_dispatch(srv.base);
    server_cleanup(&srv);
    return 0;
}
