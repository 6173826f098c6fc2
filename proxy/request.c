#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "front_h2.h"
#include "gate.h"
#include "stats.h"
#include "log.h"
#include "timeval_ms.h"
#include "upstream_h1.h"
#include "upstream_pool.h"
#include "worker.h"

/* A request kept for one retry holds at most this many bytes of its body; a
 * larger one is not retried (its body has already been given back to the client's
 * flow control). */
#define SL_REPLAY_MAX_BYTES (64 * 1024)
#define SL_REQUEST_ARENA_BYTES 4096
#define SL_FREE_REQUESTS_MAX 1024

static const struct sl_config *cfg_of(const struct sl_request *req)
{
    return req->worker->cfg;
}

static nghttp2_session *session_of(const struct sl_request *req)
{
    return sl_front_h2_session(req->front);
}

static struct sl_gate *gate_of(const struct sl_request *req)
{
    return sl_worker_gate(req->worker, req->backend);
}

const char *sl_request_describe(const struct sl_request *req, char *buf, size_t len)
{
    snprintf(buf, len, "conn=%llu stream=%d peer=%s",
             (unsigned long long)sl_front_h2_id(req->front), req->stream_id,
             sl_front_h2_peer(req->front));
    return buf;
}

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void update_stall_timer(struct sl_request *req);

static void request_destroy(struct sl_request *req)
{
    sl_arena_free(req->arena);
    if (req->pending_body)
        evbuffer_free(req->pending_body);
    if (req->replay)
        evbuffer_free(req->replay);
    if (req->response.body)
        evbuffer_free(req->response.body);
    if (req->timer)
        event_free(req->timer);
    free(req);
}

/* What a request owns lives as long as the object, across recycling. */
static struct sl_request *request_alloc(struct sl_worker *w)
{
    struct sl_request *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->arena = sl_arena_new(SL_REQUEST_ARENA_BYTES);
    req->pending_body = evbuffer_new();
    req->replay = evbuffer_new();
    req->response.body = evbuffer_new();
    req->timer = evtimer_new(w->base, on_timer, req);
    if (req->arena == NULL || req->pending_body == NULL || req->replay == NULL ||
        req->response.body == NULL || req->timer == NULL) {
        request_destroy(req);
        return NULL;
    }
    return req;
}

struct sl_request *sl_request_new(struct sl_front *front, int32_t stream_id)
{
    struct sl_worker *w = sl_front_h2_worker(front);
    struct sl_request *req = w->free_requests;
    if (req != NULL) {
        w->free_requests = req->next_free;
        w->free_request_count--;
    } else {
        req = request_alloc(w);
        if (req == NULL)
            return NULL;
    }
    req->front = front;
    req->worker = w;
    req->stream_id = stream_id;
    req->state = SL_REQ_HEADERS;
    req->arrival_ns = sl_clock_ns();
    w->request_count++;
    sl_header_list_init(&req->fields, req->arena);
    sl_header_list_init(&req->response.headers, req->arena);
    return req;
}

/* Back to the free list, every field but the owned buffers cleared. */
static void request_recycle(struct sl_request *req)
{
    struct sl_worker *w = req->worker;
    if (w->free_request_count >= SL_FREE_REQUESTS_MAX) {
        request_destroy(req);
        return;
    }
    struct sl_arena *arena = req->arena;
    struct evbuffer *pending = req->pending_body, *replay = req->replay, *body = req->response.body;
    struct event *timer = req->timer;
    evtimer_del(timer);
    sl_arena_reset(arena);
    evbuffer_drain(pending, evbuffer_get_length(pending));
    evbuffer_drain(replay, evbuffer_get_length(replay));
    evbuffer_drain(body, evbuffer_get_length(body));
    memset(req, 0, sizeof(*req));
    req->arena = arena;
    req->pending_body = pending;
    req->replay = replay;
    req->response.body = body;
    req->timer = timer;
    req->next_free = w->free_requests;
    w->free_requests = req;
    w->free_request_count++;
}

void sl_request_free_list_clear(struct sl_worker *w)
{
    while (w->free_requests != NULL) {
        struct sl_request *req = w->free_requests;
        w->free_requests = req->next_free;
        request_destroy(req);
    }
    w->free_request_count = 0;
}

