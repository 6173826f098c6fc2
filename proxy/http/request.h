/* One proxied request, whatever the protocols on either side: its lifecycle,
 * classification, admission, timers and retry decision. It reaches its client
 * only through its front's ops (front.h) and its backend only through its
 * upstream connection's ops (upstream.h), and it leaves through one exit,
 * sl_request_finish(), which hands its outcome (outcome.h) to the stats.
 *
 * States (in order; a request may jump to DONE from any of them):
 *   HEADERS   receiving the request head from the client
 *   QUEUED    head complete and classified, waiting in its backend's admission
 *             queue (gate.h) for a slot under the backend's concurrency limit
 *   WAITING   admitted, waiting in the pool for an upstream stream
 *   FORWARD   attached to an upstream connection, request and response flowing
 *   DONE      upstream side finished (response complete, failed, or answered
 *             locally); the front may still be sending buffered data
 * Invariants: upconn is set only in FORWARD; the request is on the pool's wait
 * list only in WAITING; admission.is_queued only in QUEUED; admission.is_inflight
 * from admission until the response ends, fails, or the request is freed.
 *
 * Owned by its front; freed only by sl_request_finish(), which detaches it from
 * the upstream connection or the pool first. Borrows: front, upconn, backend. */
#ifndef SL_REQUEST_H
#define SL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "admission.h"
#include "headers.h"
#include "outcome.h"
#include "timer.h"

struct event;
struct evbuffer;
struct sl_front;
struct sl_plane;
struct sl_server;
struct sl_upconn;

/* What the attached upstream connection parsed so far; written by the
 * connection's parser callbacks, read by the request at the edge. The fields
 * are as the backend sent them: the front translates them for its client. */
struct sl_upstream_response {
    unsigned status;
    struct sl_header_list headers;
    struct evbuffer *body; /* parsed body bytes not yet taken by the front */
    bool is_head_complete;
    bool is_complete;
    bool has_bytes; /* any response byte arrived: the request cannot be replayed */
};

enum sl_upstream_failure {
    SL_UPSTREAM_CONNECT,  /* refused, unreachable, or connect timeout: 502 */
    SL_UPSTREAM_TIMEOUT,  /* no response within response_timeout_ms: 504 */
    SL_UPSTREAM_BROKEN,   /* closed or reset mid-exchange: 502 or a reset */
    SL_UPSTREAM_PROTOCOL, /* unparsable response: 502 or a reset */
    SL_UPSTREAM_REFUSED,  /* the backend refused the stream unprocessed (HTTP/2
                           * REFUSED_STREAM, or above a GOAWAY's last stream): retried */
};

/* Retries of a refused stream at most (RFC 9113 §8.7: it is safe, the backend
 * did not process it); beyond, the client gets 502. */
#define SL_MAX_REFUSALS 3

enum sl_request_state {
    SL_REQ_HEADERS,
    SL_REQ_QUEUED,
    SL_REQ_WAITING,
    SL_REQ_FORWARD,
    SL_REQ_DONE,
};

/* The request head as the backend's protocol sends it, made once by the
 * protocol's prepare op (upstream.h) in the request's arena. */
struct sl_prepared_head {
    void *data; /* HTTP/1.1: the head's text; h2c: an nghttp2_nv array with room
                 * for one more field after its len fields */
    size_t len;
    bool is_chunked; /* HTTP/1.1: the body goes out in chunks */
    bool has_body;   /* h2c: a body follows the head (no END_STREAM on it) */
};

/* How the front saw the request end (sl_request_finish). */
enum sl_request_end {
    SL_END_CLOSED,   /* the exchange ended as the protocol intends */
    SL_END_RESET,    /* the client reset it, or the front had to */
    SL_END_ABORTED,  /* the connection went away with the request open */
    SL_END_SHUTDOWN, /* the worker closed the connection (drain timeout) */
};

struct sl_request {
    struct sl_front *front;
    struct sl_plane *plane;
    int32_t stream_id;
    enum sl_request_state state;
    struct sl_arena *arena;       /* owned; reset when the object is recycled */
    struct sl_header_list fields; /* as received, pseudo-headers first */
    /* Borrowed from fields once the head is done (is_head_done), for the rules
     * and the access log; each NULL when absent. */
    const char *method;
    const char *path;
    const char *authority;       /* :authority, else the first Host */
    const char *asked_budget;    /* the first budget_header field's value */
    int64_t declared_body_bytes; /* its content-length; -1: none, or unreadable */
    bool has_forward_budget;     /* the client sent a forward_budget_header field */
    const struct sl_backend_config *backend;
    unsigned class_index;                /* in cfg->classes, chosen by the rules */
    struct sl_admission_entry admission; /* in the backend's gate while queued or in flight */
    enum sl_shed_reason expiry_reason;   /* what it is shed for if the queue timer fires */
    struct sl_upconn *upconn;            /* borrowed from the pool while FORWARD */
    struct sl_server *server;            /* the last server it was sent to; the pool's */
    void *exchange;                      /* upconn's own state of this exchange (h2c: the
                                          * stream), set and cleared by upconn */
    struct sl_prepared_head prepared;
    struct sl_upstream_response response;
    struct sl_outcome outcome;     /* filled in as the request goes */
    struct evbuffer *pending_body; /* body received while QUEUED or WAITING */
    /* The small body a held head waits for (is_head_held), in the arena: it
     * is copied once more, with the head, where pending_body would take a
     * chain of its own. At most declared_body_bytes. */
    uint8_t *held_body;
    size_t held_len;
    struct evbuffer *replay; /* body bytes sent upstream, kept for one retry */
    struct sl_timer timer;   /* queueing limit, a deadline, or a stalled client */
    size_t unconsumed_bytes; /* body bytes not yet credited to the client */
    bool is_ended;           /* the client sent the whole body */
    bool is_end_sent;        /* the upstream was told the body ended */
    bool is_too_large;       /* the head passed max_request_header_bytes */
    bool is_replayable;      /* replay holds everything sent so far */
    bool has_retried;        /* after a broken kept-alive connection: once only */
    uint8_t refusals;        /* streams the backend refused unprocessed, each retried */
    bool is_head_done;
    bool is_head_held; /* attached: the head waits for its small body (sl_request_attach) */
    bool is_head_method;
    bool is_idempotent; /* RFC 9110 §9.2.2: a second copy would do no harm */
    bool is_submitted;  /* the response head went to the front */
    bool is_upstream_paused;
    bool is_write_failed;             /* the upstream could not queue a write: the timer answers */
    bool is_awaiting_head;            /* the timer is the head's deadline */
    uint64_t response_head_due_ns;    /* the request was all sent: its answer's deadline */
    TAILQ_ENTRY(sl_request) in_front; /* the front's open requests */
    TAILQ_ENTRY(sl_request) in_pool;  /* the pool's wait list, WAITING only */
    struct sl_request *next_free;     /* the plane's free list */
};
TAILQ_HEAD(sl_request_list, sl_request);

