#include "request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "access.h"
#include "arena.h"
#include "clock.h"
#include "config.h"
#include "front.h"
#include "gate.h"
#include "log.h"
#include "plane.h"
#include "sl_assert.h"
#include "stats.h"
#include "upstream.h"
#include "upstream_pool.h"

/* A request kept for one retry holds at most this many bytes of its body; a
 * larger one is not retried (its body has already been given back to the client's
 * flow control). */
#define SL_REPLAY_MAX_BYTES (64 * 1024)
#define SL_REQUEST_ARENA_BYTES 4096
#define SL_FREE_REQUESTS_MAX 1024

static const struct sl_config *cfg_of(const struct sl_request *req)
{
    return req->plane->cfg;
}

static struct sl_gate *gate_of(const struct sl_request *req)
{
    return sl_plane_gate(req->plane, req->backend);
}

static struct sl_pool *pool_of(const struct sl_request *req)
{
    return sl_plane_pool(req->plane, req->backend);
}

const char *sl_request_describe(const struct sl_request *req, char *buf, size_t len)
{
    /* a peer is an IP address or "unix": 48 bytes hold any */
    snprintf(buf, len, "conn=%llu stream=%d peer=%.48s", (unsigned long long)req->front->id,
             req->stream_id, req->front->peer);
    return buf;
}

static void on_timer(void *arg);
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
    sl_timer_deinit(&req->timer);
    free(req);
}

/* What a request owns lives as long as the object, across recycling. */
static struct sl_request *request_alloc(struct sl_plane *p)
{
    struct sl_request *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->arena = sl_arena_new(SL_REQUEST_ARENA_BYTES);
    req->pending_body = evbuffer_new();
    req->replay = evbuffer_new();
    req->response.body = evbuffer_new();
    int timer_rc = sl_timer_init(&req->timer, p->base, on_timer, req);
    if (req->arena == NULL || req->pending_body == NULL || req->replay == NULL ||
        req->response.body == NULL || timer_rc != 0) {
        request_destroy(req);
        return NULL;
    }
    return req;
}

struct sl_request *sl_request_new(struct sl_front *front, int32_t stream_id)
{
    struct sl_plane *p = front->plane;
    struct sl_request *req = p->free_requests;
    if (req != NULL) {
        p->free_requests = req->next_free;
        p->free_request_count--;
    } else {
        req = request_alloc(p);
        if (req == NULL)
            return NULL;
    }
    req->front = front;
    req->plane = p;
    req->stream_id = stream_id;
    req->state = SL_REQ_HEADERS;
    req->outcome.arrival_ns = sl_clock_ns();
    req->outcome.protocol = front->protocol;
    p->request_count++;
    sl_header_list_init(&req->fields, req->arena);
    sl_header_list_init(&req->response.headers, req->arena);
    /* Fields come in only through nghttp2 (which refuses a name that is no
     * lowercase token and a value with NUL, CR, LF or other controls) or
     * sl_h1_read_fields (the same for HTTP/1.1), both ways, and sluice adds
     * only fields of its own: the translations need not check them again. */
    req->fields.is_checked = true;
    req->response.headers.is_checked = true;
    return req;
}

void sl_request_move(struct sl_request *req, struct sl_front *front, int32_t stream_id)
{
    SL_ASSERT(req->state == SL_REQ_HEADERS && req->backend == NULL);
    req->front = front;
    req->stream_id = stream_id;
    req->outcome.protocol = front->protocol;
}

/* Back to the free list, every field but the owned buffers and the timer
 * cleared. The timer is only stopped: its event, if pending, fires into
 * nothing once, while the next request on this object re-arms it for free. */
static void request_recycle(struct sl_request *req)
{
    struct sl_plane *p = req->plane;
    if (p->free_request_count >= SL_FREE_REQUESTS_MAX) {
        request_destroy(req);
        return;
    }
    struct sl_arena *arena = req->arena;
    struct evbuffer *pending = req->pending_body, *replay = req->replay, *body = req->response.body;
    struct sl_timer timer = req->timer;
    sl_timer_stop(&timer);
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
    req->next_free = p->free_requests;
    p->free_requests = req;
    p->free_request_count++;
}

void sl_request_free_list_clear(struct sl_plane *p)
{
    while (p->free_requests != NULL) {
        struct sl_request *req = p->free_requests;
        p->free_requests = req->next_free;
        request_destroy(req);
    }
    p->free_request_count = 0;
}

static int store_header(struct sl_request *req, const uint8_t *name, size_t name_len,
                        const uint8_t *value, size_t value_len, bool is_lowercase)
{
    if (req->is_too_large)
        return 0;
    struct sl_header_list *fields = &req->fields;
    int rv;
    if (is_lowercase) {
        rv = sl_header_list_add(fields, (const char *)name, name_len, (const char *)value,
                                value_len, NGHTTP2_NV_FLAG_NONE);
    } else {
        rv = sl_header_list_add_lowercased(fields, (const char *)name, name_len,
                                           (const char *)value, value_len);
    }
    if (rv < 0)
        return rv;
    if (fields->total_bytes > cfg_of(req)->max_request_header_bytes) {
        req->is_too_large = true;
        return SL_ETOOBIG;
    }
    return 0;
}