int sl_request_on_header(struct sl_request *req, const uint8_t *name, size_t name_len,
                         const uint8_t *value, size_t value_len)
{
    if (req->is_too_large)
        return 0;
    int rv = sl_header_list_add(&req->fields, (const char *)name, name_len, (const char *)value,
                                value_len, NGHTTP2_NV_FLAG_NONE);
    if (rv < 0)
        return rv;
    if (req->fields.total_bytes > cfg_of(req)->max_request_header_bytes) {
        req->is_too_large = true;
        return SL_ETOOBIG;
    }
    return 0;
}

/* --- answering the client --- */

static ssize_t read_response_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                  size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                                  void *user_data)
{
    struct sl_request *req = source->ptr;
    struct sl_upstream_response *resp = &req->response;
    int n = evbuffer_remove(resp->body, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t left = evbuffer_get_length(resp->body);
    if (req->is_upstream_paused && left < cfg_of(req)->response_buffer_bytes) {
        req->is_upstream_paused = false;
        sl_upconn_set_paused(req->upconn, false);
    }
    if (n > 0)
        update_stall_timer(req); /* the client read: progress */
    if (left == 0 && resp->is_complete)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0)
        return NGHTTP2_ERR_DEFERRED;
    return n;
}

static bool status_has_body(unsigned status)
{
    return status != 204 && status != 304;
}

/* Submits HEADERS for resp, with a DATA source unless the response has no body. */
/* By status class, for requests the rules placed (431 and 501 come before). */
static void count_response(const struct sl_request *req, unsigned status)
{
    if (req->backend != NULL && status >= 100 && status < 600)
        gate_of(req)->counts[req->class_index].responses[status / 100 - 1]++;
}

static int submit_response(struct sl_request *req, const nghttp2_nv *nva, size_t count)
{
    struct sl_upstream_response *resp = &req->response;
    bool has_body = !req->is_head_method && status_has_body(resp->status) &&
                    !(resp->is_complete && evbuffer_get_length(resp->body) == 0);
    nghttp2_data_provider provider = {.source.ptr = req, .read_callback = read_response_body};
    int rv = nghttp2_submit_response(session_of(req), req->stream_id, nva, count,
                                     has_body ? &provider : NULL);
    if (rv == 0) {
        req->is_submitted = true;
        count_response(req, resp->status);
    }
    return rv;
}

static void reset_stream(struct sl_request *req, uint32_t error_code)
{
    nghttp2_submit_rst_stream(session_of(req), NGHTTP2_FLAG_NONE, req->stream_id, error_code);
    sl_front_h2_schedule_flush(req->front);
}

/* Gives the client back the flow-control credit of body bytes that will never
 * reach the backend: the connection window is shared by every stream. */
static void return_credit(struct sl_request *req)
{
    evbuffer_drain(req->pending_body, evbuffer_get_length(req->pending_body));
    if (req->unconsumed_bytes == 0)
        return;
    nghttp2_session_consume(session_of(req), req->stream_id, req->unconsumed_bytes);
    req->unconsumed_bytes = 0;
    sl_front_h2_schedule_flush(req->front);
}

/* Leaves the backend's admission: out of its queue (the client gave up), or
 * out of flight, feeding the limiter what the exchange showed. */
static void leave_admission(struct sl_request *req, enum sl_sample sample)
{
    struct sl_admission_entry *entry = &req->admission;
    if (!entry->is_queued && !entry->is_inflight)
        return;
    struct sl_gate *gate = gate_of(req);
    if (entry->is_queued) {
        sl_admission_cancel(&gate->admission, entry);
        gate->counts[req->class_index].cancelled++;
        return;
    }
    uint64_t now = sl_clock_ns();
    sl_admission_release(&gate->admission, entry, now, now - entry->admitted_ns, sample);
    sl_gate_schedule_dispatch(gate);
}

/* Backend failures, per backend, for the stats. */
static void count_failure(const struct sl_request *req, enum sl_upstream_failure what)
{
    struct sl_stats_backend *b = &req->worker->stats->backends[req->backend->index];
    if (what == SL_UPSTREAM_CONNECT)
        b->connect_errors++;
    else if (what == SL_UPSTREAM_TIMEOUT)
        b->timeouts++;
    else
        b->failures++;
}