/* --- called by the front --- */

/* A request object for a new stream, from the plane's free list when it has
 * one; NULL when out of memory (the caller refuses the stream). */
struct sl_request *sl_request_new(struct sl_front *front, int32_t stream_id);

/* The head arrives in pieces (HTTP/2 HEADERS and CONTINUATION frames): it must
 * be complete within client_idle_timeout_ms, or the exchange is reset. */
void sl_request_await_head(struct sl_request *req);

/* Stores one request field whose name is lowercase, as HTTP/2 requires (and
 * nghttp2 checks). Returns 0, or SL_ETOOBIG once the head exceeds
 * max_request_header_bytes (the request is then answered 431), or SL_ENOMEM. */
int sl_request_on_header(struct sl_request *req, const uint8_t *name, size_t name_len,
                         const uint8_t *value, size_t value_len);

/* The same for an HTTP/1.1 field, whose name is stored lowercased, as rules
 * match it and HTTP/2 carries it. */
int sl_request_on_h1_header(struct sl_request *req, const char *name, size_t name_len,
                            const char *value, size_t value_len);

/* The head is complete; has_body is false when nothing follows it. Routes the
 * request and forwards it, or answers it locally. */
void sl_request_on_head_done(struct sl_request *req, bool has_body);

/* Request body bytes; flow-control credit is returned to the client (the
 * front's consume op) once the upstream has taken them. */
void sl_request_on_body(struct sl_request *req, const uint8_t *data, size_t len);

/* The client sent the whole body. */
void sl_request_on_end(struct sl_request *req);

/* Copies up to len bytes of response body into buf for the front. Returns the
 * count; *is_end is set once the response is complete and all of it taken. 0
 * without *is_end: nothing yet, the front's resume_body op says when. */
size_t sl_request_take_body(struct sl_request *req, uint8_t *buf, size_t len, bool *is_end);

/* The front answered the request itself with status (a head it could not
 * read, or a refusal its protocol cannot express): the outcome says so. */
void sl_request_answered_by_front(struct sl_request *req, unsigned status);

/* Hands the request, head complete and not yet routed, to another front as
 * stream_id (an HTTP/1.1 connection upgraded to h2c). */
void sl_request_move(struct sl_request *req, struct sl_front *front, int32_t stream_id);

/* The one exit: the front is done with the request (how says why). Detaches
 * it from the upstream, records its outcome, and frees it. */
void sl_request_finish(struct sl_request *req, enum sl_request_end how);

/* --- called by the admission gate --- */

/* The gate took the request out of its queue and gave it a slot: forward it. */
void sl_request_on_admitted(struct sl_request *req);

/* Answers the request with its class's shed answer (or a refusal), and
 * counts it under reason. The request must not be queued nor in flight. */
void sl_request_shed(struct sl_request *req, enum sl_shed_reason reason);

/* --- called by the pool and the upstream connection --- */

/* The pool lends req a stream of conn. */
void sl_request_attach(struct sl_request *req, struct sl_upconn *conn);

struct sl_upstream_response *sl_request_response(struct sl_request *req);

/* New response bytes were parsed (head, body, or the end); on the end the
 * connection has already been detached from the request. */
void sl_request_on_upstream_progress(struct sl_request *req);

/* The exchange failed (the connection, or just this stream); the connection
 * has already detached it. was_reused says the connection had served a
 * request before this one. */
void sl_request_on_upstream_failure(struct sl_request *req, enum sl_upstream_failure what,
                                    bool was_reused);

/* The upstream connection's output drained: return flow-control credit. */
void sl_request_on_upstream_drained(struct sl_request *req);

/* Text for logs: "conn=ID stream=SID peer=ADDR". */
const char *sl_request_describe(const struct sl_request *req, char *buf, size_t len);

/* Returns the plane's recycled request objects to the heap (at worker exit). */
void sl_request_free_list_clear(struct sl_plane *p);

#endif
