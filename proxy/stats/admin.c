#include "admin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "clock.h"
#include "config.h"
#include "dashboard.h"
#include "stats.h"
#include "stats_render.h"

/* Request line and fields of an admin request at most (evhttp answers 400
 * beyond): a browser's or a scraper's fit in a fraction of it. */
#define ADMIN_MAX_HEADER_BYTES 8192

struct sl_admin {
    struct evhttp *http;
    const struct sl_config *cfg;
    const struct sl_stats_segment *seg;
    struct sl_stats_worker *total; /* scratch for one sum: too big for the stack */
};

typedef void (*render_fn)(FILE *out, const struct sl_stats_segment *seg,
                          const struct sl_stats_worker *total);

/* Sends text (malloc'd, taken over; NULL: out of memory) as the whole body. */
/* Sends len bytes of text (which may hold NULs: a UTF-16 config does); NULL is
 * an allocation that failed. */
static void send_bytes(struct evhttp_request *req, const char *text, size_t len,
                       const char *content_type)
{
    struct evbuffer *body = evhttp_request_get_output_buffer(req);
    if (text == NULL || evbuffer_add(body, text, len) != 0) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* Renders the summed figures into memory (open_memstream) and sends them. */
static void reply_rendered(struct evhttp_request *req, struct sl_admin *admin, render_fn render,
                           const char *content_type)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out != NULL) {
        sl_stats_sum(admin->seg, admin->total);
        render(out, admin->seg, admin->total);
        if (fclose(out) != 0) {
            free(text);
            text = NULL;
        }
    }
    send_bytes(req, text, len, content_type);
    free(text);
}

/* /connections?listener=NAME&peer=TEXT&min_streams=N */
static void reply_connections(struct evhttp_request *req, struct sl_admin *admin)
{
    struct evkeyvalq query;
    TAILQ_INIT(&query);
    const char *raw = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (raw != NULL && evhttp_parse_query_str(raw, &query) != 0) {
        evhttp_send_error(req, HTTP_BADREQUEST, "bad query");
        return;
    }
    const char *min = evhttp_find_header(&query, "min_streams");
    struct sl_conn_filter filter = {
        .listener = evhttp_find_header(&query, "listener"),
        .peer = evhttp_find_header(&query, "peer"),
        .min_streams = min != NULL ? strtoull(min, NULL, 10) : 0,
    };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out != NULL) {
        sl_stats_render_connections(out, admin->seg, &filter, sl_clock_unix_ms());
        if (fclose(out) != 0) {
            free(text);
            text = NULL;
        }
    }
    evhttp_clear_headers(&query);
    send_bytes(req, text, len, "application/json");
    free(text);
}

/* Compares every byte whatever the first difference: no timing oracle. */
static bool is_same_secret(const char *given, size_t given_len, const struct sl_string *token)
{
    unsigned char diff = given_len != token->len;
    for (size_t i = 0; i < token->len; i++)
        diff |= (unsigned char)(i < given_len ? given[i] : 0) ^ (unsigned char)token->text[i];
    return diff == 0;
}

/* With a token configured: the Authorization header, else ?token= (a browser
 * opening the dashboard cannot set a header; the page passes it on). */
static bool is_authorized(struct evhttp_request *req, const struct sl_string *token)
{
    if (token->len == 0)
        return true;
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0)
        return is_same_secret(auth + 7, strlen(auth + 7), token);
    const char *raw = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq query;
    TAILQ_INIT(&query);
    bool is_ok = false;
    if (raw != NULL && evhttp_parse_query_str(raw, &query) == 0) {
        const char *given = evhttp_find_header(&query, "token");
        is_ok = given != NULL && is_same_secret(given, strlen(given), token);
    }
    evhttp_clear_headers(&query);
    return is_ok;
}

/* A page on another site can point a name it controls at 127.0.0.1 (DNS
 * rebinding) and read the answers: a loopback admin listener answers only
 * requests addressed to it by its own address or localhost. */
static bool is_own_host(const struct sl_admin *admin, struct evhttp_request *req)
{
    if (admin->cfg->admin_allow_remote)
        return true; /* reached by names sluice cannot know; the token guards it */
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    if (host == NULL)
        return false;
    const char *text = admin->cfg->admin_address->text; /* "127.0.0.1:9901", "[::1]:9901" */
    const char *port = strrchr(text, ':');
    char localhost[32];
    snprintf(localhost, sizeof(localhost), "localhost%s", port != NULL ? port : "");
    return strcasecmp(host, text) == 0 || strcasecmp(host, localhost) == 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct sl_admin *admin = arg;
    if (!is_own_host(admin, req)) {
        evhttp_send_error(req, 421, "not an address of this admin listener");
        return;
    }
    if (!is_authorized(req, &admin->cfg->admin_token)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"sluice admin\"");
        evhttp_send_error(req, 401, "admin_token required");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_send_error(req, 405, "only GET");
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path != NULL && strcmp(path, "/") == 0)
        send_bytes(req, sl_dashboard_html, strlen(sl_dashboard_html), "text/html; charset=utf-8");
    else if (path != NULL && strcmp(path, "/config") == 0)
        send_bytes(req, admin->cfg->source, admin->cfg->source_len, "text/yaml; charset=utf-8");
    else if (path != NULL && strcmp(path, "/connections") == 0)
        reply_connections(req, admin);
    else if (path != NULL && strcmp(path, "/stats") == 0)
        reply_rendered(req, admin, sl_stats_render_json, "application/json");
    else if (path != NULL && strcmp(path, "/metrics") == 0)
        reply_rendered(req, admin, sl_stats_render_prometheus,
                       "text/plain; version=0.0.4; charset=utf-8");
    else
        evhttp_send_error(req, HTTP_NOTFOUND, "try /, /stats, /connections or /metrics");
}

struct sl_admin *sl_admin_open(struct event_base *base, int fd, const struct sl_config *cfg,
                               const struct sl_stats_segment *seg, char *err, size_t err_len)
{
    struct sl_admin *admin = calloc(1, sizeof(*admin));
    if (admin == NULL)
        goto fail_alloc;
    admin->seg = seg;
    admin->cfg = cfg;
    admin->total = malloc(sizeof(*admin->total));
    admin->http = evhttp_new(base);
    if (admin->total == NULL || admin->http == NULL)
        goto fail_alloc;
    evhttp_set_gencb(admin->http, on_request, admin);
    evhttp_set_timeout(admin->http, 10);
    /* no body: one is refused (413) before it is read; then only GET is served */
    evhttp_set_max_body_size(admin->http, 0);
    evhttp_set_max_headers_size(admin->http, ADMIN_MAX_HEADER_BYTES);
    if (evhttp_accept_socket(admin->http, fd) != 0) {
        snprintf(err, err_len, "admin listener: cannot accept");
        goto fail;
    }
    return admin;
fail_alloc:
    snprintf(err, err_len, "out of memory for the admin listener");
fail:
    close(fd);
    sl_admin_close(admin);
    return NULL;
}

void sl_admin_close(struct sl_admin *admin)
{
    if (admin == NULL)
        return;
    if (admin->http != NULL)
        evhttp_free(admin->http); /* closes its listening socket and connections */
    free(admin->total);
    free(admin);
}