int sl_request_on_header(struct sl_request *req, const uint8_t *name, size_t name_len,
                         const uint8_t *value, size_t value_len)
{
    return store_header(req, name, name_len, value, value_len, true);
}

int sl_request_on_h1_header(struct sl_request *req, const char *name, size_t name_len,
                            const char *value, size_t value_len)
{
    return store_header(req, (const uint8_t *)name, name_len, (const uint8_t *)value, value_len,
                        false);
}

/* --- how it ends --- */

/* The phase the request is in now, for its termination code. */
static enum sl_term_phase phase_now(const struct sl_request *req)
{
    switch (req->state) {
    case SL_REQ_HEADERS:
        return SL_PHASE_HEAD;
    case SL_REQ_QUEUED:
    case SL_REQ_WAITING:
        return SL_PHASE_QUEUE;
    case SL_REQ_FORWARD:
        return req->is_submitted ? SL_PHASE_BODY : SL_PHASE_RESPONSE_HEAD;
    case SL_REQ_DONE:
        break;
    }
    return req->response.is_complete ? SL_PHASE_LAST : SL_PHASE_BODY;
}

/* The first cause to end the request is the one its code tells. */
static void note_end(struct sl_request *req, enum sl_term_cause cause, enum sl_term_phase phase)
{
    if (req->outcome.cause != SL_CAUSE_NONE)
        return;
    req->outcome.cause = cause;
    req->outcome.phase = phase;
}

void sl_request_answered_by_front(struct sl_request *req, unsigned status)
{
    note_end(req, SL_CAUSE_POLICY, phase_now(req));
    req->outcome.status = status;
    req->outcome.is_from_upstream = false;
}

/* --- answering the client --- */

size_t sl_request_take_body(struct sl_request *req, uint8_t *buf, size_t len, bool *is_end)
{
    struct sl_upstream_response *resp = &req->response;
    int n = evbuffer_remove(resp->body, buf, len);
    size_t taken = n > 0 ? (size_t)n : 0;
    size_t left = evbuffer_get_length(resp->body);
    if (req->is_upstream_paused && left < cfg_of(req)->response_buffer_bytes) {
        req->is_upstream_paused = false;
        req->upconn->ops->pause(req->upconn, req, false);
    }
    if (taken > 0) {
        req->outcome.bytes_out += taken;
        update_stall_timer(req); /* the client read: progress */
    }
    *is_end = left == 0 && resp->is_complete;
    return taken;
}

static bool status_has_body(unsigned status)
{
    return status != 204 && status != 304;
}

/* The head goes to the front; the body, if any, follows as the front pulls it. */
static int send_response_head(struct sl_request *req)
{
    struct sl_upstream_response *resp = &req->response;
    bool has_body = !req->is_head_method && status_has_body(resp->status) &&
                    !(resp->is_complete && evbuffer_get_length(resp->body) == 0);
    int rv = req->front->ops->send_head(req->front, req, resp->status, &resp->headers, has_body);
    if (rv == 0) {
        req->is_submitted = true;
        req->outcome.status = resp->status;
    }
    return rv;
}

static void reset_exchange(struct sl_request *req, enum sl_front_reset how)
{
    req->front->ops->reset(req->front, req, how);
}

/* Gives the client back the flow-control credit of body bytes that will never
 * reach the backend: the connection window is shared by every stream. */
static void return_credit(struct sl_request *req)
{
    evbuffer_drain(req->pending_body, evbuffer_get_length(req->pending_body));
    req->held_len = 0;
    if (req->unconsumed_bytes == 0)
        return;
    req->front->ops->consume(req->front, req, req->unconsumed_bytes);
    req->unconsumed_bytes = 0;
}

/* Leaves the backend's admission: out of its queue (the client gave up), or
 * out of flight, feeding the limiter what the exchange showed by now_ns (not
 * read with SL_SAMPLE_NONE: a cancelled exchange costs no clock read). */
static void leave_admission(struct sl_request *req, enum sl_sample sample, uint64_t now_ns)
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
    uint64_t latency_ns = sample == SL_SAMPLE_NONE ? 0 : now_ns - entry->admitted_ns;
    sl_admission_release(&gate->admission, entry, now_ns, latency_ns, sample);
    sl_gate_schedule_dispatch(gate);
}

/* Leaves the admission, the pool's wait list, or the connection mid-exchange. */
static void detach_upstream(struct sl_request *req)
{
    leave_admission(req, SL_SAMPLE_NONE, 0);
    sl_timer_stop(&req->timer);
    if (req->state == SL_REQ_WAITING) {
        sl_pool_cancel(pool_of(req), req);
    } else if (req->upconn != NULL) {
        struct sl_upconn *conn = req->upconn;
        req->upconn = NULL;
        conn->ops->detach(conn, req);
    }
    req->is_upstream_paused = false;
}

/* Is the exchange waiting on the client? For its body, once every byte it sent was
 * credited back (otherwise a slow backend is the one waited on); for reading, once
 * sluice stopped reading the backend for it, or the whole response is buffered. */
