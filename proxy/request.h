/* One proxied request: an HTTP/2 stream on a front connection bridged to an
 * HTTP/1.1 exchange on an upstream connection.
 *
 * States (in order; a request may jump to DONE from any of them):
 *   HEADERS   receiving the request head from the client
 *   QUEUED    head complete and classified, waiting in its backend's admission
 *             queue (gate.h) for a slot under the backend's concurrency limit
 *   WAITING   admitted, waiting in the pool for an upstream connection
 *   FORWARD   attached to an upstream connection, request and response flowing
 *   DONE      upstream side finished (response complete, failed, or answered
 *             locally); the stream may still be sending buffered data
 * Invariants: upconn is set only in FORWARD; the request is on the pool's wait
 * list only in WAITING; admission.is_queued only in QUEUED; admission.is_inflight
 * from admission until the response ends, fails, or the request is freed.
 *
 * Owned by its front session; freed only by sl_request_on_stream_close() (or
 * sl_request_free() when the front goes away), which detaches it from the
 * upstream connection or the pool first. Borrows: front, upconn, backend. */
#ifndef SL_REQUEST_H
#define SL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <nghttp2/nghttp2.h>

#include "admission.h"
#include "headers.h"

struct event;
struct evbuffer;
struct sl_front;
struct sl_upconn;
struct sl_worker;

/* What the attached upstream connection parsed so far; written by the
 * connection's parser callbacks, read by the request at the edge. */
struct sl_upstream_response {
    unsigned status;
    struct sl_header_list headers;
    struct evbuffer *body; /* parsed body bytes not yet taken by nghttp2 */
    bool is_head_complete;
    bool is_complete;
    bool has_bytes; /* any response byte arrived: the request cannot be replayed */
};

enum sl_upstream_failure {
    SL_UPSTREAM_CONNECT,  /* refused, unreachable, or connect timeout: 502 */
    SL_UPSTREAM_TIMEOUT,  /* no response within response_timeout_ms: 504 */
    SL_UPSTREAM_BROKEN,   /* closed or reset mid-exchange: 502 or RST_STREAM */
    SL_UPSTREAM_PROTOCOL, /* unparsable response: 502 or RST_STREAM */
};

enum sl_request_state {
    SL_REQ_HEADERS,
    SL_REQ_QUEUED,
    SL_REQ_WAITING,
    SL_REQ_FORWARD,
    SL_REQ_DONE,
};

struct sl_request {
    struct sl_front *front;
    struct sl_worker *worker;
    int32_t stream_id;
    enum sl_request_state state;
    struct sl_arena *arena;      /* owned; reset when the object is recycled */
    struct sl_header_list fields; /* as received, pseudo-headers first */
    const struct sl_backend_config *backend;
    unsigned class_index;        /* in cfg->classes, chosen by the rules */
    uint64_t arrival_ns;         /* the stream opened; deadlines count from here */
    struct sl_admission_entry admission; /* in the backend's gate while queued or in flight */
    enum sl_shed_reason expiry_reason;   /* what it is shed for if the queue timer fires */
    enum sl_shed_reason shed_reason;     /* valid when is_shed */
    struct sl_upconn *upconn;    /* borrowed from the pool while FORWARD */
    struct sl_upstream_response response;
    struct evbuffer *pending_body; /* body received while QUEUED or WAITING */
    struct evbuffer *replay;       /* body bytes sent upstream, kept for one retry */
    struct event *timer;           /* owned: queueing limit, or a stalled client */
    size_t unconsumed_bytes;       /* body bytes not yet credited to the client */
    const char *head;              /* the HTTP/1.1 request head (arena) */
    size_t head_len;
    bool is_chunked;
    bool is_ended;        /* the client sent END_STREAM */
    bool is_end_sent;     /* the upstream was told the body ended */
    bool is_too_large;    /* the head passed max_request_header_bytes */
    bool is_replayable;   /* replay holds everything sent so far */
    bool has_retried;
    bool is_head_method;
    bool is_submitted;    /* response HEADERS submitted to nghttp2 */
    bool is_upstream_paused;
    bool is_shed;
    TAILQ_ENTRY(sl_request) in_front; /* the front's open requests */
    TAILQ_ENTRY(sl_request) in_pool;  /* the pool's wait list, WAITING only */
    struct sl_request *next_free;     /* the worker's free list */
};
TAILQ_HEAD(sl_request_list, sl_request);

/* --- called by the front session --- */

/* A request object for a new stream, from the worker's free list when it has one;
 * NULL when out of memory (the caller refuses the stream). */
struct sl_request *sl_request_new(struct sl_front *front, int32_t stream_id);

/* Stores one request field. Returns 0, or SL_ETOOBIG once the head exceeds
 * max_request_header_bytes (the request is then answered 431), or SL_ENOMEM. */
int sl_request_on_header(struct sl_request *req, const uint8_t *name, size_t name_len,
                         const uint8_t *value, size_t value_len);

/* The head is complete; has_body is false when it ended the stream. Routes the
 * request and forwards it, or answers it locally. */
void sl_request_on_head_done(struct sl_request *req, bool has_body);

/* Request body bytes from a DATA frame; flow-control credit is returned to the
 * client once the upstream has taken them. */
void sl_request_on_body(struct sl_request *req, const uint8_t *data, size_t len);

/* The client ended the stream (END_STREAM after the head). */
void sl_request_on_end(struct sl_request *req);

/* The stream closed: frees the request. */
void sl_request_on_stream_close(struct sl_request *req, uint32_t error_code);

/* Frees a request whose front is going away without closing its stream. */
void sl_request_free(struct sl_request *req);

/* --- called by the admission gate --- */

/* The gate took the request out of its queue and gave it a slot: forward it. */
void sl_request_on_admitted(struct sl_request *req);

/* Answers the request with its class's shed answer (or REFUSED_STREAM), and
 * counts it under reason. The request must not be queued nor in flight. */
void sl_request_shed(struct sl_request *req, enum sl_shed_reason reason);

/* --- called by the pool and the upstream connection --- */

/* The pool hands a connection to a request it had queued or asked for. */
void sl_request_attach(struct sl_request *req, struct sl_upconn *conn);

struct sl_upstream_response *sl_request_response(struct sl_request *req);

/* New response bytes were parsed (head, body, or the end); on the end the
 * connection has already been detached from the request. */
void sl_request_on_upstream_progress(struct sl_request *req);

/* The upstream connection failed; it has already been detached and will be
 * closed. was_reused says it had served a request before this one. */
void sl_request_on_upstream_failure(struct sl_request *req, enum sl_upstream_failure what,
                                    bool was_reused);

/* The upstream connection's output drained: return flow-control credit. */
void sl_request_on_upstream_drained(struct sl_request *req);

/* Text for logs: "conn=ID stream=SID peer=ADDR". */
const char *sl_request_describe(const struct sl_request *req, char *buf, size_t len);

/* Returns the worker's recycled request objects to the heap (at worker exit). */
void sl_request_free_list_clear(struct sl_worker *w);

#endif