/* Leaves the admission, the pool's wait list, or the connection mid-exchange. */
static void detach_upstream(struct sl_request *req)
{
    leave_admission(req, SL_SAMPLE_NONE);
    evtimer_del(req->timer);
    if (req->state == SL_REQ_WAITING) {
        sl_pool_cancel(sl_worker_pool(req->worker, req->backend), req);
    } else if (req->upconn != NULL) {
        struct sl_upconn *conn = req->upconn;
        req->upconn = NULL;
        sl_upconn_detach(conn);
        sl_pool_discard(conn);
    }
    req->is_upstream_paused = false;
}

static void arm_timer(struct sl_request *req, uint32_t ms)
{
    struct timeval tv = sl_timeval_ms(ms);
    evtimer_add(req->timer, &tv);
}

/* Is the exchange waiting on the client? For its body, once every byte it sent was
 * credited back (otherwise a slow backend is the one waited on); for reading, once
 * sluice stopped reading the backend for it, or the whole response is buffered. */
static bool is_clients_turn(const struct sl_request *req)
{
    bool owes_body = req->state == SL_REQ_FORWARD && !req->is_ended && req->unconsumed_bytes == 0;
    bool owes_read = req->is_upstream_paused || (req->state == SL_REQ_DONE && req->is_submitted &&
                                                 evbuffer_get_length(req->response.body) > 0);
    return owes_body || owes_read;
}

/* The client must keep the exchange moving; each bit of progress re-arms the
 * timer (a timer-heap update, no syscall). */
static void update_stall_timer(struct sl_request *req)
{
    if (is_clients_turn(req))
        arm_timer(req, cfg_of(req)->client_idle_timeout_ms);
    else
        evtimer_del(req->timer);
}

/* "class=NAME", and "; shed=REASON" for a shed request, in the arena; NULL
 * when the arena is exhausted. */