static bool is_clients_turn(const struct sl_request *req)
{
    bool owes_body = req->state == SL_REQ_FORWARD && !req->is_ended &&
                     (req->unconsumed_bytes == 0 || req->is_head_held);
    bool owes_read = req->is_upstream_paused || (req->state == SL_REQ_DONE && req->is_submitted &&
                                                 evbuffer_get_length(req->response.body) > 0);
    return owes_body || owes_read;
}

/* The whole request went upstream and no response head has come back: the
 * backend has response_timeout_ms in all, however it trickles (its connection
 * only measures silence). */
static bool is_awaiting_response_head(const struct sl_request *req)
{
    return req->state == SL_REQ_FORWARD && req->is_end_sent && !req->is_submitted &&
           req->response_head_due_ns != 0;
}

/* The client must keep the exchange moving; each bit of progress re-arms the
 * timer (a clock read: see timer.h). Otherwise the timer is the response
 * head's deadline, which progress does not move. */
static void update_stall_timer(struct sl_request *req)
{
    if (req->is_write_failed)
        return; /* the timer is due now: on_timer answers */
    if (is_clients_turn(req)) {
        sl_timer_arm_ms(&req->timer, cfg_of(req)->client_idle_timeout_ms);
    } else if (is_awaiting_response_head(req)) {
        sl_timer_arm_at(&req->timer, req->response_head_due_ns);
    } else {
        sl_timer_stop(&req->timer);
    }
}

/* "class=NAME", and "; shed=REASON" for a shed request, in the arena; NULL
 * when the arena is exhausted. */