static const char *decision_text(struct sl_request *req)
{
    char buf[128];
    const char *name = cfg_of(req)->classes[req->class_index].name;
    int n = req->is_shed ? snprintf(buf, sizeof(buf), "class=%s; shed=%s", name,
                                    sl_shed_reason_name(req->shed_reason))
                         : snprintf(buf, sizeof(buf), "class=%s", name);
    return sl_arena_strndup(req->arena, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static nghttp2_nv make_nv(const char *name, const char *value)
{
    return (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                        NGHTTP2_NV_FLAG_NONE};
}

/* Adds x-sluice-decision to nva[*count] when the config asks for it; nva has
 * room for one more field. Returns false when out of memory. */
static bool add_decision_field(struct sl_request *req, nghttp2_nv *nva, size_t *count)
{
    if (!cfg_of(req)->decision_header || req->backend == NULL) /* answered before the rules */
        return true;
    const char *text = decision_text(req);
    if (text == NULL)
        return false;
    nva[(*count)++] = make_nv("x-sluice-decision", text);
    return true;
}

/* What sluice answers itself: an error, a refusal, or a shed answer. */
struct local_answer {
    unsigned status;
    const char *content_type; /* NULL: none */
    const struct sl_header_field *fields;
    size_t field_count;
    const char *body;
    size_t body_len;
};

static int submit_local_answer(struct sl_request *req, const struct local_answer *ans)
{
    bool has_body = status_has_body(ans->status);
    nghttp2_nv *nva = sl_arena_alloc(req->arena, (4 + ans->field_count) * sizeof(*nva));
    char status_text[4], length_text[24];
    if (nva == NULL)
        return -1;
    snprintf(status_text, sizeof(status_text), "%u", ans->status);
    snprintf(length_text, sizeof(length_text), "%zu", has_body ? ans->body_len : 0);
    size_t n = 0;
    nva[n++] = make_nv(":status", status_text);
    if (ans->content_type != NULL && has_body)
        nva[n++] = make_nv("content-type", ans->content_type);
    if (has_body) /* RFC 9110 §8.6: never on 204 and 304 */
        nva[n++] = make_nv("content-length", length_text);
    for (size_t i = 0; i < ans->field_count; i++)
        nva[n++] = make_nv(ans->fields[i].name.text, ans->fields[i].value.text);
    if (!add_decision_field(req, nva, &n))
        return -1;
    struct sl_upstream_response *resp = &req->response;
    evbuffer_drain(resp->body, evbuffer_get_length(resp->body));
    resp->status = ans->status;
    resp->is_complete = true;
    if (has_body && ans->body_len > 0 && evbuffer_add(resp->body, ans->body, ans->body_len) != 0)
        return -1;
    return submit_response(req, nva, n);
}

static void respond(struct sl_request *req, const struct local_answer *ans)
{
    detach_upstream(req);
    return_credit(req);
    req->state = SL_REQ_DONE;
    if (req->is_submitted || submit_local_answer(req, ans) != 0) {
        reset_stream(req, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    sl_front_h2_schedule_flush(req->front);
}

/* Answers the request from sluice itself with an error in plain text. */
static void respond_locally(struct sl_request *req, unsigned status, const char *text)
{
    struct local_answer ans = {.status = status,
                               .content_type = "text/plain; charset=utf-8",
                               .body = text,
                               .body_len = strlen(text)};
    respond(req, &ans);
}

void sl_request_shed(struct sl_request *req, enum sl_shed_reason reason)
{
    const struct sl_class_config *cls = &cfg_of(req)->classes[req->class_index];
    gate_of(req)->counts[req->class_index].shed[reason]++;
    req->is_shed = true;
    req->shed_reason = reason;
    char who[128];
    SL_DEBUG("%s backend %s class %s: shed (%s)", sl_request_describe(req, who, sizeof(who)),
             req->backend->name, cls->name, sl_shed_reason_name(reason));
    if (cls->shed.is_refuse_stream) {
        /* RFC 9113 §8.7: the request was not processed; the client may retry it */
        detach_upstream(req);
        return_credit(req);
        req->state = SL_REQ_DONE;
        reset_stream(req, NGHTTP2_REFUSED_STREAM);
        return;
    }
    struct local_answer ans = {.status = cls->shed.status,
                               .fields = cls->shed.headers,
                               .field_count = cls->shed.header_count,
                               .body = cls->shed.body.text,
                               .body_len = cls->shed.body.len};
    respond(req, &ans);
}

/* --- sending the request upstream --- */

/* Queues bytes for the upstream, keeping a copy while a retry is still possible. */
static void send_upstream(struct sl_request *req, const void *data, size_t len)
{
    if (req->is_replayable) {
        if (evbuffer_get_length(req->replay) + len > SL_REPLAY_MAX_BYTES ||
            evbuffer_add(req->replay, data, len) != 0) {
            req->is_replayable = false;
            evbuffer_drain(req->replay, evbuffer_get_length(req->replay));
        }
    }
    sl_upconn_write(req->upconn, data, len);
}

static void send_body(struct sl_request *req, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (req->is_chunked) {
        char size_line[20];
        int n = snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
        send_upstream(req, size_line, (size_t)n);
        send_upstream(req, data, len);
        send_upstream(req, "\r\n", 2);
    } else {
        send_upstream(req, data, len);
    }
}

/* Terminates a chunked body once; the upstream's response timeout starts. The
 * terminator stays out of the replay copy: a retry sends it anew. */
static void send_end(struct sl_request *req)
{
    if (req->is_chunked && !req->is_end_sent)
        sl_upconn_write(req->upconn, "0\r\n\r\n", 5);
    req->is_end_sent = true;
    sl_upconn_request_sent(req->upconn);
}

static void send_pending_body(struct sl_request *req)
{
    struct evbuffer_iovec vec[16];
    while (evbuffer_get_length(req->pending_body) > 0) {
        int n = evbuffer_peek(req->pending_body, -1, NULL, vec, 16);
        size_t sent = 0;
        for (int i = 0; i < n && i < 16; i++) {
            send_body(req, vec[i].iov_base, vec[i].iov_len);
            sent += vec[i].iov_len;
        }
        evbuffer_drain(req->pending_body, sent);
    }
}

/* A retry: sends again what the failed attempt had sent after the head; retry()
 * made the copy contiguous, so the pullup here allocates nothing. */
static void send_replay(struct sl_request *req)
{
    size_t len = evbuffer_get_length(req->replay);
    if (len > 0)
        sl_upconn_write(req->upconn, evbuffer_pullup(req->replay, -1), len);
}

/* The head, with the budget left (counted now, so a retry tells the truth)
 * when the request has a deadline. */
static void write_head(struct sl_request *req)
{
    const struct sl_string *name = &cfg_of(req)->forward_budget_header;
    uint64_t deadline = req->admission.deadline_ns;
    if (deadline == 0 || name->len == 0) {
        sl_upconn_write(req->upconn, req->head, req->head_len);
        return;
    }
    uint64_t now = sl_clock_ns();
    char line[128];
    int n = snprintf(line, sizeof(line), "%s: %llu\r\n\r\n", name->text,
                     (unsigned long long)(deadline > now ? (deadline - now) / 1000000 : 0));
    /* the head ends with the empty line: the field goes in before it */
    sl_upconn_write(req->upconn, req->head, req->head_len - 2);
    sl_upconn_write(req->upconn, line, (size_t)n);
}

void sl_request_attach(struct sl_request *req, struct sl_upconn *conn)
{
    req->state = SL_REQ_FORWARD;
    req->upconn = conn;
    write_head(req);
    send_replay(req);
    send_pending_body(req);
    if (req->is_ended)
        send_end(req);
    update_stall_timer(req);
}

/* A request queued for a connection waits at most the response timeout. */
static void start_queue_timer(struct sl_request *req)
{
    if (req->state == SL_REQ_WAITING)
        arm_timer(req, req->backend->response_timeout_ms);
}

static void forward(struct sl_request *req)
{
    struct sl_pool *pool = sl_worker_pool(req->worker, req->backend);
    req->is_replayable = true;
    int err = sl_pool_acquire(pool, req, false);
    start_queue_timer(req);
    if (err < 0) {
        char who[128];
        SL_WARN("%s backend %s: cannot connect: %s", sl_request_describe(req, who, sizeof(who)),
                req->backend->name, strerror(-err));
        count_failure(req, SL_UPSTREAM_CONNECT);
        leave_admission(req, SL_SAMPLE_DROP);
        respond_locally(req, 502, "502 bad gateway: the backend is unreachable\n");
    }
}

static const char *field_value(const struct sl_request *req, const char *name)
{
    const nghttp2_nv *nv = sl_header_list_find(&req->fields, name);
    return nv != NULL ? (const char *)nv->value : NULL;
}

/* --- classification and admission --- */

static struct sl_request *request_of(struct sl_admission_entry *entry)
{
    return (struct sl_request *)((char *)entry - offsetof(struct sl_request, admission));
}

/* HTTP/2 field names arrive lowercase (RFC 9113 §8.2.1), as rules hold them. */
static const char *rule_field(const void *ctx, const char *name, size_t name_len, size_t *value_len)
{
    const struct sl_header_list *fields = ctx;
    for (size_t i = 0; i < fields->count; i++) {
        const nghttp2_nv *nv = &fields->items[i];
        if (nv->namelen == name_len && memcmp(nv->name, name, name_len) == 0) {
            *value_len = nv->valuelen;
            return (const char *)nv->value;
        }
    }
    return NULL;
}

/* A budget in milliseconds: digits only, at most a day. */
static bool parse_budget_ms(const char *text, uint64_t *out)
{
    uint64_t ms = 0;
    if (text[0] == '\0')
        return false;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || ms > 86400000)
            return false;
        ms = ms * 10 + (uint64_t)(*p - '0');
    }
    *out = ms;
    return ms <= 86400000;
}

/* The class's deadline, or the request's own budget when it is shorter. */
static uint64_t deadline_of(const struct sl_request *req)
{
    const struct sl_config *cfg = cfg_of(req);
    uint64_t budget_ms = cfg->classes[req->class_index].deadline_ms;
    bool has_budget = budget_ms > 0;
    const char *asked =
        cfg->budget_header.len > 0 ? field_value(req, cfg->budget_header.text) : NULL;
    uint64_t asked_ms;
    if (asked != NULL && parse_budget_ms(asked, &asked_ms) &&
        (!has_budget || asked_ms < budget_ms)) {
        budget_ms = asked_ms;
        has_budget = true;
    }
    return has_budget ? req->arrival_ns + budget_ms * 1000000 : 0;
}

static void classify(struct sl_request *req, const char *method, const char *path)
{
    const char *authority = field_value(req, ":authority");
    if (authority == NULL)
        authority = field_value(req, "host");
    struct sl_rule_input in = {
        .method = method,
        .method_len = method != NULL ? strlen(method) : 0,
        .path = path,
        .path_len = path != NULL ? strlen(path) : 0,
        .authority = authority,
        .authority_len = authority != NULL ? strlen(authority) : 0,
        .client = sl_front_h2_peer_ip(req->front),
        .listener_index = sl_front_h2_listener_index(req->front),
        .header = rule_field,
        .header_ctx = &req->fields,
    };
    const struct sl_config *cfg = cfg_of(req);
    const struct sl_rule *rule = sl_config_match(cfg, &in);
    req->class_index = rule->class_index;
    req->backend = &cfg->backends[rule->backend_index];
    req->admission.class_index = rule->class_index;
    req->admission.deadline_ns = deadline_of(req);
}

static void start_forward(struct sl_request *req)
{
    gate_of(req)->counts[req->class_index].admitted++;
    forward(req);
}

void sl_request_on_admitted(struct sl_request *req)
{
    evtimer_del(req->timer);
    req->state = SL_REQ_HEADERS;
    start_forward(req);
}

/* The queue timer fires when the request must leave the queue unserved. */
static void arm_expiry(struct sl_request *req, uint64_t now)
{
    uint64_t at =
        sl_admission_expiry(&gate_of(req)->admission, &req->admission, now, &req->expiry_reason);
    struct timeval tv = sl_timeval_ns(at - now);
    evtimer_add(req->timer, &tv);
}

static void admit(struct sl_request *req)
{
    struct sl_gate *gate = gate_of(req);
    gate->counts[req->class_index].received++;
    if (sl_overload_sheds(&req->worker->overload, &cfg_of(req)->class_policies[req->class_index])) {
        sl_request_shed(req, SL_SHED_OVERLOAD);
        return;
    }
    uint64_t now = sl_clock_ns();
    struct sl_admission_entry *entry = &req->admission;
    if (entry->deadline_ns != 0 && now + gate->admission.service_ns > entry->deadline_ns) {
        sl_request_shed(req, SL_SHED_DEADLINE);
        return;
    }
    struct sl_admission_entry *evicted;
    enum sl_shed_reason reason;
    switch (sl_admission_admit(&gate->admission, entry, now, &evicted, &reason)) {
    case SL_ADMIT:
        start_forward(req);
        break;
    case SL_QUEUE:
        req->state = SL_REQ_QUEUED;
        arm_expiry(req, now);
        if (evicted != NULL)
            sl_request_shed(request_of(evicted), SL_SHED_EVICTED);
        break;
    case SL_SHED:
        sl_request_shed(req, reason);
        break;
    }
}

void sl_request_on_head_done(struct sl_request *req, bool has_body)
{
    req->is_ended = !has_body;
    if (req->is_too_large) {
        respond_locally(req, 431, "431 request header fields too large\n");
        return;
    }
    const char *method = field_value(req, ":method");
    const char *path = field_value(req, ":path");
    if (method != NULL && strcmp(method, "CONNECT") == 0) {
        respond_locally(req, 501, "501 not implemented: sluice does not tunnel CONNECT\n");
        return;
    }
    req->is_head_method = method != NULL && strcmp(method, "HEAD") == 0;
    classify(req, method, path);
    const struct sl_string *budget_field = &cfg_of(req)->forward_budget_header;
    if (budget_field->len > 0) /* only sluice writes it, or a client could fake it */
        sl_header_list_remove(&req->fields, budget_field->text);
    struct sl_forward_info fwd = {
        .client_addr = sl_front_h2_peer(req->front),
        .scheme = sl_front_h2_scheme(req->front),
    };
    char *head;
    int rv = sl_h1_request_head(&req->fields, &fwd, has_body, req->arena, &head, &req->head_len,
                                &req->is_chunked);
    if (rv == SL_EINVALID) {
        respond_locally(req, 400, "400 bad request\n");
        return;
    }
    if (rv < 0) {
        reset_stream(req, NGHTTP2_REFUSED_STREAM);
        req->state = SL_REQ_DONE;
        return;
    }
    req->head = head;
    admit(req);
}

/* Credit for body bytes the upstream will never take. */
static void discard_body(struct sl_request *req, size_t len)
{
    nghttp2_session_consume(session_of(req), req->stream_id, len);
    sl_front_h2_schedule_flush(req->front);
}

void sl_request_on_body(struct sl_request *req, const uint8_t *data, size_t len)
{
    switch (req->state) {
    case SL_REQ_QUEUED:
    case SL_REQ_WAITING:
        if (evbuffer_add(req->pending_body, data, len) != 0) {
            discard_body(req, len);
            respond_locally(req, 503, "503 service unavailable: out of memory\n");
            return;
        }
        req->unconsumed_bytes += len;
        break;
    case SL_REQ_FORWARD:
        send_body(req, data, len);
        req->unconsumed_bytes += len;
        update_stall_timer(req);
        break;
    default:
        discard_body(req, len);
        break;
    }
}

void sl_request_on_end(struct sl_request *req)
{
    req->is_ended = true;
    if (req->state == SL_REQ_FORWARD) {
        send_end(req);
        update_stall_timer(req);
    }
}

void sl_request_on_upstream_drained(struct sl_request *req)
{
    if (req->unconsumed_bytes == 0)
        return;
    nghttp2_session_consume(session_of(req), req->stream_id, req->unconsumed_bytes);
    req->unconsumed_bytes = 0;
    sl_front_h2_schedule_flush(req->front);
    update_stall_timer(req); /* the client can send again */
}

/* --- the response --- */

struct sl_upstream_response *sl_request_response(struct sl_request *req)
{
    return &req->response;
}

/* nva with x-sluice-decision appended, when the config asks for it. */
static int with_decision_field(struct sl_request *req, nghttp2_nv **nva, size_t *count)
{
    if (!cfg_of(req)->decision_header)
        return 0;
    nghttp2_nv *more = sl_arena_alloc(req->arena, (*count + 1) * sizeof(*more));
    if (more == NULL)
        return -1;
    memcpy(more, *nva, *count * sizeof(*more));
    if (!add_decision_field(req, more, count))
        return -1;
    *nva = more;
    return 0;
}

static void submit_upstream_head(struct sl_request *req)
{
    struct sl_upstream_response *resp = &req->response;
    nghttp2_nv *nva;
    size_t count;
    /* the head arrived: the backend has the request, a retry is off the table */
    req->is_replayable = false;
    evbuffer_drain(req->replay, evbuffer_get_length(req->replay));
    if (sl_h2_response_fields(&resp->headers, resp->status, req->arena, &nva, &count) != 0 ||
        with_decision_field(req, &nva, &count) != 0 || submit_response(req, nva, count) != 0) {
        char who[128];
        SL_WARN("%s backend %s: response head with status %u cannot be relayed",
                sl_request_describe(req, who, sizeof(who)), req->backend->name, resp->status);
        respond_locally(req, 502, "502 bad gateway: invalid response from the backend\n");
    }
}

/* Stops reading from the backend while the client is slower than it. */
static void apply_backpressure(struct sl_request *req)
{
    if (req->upconn == NULL || req->is_upstream_paused)
        return;
    if (evbuffer_get_length(req->response.body) >= cfg_of(req)->response_buffer_bytes) {
        req->is_upstream_paused = true;
        sl_upconn_set_paused(req->upconn, true);
        update_stall_timer(req);
    }
}

/* A proxied response ended: its latency as the client saw it, into the stats. */
static void record_latency(const struct sl_request *req)
{
    struct sl_stats_worker *stats = req->worker->stats;
    uint64_t latency_us = (sl_clock_ns() - req->arrival_ns) / 1000;
    sl_hist_record(&stats->latency_by_class[req->class_index], latency_us);
    sl_hist_record(&stats->latency_by_backend[req->backend->index], latency_us);
}

void sl_request_on_upstream_progress(struct sl_request *req)
{
    struct sl_upstream_response *resp = &req->response;
    if (resp->is_complete) {
        record_latency(req);
        leave_admission(req, SL_SAMPLE_OK);
        req->state = SL_REQ_DONE;
        req->upconn = NULL; /* the connection detached itself */
        req->is_upstream_paused = false;
        return_credit(req); /* body the backend did not wait for */
    }
    if (!req->is_submitted) {
        if (!resp->is_head_complete)
            return;
        submit_upstream_head(req);
    } else {
        nghttp2_session_resume_data(session_of(req), req->stream_id);
    }
    apply_backpressure(req);
    update_stall_timer(req);
    sl_front_h2_schedule_flush(req->front);
}

/* Only a kept-alive connection that broke before any response byte: the backend
 * closed it as sluice reused it. A timeout is not retried, since the backend may
 * be working on the request. */
static bool can_retry(const struct sl_request *req, enum sl_upstream_failure what, bool was_reused)
{
    return what == SL_UPSTREAM_BROKEN && was_reused && !req->response.has_bytes &&
           req->is_replayable && !req->has_retried;
}

static void retry(struct sl_request *req)
{
    char who[128];
    SL_INFO("%s backend %s closed a kept-alive connection before answering; retrying once",
            sl_request_describe(req, who, sizeof(who)), req->backend->name);
    req->has_retried = true;
    req->is_end_sent = false;
    /* rare, and at most SL_REPLAY_MAX_BYTES: one contiguous copy */
    if (evbuffer_get_length(req->replay) > 0 && evbuffer_pullup(req->replay, -1) == NULL) {
        respond_locally(req, 502, "502 bad gateway: the backend failed\n");
        return;
    }
    req->state = SL_REQ_HEADERS;
    int err = sl_pool_acquire(sl_worker_pool(req->worker, req->backend), req, true);
    start_queue_timer(req);
    if (err < 0) {
        SL_WARN("%s backend %s: cannot connect: %s", who, req->backend->name, strerror(-err));
        count_failure(req, SL_UPSTREAM_CONNECT);
        leave_admission(req, SL_SAMPLE_DROP);
        respond_locally(req, 502, "502 bad gateway: the backend is unreachable\n");
    }
}

void sl_request_on_upstream_failure(struct sl_request *req, enum sl_upstream_failure what,
                                    bool was_reused)
{
    req->upconn = NULL;
    req->is_upstream_paused = false;
    if (can_retry(req, what, was_reused)) {
        retry(req);
        return;
    }
    leave_admission(req, SL_SAMPLE_DROP);
    count_failure(req, what);
    char who[128];
    SL_WARN("%s backend %s: request failed (%s)", sl_request_describe(req, who, sizeof(who)),
            req->backend->name,
            what == SL_UPSTREAM_CONNECT   ? "connect"
            : what == SL_UPSTREAM_TIMEOUT ? "timeout"
            : what == SL_UPSTREAM_BROKEN  ? "connection broken"
                                          : "bad response");
    /* once the head went out, this resets the stream (RFC 9113 §8.1) */
    if (what == SL_UPSTREAM_TIMEOUT)
        respond_locally(req, 504, "504 gateway timeout: the backend did not answer in time\n");
    else
        respond_locally(req, 502, "502 bad gateway: the backend failed\n");
}

/* --- the end --- */

/* A client that stalls the exchange holds a backend connection: let it go. */
static void abandon_stalled(struct sl_request *req, const char *what)
{
    char who[128];
    SL_INFO("%s client %s for %u ms; resetting the stream",
            sl_request_describe(req, who, sizeof(who)), what, cfg_of(req)->client_idle_timeout_ms);
    detach_upstream(req);
    return_credit(req);
    req->state = SL_REQ_DONE;
    if (sl_front_h2_is_write_blocked(req->front)) {
        /* not even reading the socket: a reset would never leave either */
        SL_INFO("%s client reads nothing; closing the connection", who);
        sl_front_h2_close_later(req->front);
        return;
    }
    reset_stream(req, NGHTTP2_CANCEL);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sl_request *req = arg;
    char who[128];
    if (req->state == SL_REQ_QUEUED) {
        sl_admission_cancel(&gate_of(req)->admission, &req->admission);
        sl_request_shed(req, req->expiry_reason);
    } else if (req->state == SL_REQ_WAITING) {
        SL_WARN("%s backend %s: no connection became free within %u ms",
                sl_request_describe(req, who, sizeof(who)), req->backend->name,
                req->backend->response_timeout_ms);
        count_failure(req, SL_UPSTREAM_TIMEOUT);
        leave_admission(req, SL_SAMPLE_DROP);
        respond_locally(req, 504, "504 gateway timeout: the backend is saturated\n");
    } else if (is_clients_turn(req)) {
        abandon_stalled(req, req->is_ended || req->state == SL_REQ_DONE
                                 ? "read none of the response"
                                 : "sent no request body");
    }
}

void sl_request_free(struct sl_request *req)
{
    req->worker->request_count--;
    detach_upstream(req);
    return_credit(req);
    request_recycle(req);
}

void sl_request_on_stream_close(struct sl_request *req, uint32_t error_code)
{
    if (error_code != NGHTTP2_NO_ERROR && req->state != SL_REQ_DONE) {
        char who[128];
        SL_INFO("%s stream closed with error %s before the response ended",
                sl_request_describe(req, who, sizeof(who)), nghttp2_http2_strerror(error_code));
    }
    sl_request_free(req);
}