static int add_decision_field(struct sl_request *req, struct sl_header_list *fields)
{
    if (!cfg_of(req)->decision_header || req->backend == NULL) /* answered before the rules */
        return 0;
    char buf[128];
    const char *name = cfg_of(req)->classes[req->class_index].name;
    int n = req->outcome.is_shed ? snprintf(buf, sizeof(buf), "class=%s; shed=%s", name,
                                            sl_shed_reason_name(req->outcome.shed_reason))
                                 : snprintf(buf, sizeof(buf), "class=%s", name);
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    return sl_header_list_add(fields, "x-sluice-decision", 17, buf, len, NGHTTP2_NV_FLAG_NONE);
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

static int add_field(struct sl_header_list *list, const char *name, const char *value)
{
    return sl_header_list_add(list, name, strlen(name), value, strlen(value), NGHTTP2_NV_FLAG_NONE);
}

/* The answer replaces whatever the backend had sent of a response. */
static int send_local_answer(struct sl_request *req, const struct local_answer *ans)
{
    bool has_body = status_has_body(ans->status);
    struct sl_upstream_response *resp = &req->response;
    struct sl_header_list *fields = &resp->headers;
    sl_header_list_init(fields, req->arena);
    char length_text[24];
    snprintf(length_text, sizeof(length_text), "%zu", has_body ? ans->body_len : 0);
    int rv = 0;
    if (ans->content_type != NULL && has_body)
        rv = add_field(fields, "content-type", ans->content_type);
    if (rv == 0 && has_body) /* RFC 9110 §8.6: never on 204 and 304 */
        rv = add_field(fields, "content-length", length_text);
    for (size_t i = 0; rv == 0 && i < ans->field_count; i++)
        rv = add_field(fields, ans->fields[i].name.text, ans->fields[i].value.text);
    if (rv == 0)
        rv = add_decision_field(req, fields);
    evbuffer_drain(resp->body, evbuffer_get_length(resp->body));
    resp->status = ans->status;
    resp->is_complete = true;
    req->outcome.is_from_upstream = false;
    if (rv == 0 && has_body && ans->body_len > 0 &&
        evbuffer_add(resp->body, ans->body, ans->body_len) != 0)
        rv = -1;
    return rv == 0 ? send_response_head(req) : rv;
}

static void respond(struct sl_request *req, const struct local_answer *ans)
{
    detach_upstream(req);
    return_credit(req);
    req->state = SL_REQ_DONE;
    if (req->is_submitted || send_local_answer(req, ans) != 0)
        reset_exchange(req, SL_RESET_INTERNAL);
}

/* Answers the request from sluice itself with an error in plain text, for
 * cause (noted with the phase the request was in). */
static void respond_locally(struct sl_request *req, enum sl_term_cause cause, unsigned status,
                            const char *text)
{
    note_end(req, cause, phase_now(req));
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
    req->outcome.is_shed = true;
    req->outcome.shed_reason = reason;
    note_end(req, SL_CAUSE_POLICY, phase_now(req));
    char who[128];
    SL_DEBUG("%s backend %s class %s: shed (%s)", sl_request_describe(req, who, sizeof(who)),
             req->backend->name, cls->name, sl_shed_reason_name(reason));
    if (cls->shed.is_refuse_stream) {
        /* RFC 9113 §8.7: the request was not processed; the client may retry it */
        detach_upstream(req);
        return_credit(req);
        req->state = SL_REQ_DONE;
        reset_exchange(req, SL_RESET_REFUSED);
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

/* A write the upstream could not queue (out of memory) fails the request, from
 * its timer: the connection may be inside its own callback right now. */
static void write_failed(struct sl_request *req)
{
    if (req->is_write_failed)
        return;
    req->is_write_failed = true;
    sl_timer_fire_soon(&req->timer);
}

/* Body bytes for the upstream, keeping a copy while a retry is still possible. */
static void send_body(struct sl_request *req, const void *data, size_t len)
{
    if (req->is_replayable) {
        if (evbuffer_get_length(req->replay) + len > SL_REPLAY_MAX_BYTES ||
            evbuffer_add(req->replay, data, len) != 0) {
            req->is_replayable = false;
            evbuffer_drain(req->replay, evbuffer_get_length(req->replay));
        }
    }
    if (req->upconn->ops->send_body(req->upconn, req, data, len) != 0)
        write_failed(req);
}

/* The body is complete; the upstream's response timeout starts. */
static void send_end(struct sl_request *req)
{
    if (req->is_end_sent)
        return;
    req->is_end_sent = true;
    req->response_head_due_ns = /* a new deadline, on a retry too */
        sl_clock_ns() + (uint64_t)req->backend->response_timeout_ms * 1000000;
    req->upconn->ops->end(req->upconn, req);
}

static void send_held_body(struct sl_request *req)
{
    if (req->held_len == 0)
        return;
    send_body(req, req->held_body, req->held_len);
    req->held_len = 0;
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
 * made the copy contiguous, so the pullup here allocates nothing. The copy is
 * kept: this attempt may fail the same way. */
static void send_replay(struct sl_request *req)
{
    size_t len = evbuffer_get_length(req->replay);
    if (len > 0 &&
        req->upconn->ops->send_body(req->upconn, req, evbuffer_pullup(req->replay, -1), len) != 0)
        write_failed(req);
}

/* The head, with the budget left (counted now, so a retry tells the truth)
 * when the request has a deadline. */
static void send_head(struct sl_request *req)
{
    const struct sl_string *name = &cfg_of(req)->forward_budget_header;
    uint64_t deadline = req->admission.deadline_ns;
    char value[24];
    nghttp2_nv budget = {(uint8_t *)name->text, (uint8_t *)value, name->len, 0,
                         NGHTTP2_NV_FLAG_NONE};
    bool has_budget = deadline != 0 && name->len > 0;
    if (has_budget) {
        uint64_t now = sl_clock_ns();
        int n = snprintf(value, sizeof(value), "%llu",
                         (unsigned long long)(deadline > now ? (deadline - now) / 1000000 : 0));
        budget.valuelen = (size_t)n;
    }
    if (req->upconn->ops->send_head(req->upconn, req, has_budget ? &budget : NULL) != 0)
        write_failed(req);
}

/* A small body on its way goes out with its head: the backend then reads the
 * whole request at once (one write, one read, one wakeup), where streaming
 * would send the head in one loop turn and the body in a later one. Below
 * any client window (stream_window_bytes is at least 16 KiB), so holding it
 * never waits on credit the client does not have. HTTP/1.1 backends only: an
 * h2c connection may go away (GOAWAY) while a held stream is not open yet,
 * and its frames of many streams share each write anyway. */
#define SL_HELD_BODY_MAX 16384

static bool holds_head(const struct sl_request *req)
{
    return req->backend->protocol == SL_BACKEND_HTTP1 && !req->is_ended &&
           req->declared_body_bytes > 0 && req->declared_body_bytes < SL_HELD_BODY_MAX;
}

static void send_request(struct sl_request *req)
{
    send_head(req);
    send_replay(req);
    send_held_body(req); /* before pending_body: it was empty when holding began */
    send_pending_body(req);
    if (req->is_ended)
        send_end(req);
}

void sl_request_attach(struct sl_request *req, struct sl_upconn *conn)
{
    req->state = SL_REQ_FORWARD;
    req->upconn = conn;
    req->server = conn->server;
    req->outcome.server = conn->server->addr->text;
    if (req->plane->access_log != NULL) /* only the access log reads it */
        req->outcome.upstream_start_ns = sl_clock_ns();
    if (conn->ops->begin != NULL)
        conn->ops->begin(conn, req);
    req->is_head_held = holds_head(req);
    if (!req->is_head_held)
        send_request(req);
    update_stall_timer(req);
}

/* A request queued for a connection waits at most the response timeout. */
static void start_queue_timer(struct sl_request *req)
{
    if (req->state == SL_REQ_WAITING)
        sl_timer_arm_ms(&req->timer, req->backend->response_timeout_ms);
}

/* A connection could not even be started: nothing reached the backend. */
static void fail_connect(struct sl_request *req, int err)
{
    char who[128];
    SL_WARN("%s backend %s: cannot connect: %s", sl_request_describe(req, who, sizeof(who)),
            req->backend->name, strerror(-err));
    leave_admission(req, SL_SAMPLE_DROP, sl_clock_ns());
    note_end(req, SL_CAUSE_UPSTREAM, SL_PHASE_CONNECT);
    respond_locally(req, SL_CAUSE_UPSTREAM, 502, "502 bad gateway: the backend is unreachable\n");
}

/* Only a retry reads the replay copy (can_retry): over h2c a refused stream
 * of any method goes again; over HTTP/1.1 only a request safe to repeat.
 * Others (a POST bid) are not copied at all. */
static bool may_retry(const struct sl_request *req)
{
    return req->backend->protocol == SL_BACKEND_H2C || req->is_idempotent ||
           req->backend->retry_non_idempotent;
}

static void forward(struct sl_request *req)
{
    req->is_replayable = may_retry(req);
    int err = sl_pool_acquire(pool_of(req), req, false);
    start_queue_timer(req);
    if (err < 0)
        fail_connect(req, err);
}

/* --- classification and admission --- */

static struct sl_request *request_of(struct sl_admission_entry *entry)
{
    return (struct sl_request *)((char *)entry - offsetof(struct sl_request, admission));
}

/* Field names are lowercase as stored (RFC 9113 §8.2.1), as rules hold them. */
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
    uint64_t asked_ms;
    if (req->asked_budget != NULL && parse_budget_ms(req->asked_budget, &asked_ms) &&
        (!has_budget || asked_ms < budget_ms)) {
        budget_ms = asked_ms;
        has_budget = true;
    }
    return has_budget ? req->outcome.arrival_ns + budget_ms * 1000000 : 0;
}

static void classify(struct sl_request *req)
{
    struct sl_rule_input in = {
        .method = req->method,
        .method_len = req->method != NULL ? strlen(req->method) : 0,
        .path = req->path,
        .path_len = req->path != NULL ? strlen(req->path) : 0,
        .authority = req->authority,
        .authority_len = req->authority != NULL ? strlen(req->authority) : 0,
        .client = sl_front_peer_ip(req->front),
        .listener_index = req->front->listener_index,
        .header = rule_field,
        .header_ctx = &req->fields,
    };
    const struct sl_config *cfg = cfg_of(req);
    const struct sl_rule *rule = sl_config_match(cfg, &in);
    req->class_index = rule->class_index;
    req->backend = &cfg->backends[rule->backend_index];
    req->outcome.backend = req->backend;
    req->outcome.class_index = rule->class_index;
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
    sl_timer_stop(&req->timer);
    req->state = SL_REQ_HEADERS;
    start_forward(req);
}

/* The queue timer fires when the request must leave the queue unserved. */
static void arm_expiry(struct sl_request *req, uint64_t now)
{
    uint64_t at =
        sl_admission_expiry(&gate_of(req)->admission, &req->admission, now, &req->expiry_reason);
    sl_timer_arm_at(&req->timer, at);
}

static void admit(struct sl_request *req)
{
    struct sl_gate *gate = gate_of(req);
    gate->counts[req->class_index].received++;
    if (sl_overload_sheds(&req->plane->overload, &cfg_of(req)->class_policies[req->class_index])) {
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

/* RFC 9110 §9.2.2. By first letter: a POST, the usual bid, is told apart
 * with one comparison instead of six. */
static bool is_idempotent_method(const char *method)
{
    switch (method[0]) {
    case 'G':
        return strcmp(method, "GET") == 0;
    case 'H':
        return strcmp(method, "HEAD") == 0;
    case 'O':
        return strcmp(method, "OPTIONS") == 0;
    case 'T':
        return strcmp(method, "TRACE") == 0;
    case 'P':
        return strcmp(method, "PUT") == 0;
    case 'D':
        return strcmp(method, "DELETE") == 0;
    default:
        return false;
    }
}

void sl_request_await_head(struct sl_request *req)
{
    req->is_awaiting_head = true;
    sl_timer_arm_ms(&req->timer, cfg_of(req)->client_header_timeout_ms);
}

/* --- the class's body limit --- */

static uint32_t body_limit(const struct sl_request *req)
{
    return cfg_of(req)->classes[req->class_index].max_body_bytes;
}

/* A content-length over the limit: answered before the request is admitted. */
static bool is_declared_body_too_large(const struct sl_request *req)
{
    uint32_t limit = body_limit(req);
    return limit != 0 && req->declared_body_bytes > (int64_t)limit;
}

static void refuse_large_body(struct sl_request *req)
{
    req->plane->stats->bodies_too_large++;
    respond_locally(req, SL_CAUSE_POLICY, 413, "413 content too large\n");
}

/* The content-length's value; INT64_MAX past it, -1 when absent or not a number. */
static int64_t declared_length(const char *length)
{
    if (length == NULL || *length < '0' || *length > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(length, &end, 10);
    if (*end != '\0')
        return -1;
    return errno == ERANGE || n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

static bool is_name(const nghttp2_nv *nv, const char *name, size_t len)
{
    return memcmp(nv->name, name, len) == 0;
}

/* Where the first field of a name sluice reads itself goes, or NULL. */
static const char **head_field_slot(struct sl_request *req, const nghttp2_nv *nv, const char **host,
                                    const char **length)
{
    switch (nv->namelen) {
    case 4:
        return is_name(nv, "host", 4) ? host : NULL;
    case 5:
        return is_name(nv, ":path", 5) ? &req->path : NULL;
    case 7:
        return is_name(nv, ":method", 7) ? &req->method : NULL;
    case 10:
        return is_name(nv, ":authority", 10) ? &req->authority : NULL;
    case 14:
        return is_name(nv, "content-length", 14) ? length : NULL;
    default:
        return NULL;
    }
}

static bool is_config_name(const nghttp2_nv *nv, const struct sl_string *name)
{
    return name->len > 0 && nv->namelen == name->len && is_name(nv, name->text, name->len);
}

/* One pass over the head, not a search per name (five of them took 0.8k
 * instructions a request, and the two budget fields 0.2k more). */
static void note_head_fields(struct sl_request *req)
{
    const struct sl_config *cfg = cfg_of(req);
    const char *host = NULL, *length = NULL;
    req->method = req->path = req->authority = req->asked_budget = NULL;
    req->has_forward_budget = false;
    for (size_t i = 0; i < req->fields.count; i++) {
        const nghttp2_nv *nv = &req->fields.items[i];
        const char **slot = head_field_slot(req, nv, &host, &length);
        if (slot == NULL && is_config_name(nv, &cfg->budget_header))
            slot = &req->asked_budget;
        if (slot != NULL && *slot == NULL)
            *slot = (const char *)nv->value;
        req->has_forward_budget |= is_config_name(nv, &cfg->forward_budget_header);
    }
    if (req->authority == NULL)
        req->authority = host;
    req->declared_body_bytes = declared_length(length);
    req->is_head_done = true;
}

void sl_request_on_head_done(struct sl_request *req, bool has_body)
{
    if (req->is_awaiting_head) {
        req->is_awaiting_head = false;
        sl_timer_stop(&req->timer);
    }
    req->is_ended = !has_body;
    if (req->is_too_large) {
        req->plane->stats->heads_too_large++;
        respond_locally(req, SL_CAUSE_POLICY, 431, "431 request header fields too large\n");
        return;
    }
    note_head_fields(req);
    const char *method = req->method;
    if (method != NULL && strcmp(method, "CONNECT") == 0) {
        respond_locally(req, SL_CAUSE_POLICY, 501,
                        "501 not implemented: sluice does not tunnel CONNECT\n");
        return;
    }
    req->is_head_method = method != NULL && strcmp(method, "HEAD") == 0;
    req->is_idempotent = method != NULL && is_idempotent_method(method);
    classify(req);
    if (is_declared_body_too_large(req)) {
        refuse_large_body(req);
        return;
    }
    if (req->has_forward_budget) /* only sluice writes it, or a client could fake it */
        sl_header_list_remove(&req->fields, cfg_of(req)->forward_budget_header.text);
    int rv = pool_of(req)->ops->prepare(req);
    if (rv == SL_EINVALID) {
        respond_locally(req, SL_CAUSE_POLICY, 400, "400 bad request\n");
        return;
    }
    if (rv < 0) {
        note_end(req, SL_CAUSE_RESOURCE, SL_PHASE_HEAD);
        req->state = SL_REQ_DONE;
        reset_exchange(req, SL_RESET_REFUSED);
        return;
    }
    admit(req);
}

/* Credit for body bytes the upstream will never take. */
static void discard_body(struct sl_request *req, size_t len)
{
    req->front->ops->consume(req->front, req, len);
}

/* Into held_body while it has room and nothing waits in pending_body (which
 * would come first). */
static bool hold_body(struct sl_request *req, const uint8_t *data, size_t len)
{
    size_t room = (size_t)req->declared_body_bytes; /* holds_head: above 0 */
    if (!req->is_head_held || evbuffer_get_length(req->pending_body) > 0 ||
        len > room - req->held_len)
        return false;
    if (req->held_body == NULL && (req->held_body = sl_arena_alloc(req->arena, room)) == NULL)
        return false;
    memcpy(req->held_body + req->held_len, data, len);
    req->held_len += len;
    return true;
}

/* Body bytes that wait for the request's head to go out. */
static void keep_body(struct sl_request *req, const uint8_t *data, size_t len)
{
    if (!hold_body(req, data, len) && evbuffer_add(req->pending_body, data, len) != 0) {
        discard_body(req, len);
        respond_locally(req, SL_CAUSE_RESOURCE, 503, "503 service unavailable: out of memory\n");
        return;
    }
    req->unconsumed_bytes += len;
}

void sl_request_on_body(struct sl_request *req, const uint8_t *data, size_t len)
{
    req->outcome.bytes_in += len;
    if (req->state != SL_REQ_DONE && body_limit(req) != 0 &&
        req->outcome.bytes_in > body_limit(req))
        refuse_large_body(req); /* then DONE: this and the rest are dropped */
    switch (req->state) {
    case SL_REQ_QUEUED:
    case SL_REQ_WAITING:
        keep_body(req, data, len);
        break;
    case SL_REQ_FORWARD:
        if (req->is_head_held) {
            keep_body(req, data, len);
            update_stall_timer(req);
            break;
        }
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
    if (req->state != SL_REQ_FORWARD)
        return;
    if (req->is_head_held) {
        req->is_head_held = false;
        send_request(req);
    } else {
        send_end(req);
    }
    update_stall_timer(req);
}

void sl_request_on_upstream_drained(struct sl_request *req)
{
    if (req->unconsumed_bytes == 0)
        return;
    req->front->ops->consume(req->front, req, req->unconsumed_bytes);
    req->unconsumed_bytes = 0;
    update_stall_timer(req); /* the client can send again */
}

/* --- the response --- */

struct sl_upstream_response *sl_request_response(struct sl_request *req)
{
    return &req->response;
}

static void relay_upstream_head(struct sl_request *req)
{
    struct sl_upstream_response *resp = &req->response;
    /* the head arrived: the backend has the request, a retry is off the table */
    req->is_replayable = false;
    evbuffer_drain(req->replay, evbuffer_get_length(req->replay));
    req->outcome.is_from_upstream = true;
    if (add_decision_field(req, &resp->headers) != 0 || send_response_head(req) != 0) {
        char who[128];
        SL_WARN("%s backend %s: response head with status %u cannot be relayed",
                sl_request_describe(req, who, sizeof(who)), req->backend->name, resp->status);
        respond_locally(req, SL_CAUSE_UPSTREAM, 502,
                        "502 bad gateway: invalid response from the backend\n");
    }
}

/* Stops reading from the backend while the client is slower than it. */
static void apply_backpressure(struct sl_request *req)
{
    if (req->upconn == NULL || req->is_upstream_paused)
        return;
    if (evbuffer_get_length(req->response.body) >= cfg_of(req)->response_buffer_bytes) {
        req->plane->stats->response_pauses++;
        req->is_upstream_paused = true;
        req->upconn->ops->pause(req->upconn, req, true);
        update_stall_timer(req);
    }
}

void sl_request_on_upstream_progress(struct sl_request *req)
{
    struct sl_upstream_response *resp = &req->response;
    if (resp->is_complete) {
        req->outcome.response_end_ns = sl_clock_ns();
        leave_admission(req, SL_SAMPLE_OK, req->outcome.response_end_ns);
        req->state = SL_REQ_DONE;
        req->upconn = NULL; /* the connection detached itself */
        req->is_upstream_paused = false;
        return_credit(req); /* body the backend did not wait for */
    }
    if (!req->is_submitted) {
        if (!resp->is_head_complete)
            return;
        sl_pool_note_success(req->server);
        relay_upstream_head(req);
    } else {
        req->front->ops->resume_body(req->front, req);
    }
    apply_backpressure(req);
    update_stall_timer(req);
}

/* A stream the backend refused unprocessed, or a kept-alive connection that broke
 * before any response byte (the backend closed it as sluice reused it, most
 * likely, but it may have taken the request first: only an idempotent one goes
 * again, unless the backend allows more). A timeout is not retried, since the
 * backend may be working on the request. */
static bool can_retry(const struct sl_request *req, enum sl_upstream_failure what, bool was_reused)
{
    if (req->response.has_bytes || !req->is_replayable)
        return false;
    if (what == SL_UPSTREAM_REFUSED)
        return req->refusals < SL_MAX_REFUSALS;
    bool is_safe_to_repeat = req->is_idempotent || req->backend->retry_non_idempotent;
    return what == SL_UPSTREAM_BROKEN && was_reused && !req->has_retried && is_safe_to_repeat;
}

static void retry(struct sl_request *req, enum sl_upstream_failure what)
{
    char who[128];
    /* refusals are routine (a backend's GOAWAY refuses the streams past its last) */
    bool is_refused = what == SL_UPSTREAM_REFUSED;
    SL_LOG(is_refused ? SL_LOG_DEBUG : SL_LOG_INFO, "%s backend %s %s before answering; retrying%s",
           sl_request_describe(req, who, sizeof(who)), req->backend->name,
           is_refused ? "refused the stream" : "closed a kept-alive connection",
           is_refused ? "" : " once");
    if (is_refused)
        req->refusals++;
    else
        req->has_retried = true;
    req->is_end_sent = false;
    /* rare, and at most SL_REPLAY_MAX_BYTES: one contiguous copy */
    if (evbuffer_get_length(req->replay) > 0 && evbuffer_pullup(req->replay, -1) == NULL) {
        respond_locally(req, SL_CAUSE_RESOURCE, 502, "502 bad gateway: the backend failed\n");
        return;
    }
    req->state = SL_REQ_HEADERS;
    /* a connection that broke may have stale siblings; a refusing one takes no more */
    int err = sl_pool_acquire(pool_of(req), req, !is_refused);
    start_queue_timer(req);
    if (err < 0)
        fail_connect(req, err);
}

static const char *failure_text(enum sl_upstream_failure what)
{
    switch (what) {
    case SL_UPSTREAM_CONNECT:
        return "connect";
    case SL_UPSTREAM_TIMEOUT:
        return "timeout";
    case SL_UPSTREAM_BROKEN:
        return "connection broken";
    case SL_UPSTREAM_REFUSED:
        return "refused";
    case SL_UPSTREAM_PROTOCOL:
        break;
    }
    return "bad response";
}

void sl_request_on_upstream_failure(struct sl_request *req, enum sl_upstream_failure what,
                                    bool was_reused)
{
    req->upconn = NULL;
    req->is_upstream_paused = false;
    /* a refusal is the server's flow control, and a kept-alive connection it
     * closed as sluice reused it is routine: neither says it is unwell */
    bool is_routine = what == SL_UPSTREAM_REFUSED || (what == SL_UPSTREAM_BROKEN && was_reused);
    if (can_retry(req, what, was_reused)) {
        retry(req, what);
        return;
    }
    leave_admission(req, SL_SAMPLE_DROP, sl_clock_ns());
    char who[128];
    SL_WARN("%s backend %s: request failed (%s)", sl_request_describe(req, who, sizeof(who)),
            req->backend->name, failure_text(what));
    if (req->server != NULL && !is_routine)
        sl_pool_note_failure(req->server);
    if (what == SL_UPSTREAM_CONNECT)
        note_end(req, SL_CAUSE_UPSTREAM, SL_PHASE_CONNECT);
    /* once the head went out, this resets the stream (RFC 9113 §8.1) */
    if (what == SL_UPSTREAM_TIMEOUT)
        respond_locally(req, SL_CAUSE_UPSTREAM_TIMEOUT, 504,
                        "504 gateway timeout: the backend did not answer in time\n");
    else
        respond_locally(req, SL_CAUSE_UPSTREAM, 502, "502 bad gateway: the backend failed\n");
}

/* --- the end --- */

/* A client that stalls the exchange holds a backend connection: let it go. */
static void abandon_stalled(struct sl_request *req, const char *what)
{
    char who[128];
    SL_INFO("%s client %s for %u ms; resetting the stream",
            sl_request_describe(req, who, sizeof(who)), what, cfg_of(req)->client_idle_timeout_ms);
    note_end(req, SL_CAUSE_CLIENT_TIMEOUT, phase_now(req));
    detach_upstream(req);
    return_credit(req);
    req->state = SL_REQ_DONE;
    reset_exchange(req, SL_RESET_CANCEL);
}

/* The backend (or a free connection to it) did not come in time. */
static void answer_backend_timeout(struct sl_request *req, const char *what, const char *answer)
{
    char who[128];
    SL_WARN("%s backend %s: %s within %u ms", sl_request_describe(req, who, sizeof(who)),
            req->backend->name, what, req->backend->response_timeout_ms);
    leave_admission(req, SL_SAMPLE_DROP, sl_clock_ns());
    respond_locally(req, SL_CAUSE_UPSTREAM_TIMEOUT, 504, answer);
}

static void on_timer(void *arg)
{
    struct sl_request *req = arg;
    char who[128];
    if (req->is_awaiting_head) {
        req->is_awaiting_head = false;
        SL_INFO("%s client sent no complete head for %u ms; resetting the stream",
                sl_request_describe(req, who, sizeof(who)), cfg_of(req)->client_header_timeout_ms);
        note_end(req, SL_CAUSE_CLIENT_TIMEOUT, SL_PHASE_HEAD);
        req->state = SL_REQ_DONE;
        reset_exchange(req, SL_RESET_CANCEL);
    } else if (req->is_write_failed && req->state == SL_REQ_DONE) {
        req->is_write_failed = false; /* the exchange ended meanwhile */
        update_stall_timer(req);
    } else if (req->is_write_failed) {
        req->is_write_failed = false;
        SL_ERROR("%s backend %s: out of memory queueing the request",
                 sl_request_describe(req, who, sizeof(who)), req->backend->name);
        leave_admission(req, SL_SAMPLE_NONE, 0);
        respond_locally(req, SL_CAUSE_RESOURCE, 503, "503 service unavailable: out of memory\n");
    } else if (req->state == SL_REQ_QUEUED) {
        sl_admission_cancel(&gate_of(req)->admission, &req->admission);
        sl_request_shed(req, req->expiry_reason);
    } else if (req->state == SL_REQ_WAITING) {
        answer_backend_timeout(req, "no connection became free",
                               "504 gateway timeout: the backend is saturated\n");
    } else if (is_clients_turn(req)) {
        abandon_stalled(req, req->is_ended || req->state == SL_REQ_DONE
                                 ? "read none of the response"
                                 : "sent no request body");
    } else if (is_awaiting_response_head(req)) {
        if (req->server != NULL)
            sl_pool_note_failure(req->server);
        answer_backend_timeout(req, "no response head",
                               "504 gateway timeout: the backend did not answer in time\n");
    }
}

/* What the front saw completes the outcome: a request it closed before the
 * end was ended by the client (or the shutdown), unless sluice ended it first. */
static void complete_outcome(struct sl_request *req, enum sl_request_end how)
{
    bool is_whole = how == SL_END_CLOSED && req->state == SL_REQ_DONE && req->is_submitted &&
                    req->response.is_complete && evbuffer_get_length(req->response.body) == 0;
    if (is_whole || req->outcome.cause != SL_CAUSE_NONE)
        return;
    note_end(req, how == SL_END_SHUTDOWN ? SL_CAUSE_SHUTDOWN : SL_CAUSE_CLIENT, phase_now(req));
}

void sl_request_finish(struct sl_request *req, enum sl_request_end how)
{
    if (how != SL_END_CLOSED && req->state != SL_REQ_DONE) {
        char who[128];
        SL_INFO("%s closed before the response ended", sl_request_describe(req, who, sizeof(who)));
    }
    complete_outcome(req, how);
    req->plane->request_count--;
    detach_upstream(req);
    return_credit(req);
    sl_outcome_publish(req->plane, &req->outcome);
    sl_access_record(req);
    request_recycle(req);
}
