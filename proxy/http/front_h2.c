#include "front_h2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "front.h"
#include "front_io.h"
#include "h2_mem.h"
#include "h2_request.h"
#include "headers.h"
#include "indexing.h"
#include "log.h"
#include "plane.h"
#include "request.h"
#include "timer.h"

/* Frames are generated only while less than this is waiting for the socket, so a
 * client that does not read cannot make sluice buffer without bound. */
#define SL_FRONT_OUTPUT_HIGH_BYTES (64 * 1024)
/* The connection-level receive window, in stream windows, and the request-body
 * bytes a connection may hold that no upstream has taken yet: several uploads
 * can progress at once while the total buffered stays bounded. */
#define SL_CONNECTION_WINDOW_STREAMS 4

/* One HTTP/2 client connection: the front (front.h) of the requests on its
 * streams. The request's view of it is h2_ops; its own loop is libevent's
 * callbacks (its bufferevent's and its read event), where
 * alone it is freed. */
struct front_h2 {
    struct sl_front base;     /* first: what requests and the plane see */
    struct bufferevent *bev;  /* its output and write event (front_io.h) */
    struct event *read_event; /* reads the socket itself (front_io.h) */
    nghttp2_session *session;
    struct event *flush_event;       /* runs flush() on the next loop turn */
    struct sl_timer idle_timer;      /* armed while no request is open; reads do not move it */
    struct sl_request_list requests; /* open streams that have a request */
    bool is_closing;                 /* drop the connection at the next edge */
    bool is_finishing;               /* close once the output has drained */
    bool is_idle;                    /* no open request: the idle timeout is armed */
    bool has_timed_out;              /* the idle timeout sent GOAWAY once already */
    bool is_draining;                /* the drain began; the GOAWAY has not gone yet */
    /* A read is being parsed, and its callback ends in flush(): what the
     * parse schedules goes out then, without a turn of the loop of its own */
    bool is_flush_coming;
    /* Frames that did no work (note_glitch), and when their count was last
     * halved (sl_clock_coarse_ns, as is the penalty box). */
    uint32_t glitches;
    uint64_t glitches_halved_ns;
    uint32_t glitch_limit; /* worked out at the first glitch; 0 before */
    bool is_data_sent;     /* DATA went out since the client's last WINDOW_UPDATE */
    bool is_settings_seen; /* the client's first SETTINGS came */
    bool is_calmed;        /* GOAWAY ENHANCE_YOUR_CALM is queued: input is dropped */
    size_t block_bytes;    /* decoded so far from the header block being read */
    int32_t block_stream;  /* the stream whose header block is not complete yet, or 0 */
    /* block_stream's request while its head or trailers are read, else NULL:
     * the fields come one callback each, and a lookup of the stream for each
     * was nearly 2% of a request */
    struct sl_request *block_request;
    struct sl_h2_request_check block_check; /* RFC 9113 §8 on block_request's fields */
    bool is_block_malformed;                /* its stream is reset once the block ends */
    /* Body bytes received and not yet taken by an upstream (or dropped), and the
     * connection-window credit not yet returned for them: see credit_connection. */
    size_t held_bytes;
    size_t connection_debt;
    struct sl_indexing_memory indexing; /* which response fields HPACK indexes */
};

static struct front_h2 *h2_of(struct sl_front *f)
{
    return (struct front_h2 *)f;
}

static const struct sl_config *cfg_of(const struct front_h2 *front)
{
    return front->base.plane->cfg;
}

/* The idle timeout runs only while no request is open: a client waiting on a slow
 * backend is not idle, and one that only sends PINGs or SETTINGS is. A timer,
 * not a read timeout, so that such frames do not push it back. */
static void arm_idle_timer(struct front_h2 *front)
{
    sl_timer_arm_ms(&front->idle_timer, sl_front_idle_ms(&front->base, front->is_draining));
}

static void update_idle_timeout(struct front_h2 *front)
{
    if (front->is_calmed)
        return; /* its timer only waits for the GOAWAY to leave */
    bool is_idle = TAILQ_EMPTY(&front->requests);
    if (is_idle == front->is_idle)
        return;
    front->is_idle = is_idle;
    if (is_idle)
        arm_idle_timer(front);
    else
        sl_timer_stop(&front->idle_timer);
}

/* RFC 9113 §6.8: no new streams; those up to the last processed will be answered. */
static void submit_goaway(struct front_h2 *front)
{
    front->is_draining = false;
    nghttp2_submit_goaway(front->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(front->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
}

/* The drain sends no GOAWAY yet, not even RFC 9113 §6.8's notice: nghttp2's
 * clients (curl, h2load) and others start no stream after any GOAWAY, and many
 * never reopen to send what they had left. The connection is served until it
 * has been idle for SL_DRAIN_IDLE_MS, or until the drain's end draws near. */
static void begin_drain(struct front_h2 *front)
{
    front->is_draining = true;
    if (front->is_idle)
        arm_idle_timer(front); /* now the drain's idle time */
}

static void schedule_flush(struct front_h2 *front)
{
    if (!front->is_flush_coming)
        event_active(front->flush_event, EV_WRITE, 0);
}

/* --- frames that do no work --- */

#define NS_PER_SECOND 1000000000u

/* RFC 9113 §5.4.1's GOAWAY ENHANCE_YOUR_CALM; nothing more is read, and the
 * connection closes once it has left, or a second later. */
static void end_calmly(struct front_h2 *front, const char *why)
{
    SL_INFO("conn=%llu peer=%s: %s; GOAWAY ENHANCE_YOUR_CALM", (unsigned long long)front->base.id,
            front->base.peer, why);
    front->is_calmed = true;
    front->has_timed_out = true; /* the idle timer's next run closes */
    sl_timer_arm_ms(&front->idle_timer, SL_DRAIN_IDLE_MS);
    nghttp2_session_terminate_session(front->session, NGHTTP2_ENHANCE_YOUR_CALM);
    schedule_flush(front);
}

/* An address cut off for glitches gets this share of client_glitch_limit on
 * its connections for this long: an abuser that reconnects at once is cut off
 * after a few frames, not the whole limit again. */
#define SL_GLITCH_PENALTY_DIVISOR 16
#define SL_GLITCH_PENALTY_NS (10 * NS_PER_SECOND)

/* The same, for frames that did no work: counted in the stats, and the
 * address goes in the penalty box. */
static void calm_down(struct front_h2 *front, const char *why)
{
    struct sl_plane *p = front->base.plane;
    p->stats->h2_glitch_closes++;
    const struct sl_ip *ip = sl_front_peer_ip(&front->base);
    if (ip != NULL)
        sl_penalty_add(&p->glitch_penalties, ip, sl_clock_coarse_ns() + SL_GLITCH_PENALTY_NS);
    end_calmly(front, why);
}

static uint32_t glitch_limit_of(struct front_h2 *front, uint64_t now_ns)
{
    if (front->glitch_limit == 0) {
        uint32_t limit = cfg_of(front)->client_glitch_limit;
        const struct sl_ip *ip = sl_front_peer_ip(&front->base);
        bool is_penalized =
            ip != NULL && sl_penalty_has(&front->base.plane->glitch_penalties, ip, now_ns);
        front->glitch_limit = is_penalized && limit >= SL_GLITCH_PENALTY_DIVISOR
                                  ? limit / SL_GLITCH_PENALTY_DIVISOR
                                  : limit;
    }
    return front->glitch_limit;
}

/* The count halves every second, so a client may keep up about half the limit
 * a second (an exchange cancelling its late bids) while a flood is cut off
 * within the limit's count of frames. */
static void note_glitch(struct front_h2 *front)
{
    uint32_t limit = cfg_of(front)->client_glitch_limit;
    if (limit == 0 || front->is_calmed)
        return;
    uint64_t now_ns = sl_clock_coarse_ns();
    uint64_t seconds = (now_ns - front->glitches_halved_ns) / NS_PER_SECOND;
    if (seconds > 0) {
        front->glitches = seconds >= 32 ? 0 : front->glitches >> seconds;
        front->glitches_halved_ns += seconds * NS_PER_SECOND;
    }
    if (++front->glitches > glitch_limit_of(front, now_ns))
        calm_down(front, front->glitch_limit < limit
                             ? "more frames that did no work than its address's reduced "
                               "client_glitch_limit"
                             : "more frames that did no work than client_glitch_limit");
}

static bool is_settings_repeated(struct front_h2 *front, const nghttp2_frame *frame)
{
    if (frame->hd.flags & NGHTTP2_FLAG_ACK)
        return false;
    bool is_repeated = front->is_settings_seen;
    front->is_settings_seen = true;
    return is_repeated;
}

/* A WINDOW_UPDATE credits what sluice sent; one with nothing sent since the
 * last does nothing. */
static bool is_window_update_idle(struct front_h2 *front)
{
    bool is_idle = !front->is_data_sent;
    front->is_data_sent = false;
    return is_idle;
}

static bool does_no_work(struct front_h2 *front, const nghttp2_frame *frame)
{
    const struct sl_request *req;
    switch (frame->hd.type) {
    case NGHTTP2_PING:
        return !(frame->hd.flags & NGHTTP2_FLAG_ACK);
    case NGHTTP2_SETTINGS:
        return is_settings_repeated(front, frame);
    case NGHTTP2_WINDOW_UPDATE:
        return is_window_update_idle(front);
    case NGHTTP2_DATA:
        return frame->hd.length == 0 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
    case NGHTTP2_RST_STREAM:
        req = nghttp2_session_get_stream_user_data(front->session, frame->hd.stream_id);
        return req != NULL && req->state != SL_REQ_DONE;
    default:
        return false;
    }
}

/* --- nghttp2 callbacks: they record and submit, and never free the front --- */

static struct sl_request *request_of(nghttp2_session *session, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(session, stream_id);
}

/* The request leaves its stream, which may stay open a while (a reset
 * queued): what else comes on it finds no request and is dropped. */
static void close_request(struct front_h2 *front, struct sl_request *req, enum sl_request_end how)
{
    nghttp2_session_set_stream_user_data(front->session, req->stream_id, NULL);
    if (front->block_request == req)
        front->block_request = NULL;
    TAILQ_REMOVE(&front->requests, req, in_front);
    sl_request_finish(req, how);
    sl_front_publish_streams(&front->base, 0, 1);
    update_idle_timeout(front);
}

/* RFC 9113 §8.1.1: a malformed request is a stream error of type
 * PROTOCOL_ERROR, and a glitch (nothing is served for it). Its request ends
 * as a reset would end it, before any more of it is forwarded. */
static void reset_malformed(struct front_h2 *front, struct sl_request *req, const char *what)
{
    char who[128];
    SL_INFO("%s malformed %s; resetting the stream", sl_request_describe(req, who, sizeof(who)),
            what);
    note_glitch(front);
    front->base.plane->stats->requests_malformed++;
    nghttp2_submit_rst_stream(front->session, NGHTTP2_FLAG_NONE, req->stream_id,
                              NGHTTP2_PROTOCOL_ERROR);
    close_request(front, req, SL_END_RESET);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct front_h2 *front = user_data;
    front->block_bytes = 0;
    front->block_stream = frame->hd.stream_id;
    front->block_request = NULL;
    front->is_block_malformed = false;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        /* trailers: checked, not forwarded */
        front->block_request = request_of(session, frame->hd.stream_id);
        sl_h2_request_check_init(&front->block_check, true);
        return 0;
    }
    sl_h2_request_check_init(&front->block_check, false);
    struct sl_request *req = sl_request_new(&front->base, frame->hd.stream_id);
    if (req == NULL) {
        SL_ERROR("conn=%llu stream=%d: out of memory; refusing the stream",
                 (unsigned long long)front->base.id, frame->hd.stream_id);
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, req);
    front->block_request = req;
    sl_request_await_head(req); /* HEADERS and CONTINUATION may trickle */
    TAILQ_INSERT_TAIL(&front->requests, req, in_front);
    sl_front_publish_streams(&front->base, 1, 0);
    update_idle_timeout(front);
    return 0;
}

/* An oversized head gets 431, but one that decodes to several times the limit
 * can only be made of references to the dynamic table: a few bytes that cost
 * sluice a field each (HPACK bomb, RFC 7541 §7.3). The connection goes. */
#define SL_HPACK_BOMB_FACTOR 4

static bool is_hpack_bomb(struct front_h2 *front, size_t field_len)
{
    front->block_bytes += field_len + 32; /* RFC 9113 §6.5.2's size */
    size_t limit = SL_HPACK_BOMB_FACTOR * (size_t)cfg_of(front)->max_request_header_bytes;
    if (front->block_bytes <= limit)
        return false;
    calm_down(front, "a header block that decodes to over 4 times max_request_header_bytes");
    return true;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t name_len, const uint8_t *value, size_t value_len, uint8_t flags,
                     void *user_data)
{
    struct front_h2 *front = user_data;
    if (front->is_calmed || is_hpack_bomb(front, name_len + value_len))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* no more of this block */
    struct sl_request *req = front->block_request;
    if (req == NULL || front->is_block_malformed)
        return 0;
    switch (sl_h2_request_check_field(&front->block_check, name, name_len, value, value_len)) {
    case SL_H2_FIELD_MALFORMED:
        front->is_block_malformed = true; /* the rest is decoded, and dropped */
        return 0;
    case SL_H2_FIELD_DROP:
        return 0;
    case SL_H2_FIELD_KEEP:
        break;
    }
    if (front->block_check.is_trailer)
        return 0;
    int rv = sl_request_on_header(req, name, name_len, value, value_len);
    if (rv == SL_ENOMEM)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets just this stream */
    return 0;
}

/* Whether a header block that just ended breaks RFC 9113 §8: its fields
 * (on_header), a request head's whole (§8.3.1), trailers that do not end the
 * stream (§8.1), or an END_STREAM before the content-length's bytes (§8.1.1). */
static bool is_block_malformed(const struct front_h2 *front, bool is_end)
{
    const struct sl_h2_request_check *check = &front->block_check;
    if (front->is_block_malformed)
        return true;
    if (check->is_trailer)
        return !is_end;
    if (!sl_h2_request_check_head(check))
        return true;
    return is_end && check->content_length > 0;
}

/* §8.1.1: the body's bytes are the content-length's, when it has one. */
static bool is_body_longer_than_declared(const struct sl_request *req, size_t len)
{
    return req->declared_body_bytes >= 0 &&
           (uint64_t)req->declared_body_bytes - req->outcome.bytes_in < len;
}

static bool is_body_shorter_than_declared(const struct sl_request *req)
{
    return req->declared_body_bytes >= 0 &&
           req->outcome.bytes_in < (uint64_t)req->declared_body_bytes;
}

static void on_request_head(struct front_h2 *front, struct sl_request *req, bool is_end)
{
    if (is_block_malformed(front, is_end)) {
        reset_malformed(front, req, "request head");
        return;
    }
    req->declared_body_bytes = front->block_check.content_length;
    sl_request_on_head_done(req, !is_end);
}

static void on_request_end(struct front_h2 *front, struct sl_request *req)
{
    if (is_body_shorter_than_declared(req)) {
        reset_malformed(front, req, "body shorter than its content-length");
        return;
    }
    sl_request_on_end(req);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct front_h2 *front = user_data;
    if (does_no_work(front, frame))
        note_glitch(front);
    bool is_headers = frame->hd.type == NGHTTP2_HEADERS;
    struct sl_request *req = is_headers ? front->block_request : NULL;
    if (is_headers) {
        front->block_stream = 0; /* its block is whole */
        front->block_request = NULL;
    } else if (frame->hd.type == NGHTTP2_DATA) {
        req = request_of(session, frame->hd.stream_id);
    }
    if (req == NULL)
        return 0;
    bool is_end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (is_headers && !front->block_check.is_trailer)
        on_request_head(front, req, is_end);
    else if (is_headers && is_block_malformed(front, is_end))
        reset_malformed(front, req, "trailers");
    else if (is_end)
        on_request_end(front, req);
    return 0;
}

/* Each stream's window is returned as its upstream takes the bytes; the
 * connection's at once, while what the connection holds stays within its
 * budget. A body queued behind a busy backend then holds only its own stream,
 * not the window a bid's body on the same connection needs. */
static void credit_connection(struct front_h2 *front)
{
    size_t budget = (size_t)cfg_of(front)->stream_window_bytes * SL_CONNECTION_WINDOW_STREAMS;
    if (front->connection_debt == 0 || front->held_bytes > budget)
        return;
    nghttp2_session_consume_connection(front->session, front->connection_debt);
    front->connection_debt = 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user_data)
{
    struct front_h2 *front = user_data;
    struct sl_request *req = request_of(session, stream_id);
    if (req == NULL) {
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    if (is_body_longer_than_declared(req, len)) {
        nghttp2_session_consume(session, stream_id, len);
        reset_malformed(front, req, "body longer than its content-length");
        return 0;
    }
    front->held_bytes += len;
    front->connection_debt += len;
    sl_request_on_body(req, data, len); /* may consume at once */
    credit_connection(front);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct front_h2 *front = user_data;
    struct sl_request *req = request_of(session, stream_id);
    if (req == NULL)
        return 0;
    if (error_code != NGHTTP2_NO_ERROR && req->state != SL_REQ_DONE) {
        char who[128];
        SL_INFO("%s stream closed with error %s", sl_request_describe(req, who, sizeof(who)),
                nghttp2_http2_strerror(error_code));
    }
    close_request(front, req, error_code == NGHTTP2_NO_ERROR ? SL_END_CLOSED : SL_END_RESET);
    return 0;
}

/* RFC 9113 §8.1: a response complete before its request lets the server reset the
 * stream with NO_ERROR, so the client stops sending what nobody will read and
 * the stream does not stay half-open. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct front_h2 *front = user_data;
    if (frame->hd.type == NGHTTP2_DATA)
        front->is_data_sent = true;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct sl_request *req = request_of(session, frame->hd.stream_id);
    if (req != NULL && !req->is_ended)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
    return 0;
}

static int on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame,
                            int lib_error_code, void *user_data)
{
    struct front_h2 *front = user_data;
    SL_INFO("conn=%llu peer=%s: client sent an invalid frame (type %u, stream %d): %s",
            (unsigned long long)front->base.id, front->base.peer, frame->hd.type,
            frame->hd.stream_id, nghttp2_strerror(lib_error_code));
    note_glitch(front);
    return 0;
}

/* A HEADERS frame on an old stream id that is not open: forgotten, closed, or
 * idle (made by a PRIORITY frame, and passed over since). nghttp2 decodes its
 * block, which the HPACK state needs, then drops it without a callback. It is
 * all a client that opened the last stream id can still send (RFC 9113
 * §5.1.1), so it must count against the glitch limit here or nowhere. Trailers
 * on a stream sluice has already reset count too, once each. */
static bool is_dropped_headers(nghttp2_session *session, const nghttp2_frame_hd *hd)
{
    if (hd->type != NGHTTP2_HEADERS || hd->stream_id == 0 ||
        hd->stream_id > nghttp2_session_get_last_proc_stream_id(session))
        return false;
    nghttp2_stream *stream = nghttp2_session_find_stream(session, hd->stream_id);
    if (stream == NULL)
        return true;
    nghttp2_stream_proto_state state = nghttp2_stream_get_state(stream);
    return state == NGHTTP2_STREAM_STATE_CLOSED || state == NGHTTP2_STREAM_STATE_IDLE;
}

/* Frames of the types RFC 9113 does not define: sluice acts on none of them,
 * PRIORITY_UPDATE included (streams are answered in the order responses come),
 * and nghttp2 would skip them without a callback, so a flood of them would be
 * read for free. They are taken as the application's (start_session) to be
 * counted here, then dropped. A client sends one once in a while, not a stream
 * of them. */
static bool is_extension_frame(const nghttp2_frame_hd *hd)
{
    return hd->type > NGHTTP2_CONTINUATION;
}

static int on_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd, void *user_data)
{
    /* PRIORITY: nghttp2 keeps no tree without RFC 7540 priorities */
    if (hd->type == NGHTTP2_PRIORITY || is_extension_frame(hd) || is_dropped_headers(session, hd))
        note_glitch(user_data);
    return 0;
}

static int drop_extension_chunk(nghttp2_session *session, const nghttp2_frame_hd *hd,
                                const uint8_t *data, size_t len, void *user_data)
{
    return 0;
}

static int drop_extension(nghttp2_session *session, void **payload, const nghttp2_frame_hd *hd,
                          void *user_data)
{
    return NGHTTP2_ERR_CANCEL;
}

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_extension_chunk_recv_callback(cbs, drop_extension_chunk);
    nghttp2_session_callbacks_set_unpack_extension_callback(cbs, drop_extension);
    return cbs;
}

/* --- the request's view: h2_ops --- */

static ssize_t read_response_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                  size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                                  void *user_data)
{
    bool is_end;
    size_t n = sl_request_take_body(source->ptr, buf, length, &is_end);
    if (is_end)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0)
        return NGHTTP2_ERR_DEFERRED;
    return (ssize_t)n;
}

/* nghttp2 would copy every name and value, lowercasing the names, when the
 * response is submitted (2% of a request's instructions). They are the
 * request's, lowercase already, and the request outlives its stream, the only
 * time nghttp2 reads them: a response's HEADERS is packed when it leaves, for
 * a stream still open, or dropped unread once the stream has closed. */
static void lend_fields(nghttp2_nv *nva, size_t count)
{
    for (size_t i = 0; i < count; i++)
        nva[i].flags |= NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
}

static int h2_send_head(struct sl_front *f, struct sl_request *req, unsigned status,
                        const struct sl_header_list *fields, bool has_body)
{
    struct front_h2 *front = h2_of(f);
    nghttp2_nv *nva;
    size_t count;
    int rv = sl_h2_response_fields(fields, status, req->arena, &nva, &count);
    if (rv != 0)
        return rv;
    lend_fields(nva, count);
    if (cfg_of(front)->response_header_table_bytes > 0)
        sl_indexing_choose(&front->indexing, nva, count);
    nghttp2_data_provider provider = {.source.ptr = req, .read_callback = read_response_body};
    rv = nghttp2_submit_response(front->session, req->stream_id, nva, count,
                                 has_body ? &provider : NULL);
    schedule_flush(front);
    return rv;
}

static void h2_resume_body(struct sl_front *f, struct sl_request *req)
{
    struct front_h2 *front = h2_of(f);
    nghttp2_session_resume_data(front->session, req->stream_id);
    schedule_flush(front);
}

static void h2_consume(struct sl_front *f, struct sl_request *req, size_t len)
{
    struct front_h2 *front = h2_of(f);
    nghttp2_session_consume_stream(front->session, req->stream_id, len);
    front->held_bytes -= len < front->held_bytes ? len : front->held_bytes;
    credit_connection(front);
    schedule_flush(front);
}

static bool is_write_blocked(const struct front_h2 *front)
{
    return evbuffer_get_length(bufferevent_get_output(front->bev)) > 0;
}

static void close_later(struct front_h2 *front)
{
    front->is_closing = true;
    schedule_flush(front);
}

static void h2_reset(struct sl_front *f, struct sl_request *req, enum sl_front_reset how)
{
    struct front_h2 *front = h2_of(f);
    uint32_t code = how == SL_RESET_REFUSED  ? NGHTTP2_REFUSED_STREAM
                    : how == SL_RESET_CANCEL ? NGHTTP2_CANCEL
                                             : NGHTTP2_INTERNAL_ERROR;
    if (req->stream_id == front->block_stream) {
        /* mid-block: no other frame may come before its CONTINUATIONs end */
        end_calmly(front, "a header block did not end in time");
        return;
    }
    if (how == SL_RESET_CANCEL && is_write_blocked(front)) {
        /* not even reading the socket: a reset would never leave either */
        SL_INFO("conn=%llu peer=%s: client reads nothing; closing the connection",
                (unsigned long long)f->id, f->peer);
        close_later(front);
        return;
    }
    nghttp2_submit_rst_stream(front->session, NGHTTP2_FLAG_NONE, req->stream_id, code);
    schedule_flush(front);
}

static void h2_shutdown(struct sl_front *f)
{
    begin_drain(h2_of(f));
}

static void h2_finish_shutdown(struct sl_front *f)
{
    struct front_h2 *front = h2_of(f);
    if (front->is_draining) {
        submit_goaway(front);
        schedule_flush(front);
    }
}

static void front_free(struct front_h2 *front, enum sl_request_end how);

static void h2_abort(struct sl_front *f)
{
    front_free(h2_of(f), SL_END_SHUTDOWN);
}

static const struct sl_front_ops h2_ops = {
    .send_head = h2_send_head,
    .resume_body = h2_resume_body,
    .consume = h2_consume,
    .reset = h2_reset,
    .shutdown = h2_shutdown,
    .finish_shutdown = h2_finish_shutdown,
    .abort = h2_abort,
};

/* --- the edge: libevent callbacks, the only places a front is freed --- */

static void front_free(struct front_h2 *front, enum sl_request_end how)
{
    struct sl_request *req;
    while ((req = TAILQ_FIRST(&front->requests)) != NULL) {
        TAILQ_REMOVE(&front->requests, req, in_front);
        sl_request_finish(req, how);
    }
    sl_front_fini(&front->base);
    nghttp2_session_del(front->session);
    event_free(front->flush_event);
    sl_timer_deinit(&front->idle_timer);
    event_free(front->read_event);
    bufferevent_free(front->bev);
    SL_DEBUG("conn=%llu peer=%s: closed", (unsigned long long)front->base.id, front->base.peer);
    free(front);
}

/* nghttp2 hands out one frame a call: a flush's frames are gathered here
 * and leave together (sl_front_write_or_queue), the output evbuffer taking
 * only what the socket does not. Room for the output's high mark and one
 * more frame of the default largest size (RFC 9113 §4.2), so that a flush
 * is one write, as it was from the evbuffer. Shared by the worker's fronts,
 * as a flush ends with the buffer empty. */
#define SL_FRONT_GATHER_BYTES (SL_FRONT_OUTPUT_HIGH_BYTES + 16384 + 9)
static uint8_t gathered[SL_FRONT_GATHER_BYTES];

static void queue_gathered(struct front_h2 *front, size_t *len)
{
    if (*len > 0 && !sl_front_write_or_queue(&front->base, front->bev, gathered, *len))
        front->is_closing = true;
    *len = 0;
}

/* What nghttp2 has ready, to the socket or into out up to the high mark.
 * Stops only when nghttp2 has nothing more or the output holds the high
 * mark (the socket is full): a full gather buffer is written and gathering
 * goes on, so that flush's loop, which goes on only while the output fills,
 * leaves nothing behind in nghttp2. */
static void produce(struct front_h2 *front, struct evbuffer *out, size_t *written)
{
    size_t len = 0;
    /* a read that brought no frame to answer leaves nothing to send: nghttp2's
     * send path would find its queues empty at some 200 instructions a call */
    if (!nghttp2_session_want_write(front->session))
        return;
    while (!front->is_closing && evbuffer_get_length(out) < SL_FRONT_OUTPUT_HIGH_BYTES) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(front->session, &data);
        if (n < 0) {
            SL_ERROR("conn=%llu: nghttp2 failed to send: %s", (unsigned long long)front->base.id,
                     nghttp2_strerror((int)n));
            front->is_closing = true;
            break;
        }
        if (n == 0)
            break;
        *written += (size_t)n;
        if (len + (size_t)n > sizeof(gathered))
            queue_gathered(front, &len);
        if ((size_t)n > sizeof(gathered)) {
            if (!sl_front_write_or_queue(&front->base, front->bev, data, (size_t)n))
                front->is_closing = true;
            continue;
        }
        memcpy(gathered + len, data, (size_t)n);
        len += (size_t)n;
    }
    queue_gathered(front, &len);
}

/* Serialises what nghttp2 has ready into the output, up to the high mark,
 * and writes it. Returns true when the front was freed. */
static bool flush(struct front_h2 *front)
{
    struct evbuffer *out = bufferevent_get_output(front->bev);
    size_t written = 0;
    bool is_full;
    do {
        produce(front, out, &written);
        is_full = evbuffer_get_length(out) >= SL_FRONT_OUTPUT_HIGH_BYTES;
        if (!sl_front_write_out(&front->base, front->bev))
            front->is_closing = true;
    } while (!front->is_closing && is_full && evbuffer_get_length(out) == 0);
    sl_front_publish_written(&front->base, written);
    if (!nghttp2_session_want_read(front->session) && !nghttp2_session_want_write(front->session))
        front->is_finishing = true;
    if (front->is_closing || (front->is_finishing && evbuffer_get_length(out) == 0)) {
        if (!front->is_closing)
            sl_front_close_notify(&front->base);
        front_free(front, SL_END_ABORTED);
        return true;
    }
    return false;
}

static void on_flush_event(evutil_socket_t fd, short what, void *arg)
{
    flush(arg);
}

/* nghttp2 parses all of data or fails. */
static void receive(struct front_h2 *front, const uint8_t *data, size_t len)
{
    ssize_t rv = nghttp2_session_mem_recv(front->session, data, len);
    if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS || rv == NGHTTP2_ERR_FLOODED) {
        calm_down(front, nghttp2_strerror((int)rv)); /* nghttp2's own flood limits */
    } else if (rv < 0) {
        SL_INFO("conn=%llu peer=%s: client sent bad HTTP/2: %s", (unsigned long long)front->base.id,
                front->base.peer, nghttp2_strerror((int)rv));
        front->is_closing = true;
    }
}

static bool is_receiving(const struct front_h2 *front)
{
    return !front->is_closing && !front->is_calmed;
}

/* The bytes the bufferevent read while the protocol was being told (h2c). */
static void receive_detected(struct front_h2 *front)
{
    struct evbuffer *in = bufferevent_get_input(front->bev);
    struct evbuffer_iovec vec[8];
    front->is_flush_coming = true;
    sl_turn_begin(&front->base.plane->turn);
    while (is_receiving(front) && evbuffer_get_length(in) > 0) {
        int n = evbuffer_peek(in, -1, NULL, vec, 8);
        size_t used = 0;
        for (int i = 0; i < n && i < 8 && is_receiving(front); i++) {
            receive(front, vec[i].iov_base, vec[i].iov_len);
            used += vec[i].iov_len;
        }
        evbuffer_drain(in, used);
        sl_front_publish_read(&front->base, used);
    }
    if (front->is_calmed)
        evbuffer_drain(in, evbuffer_get_length(in)); /* nothing more is parsed */
    sl_turn_end(&front->base.plane->turn);
    front->is_flush_coming = false;
    flush(front);
}

/* nghttp2 takes a read this much at a time, and what it then has to send
 * (acknowledgements of PING and SETTINGS) goes out before the next slice: a
 * flood meets the same limits (client_glitch_limit, and nghttp2's own on
 * unsent acknowledgements) however much one read holds. It is libevent's
 * read size, under which those limits were set. */
#define SL_H2_SLICE_BYTES 4096

/* One read (sl_front_read), parsed where it was read (after a GOAWAY
 * ENHANCE_YOUR_CALM, read and dropped). Returns the bytes read, 0 when there
 * were none (not yet, the end, or an error), -1 when the front was freed. */
static ssize_t read_once(struct front_h2 *front, evutil_socket_t fd)
{
    const uint8_t *data;
    ssize_t n = sl_front_read(&front->base, fd, SL_FRONT_READ_BYTES, &data);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        if (n < 0)
            SL_DEBUG("conn=%llu peer=%s: connection error: %s", (unsigned long long)front->base.id,
                     front->base.peer, strerror(errno));
        front->is_closing = true;
    }
    for (size_t done = 0; n > 0 && done < (size_t)n && is_receiving(front);) {
        size_t len = (size_t)n - done < SL_H2_SLICE_BYTES ? (size_t)n - done : SL_H2_SLICE_BYTES;
        receive(front, data + done, len);
        sl_front_publish_read(&front->base, len);
        done += len;
        if (done < (size_t)n && nghttp2_session_want_write(front->session) && flush(front))
            return -1;
    }
    return n > 0 ? n : 0;
}

/* TLS: until OpenSSL holds no more of what it read from the socket, as no
 * read event would say so. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct front_h2 *front = arg;
    struct sl_turn *turn = &front->base.plane->turn;
    ssize_t n;
    front->is_flush_coming = true;
    sl_turn_begin(turn); /* upstream writes wait for the bodies this read brings */
    do {
        n = read_once(front, fd);
        if (n < 0) {
            sl_turn_end(turn);
            return; /* freed */
        }
    } while (n > 0 && !front->is_closing && sl_front_has_pending(&front->base));
    sl_turn_end(turn);
    front->is_flush_coming = false;
    flush(front);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    flush(arg);
}

/* GOAWAY first (RFC 9113 §9.1: say so before closing), then, a timeout later,
 * the close: a client that does not even read its GOAWAY is dropped. */
static void on_idle_timeout(void *arg)
{
    struct front_h2 *front = arg;
    SL_DEBUG("conn=%llu peer=%s: idle; closing", (unsigned long long)front->base.id,
             front->base.peer);
    if (front->has_timed_out || is_write_blocked(front)) {
        front->is_closing = true;
    } else {
        front->has_timed_out = true;
        submit_goaway(front);
        arm_idle_timer(front); /* for the client to read it and close */
    }
    flush(front);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct front_h2 *front = arg;
    if (what & BEV_EVENT_ERROR)
        SL_DEBUG("conn=%llu peer=%s: connection error: %s", (unsigned long long)front->base.id,
                 front->base.peer, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    front->is_closing = true;
    flush(front);
}

/* --- setup --- */

static int start_session(struct front_h2 *front)
{
    static nghttp2_session_callbacks *callbacks;
    static nghttp2_option *options;
    if (callbacks == NULL) {
        callbacks = make_callbacks();
        if (callbacks == NULL || nghttp2_option_new(&options) != 0)
            return -1;
        /* window credit is returned only once the upstream has taken the bytes */
        nghttp2_option_set_no_auto_window_update(options, 1);
        nghttp2_option_set_no_http_messaging(options, 1); /* h2_request.h checks */
        /* resets are glitches (note_glitch): nghttp2's own limit (1000 at once,
         * 33 a second) would end an exchange's connection that cancels more bids
         * than that, so it is only the backstop with client_glitch_limit 0 */
        nghttp2_option_set_stream_reset_rate_limit(options, 10000, 1000);
        /* The table holds the response fields that repeat (hpack/indexing.h
         * keeps the others out). A worker has one config: the option is set
         * once. */
        nghttp2_option_set_max_deflate_dynamic_table_size(
            options, cfg_of(front)->response_header_table_bytes);
        for (unsigned type = NGHTTP2_CONTINUATION + 1; type <= UINT8_MAX; type++)
            nghttp2_option_set_user_recv_extension_type(options, (uint8_t)type);
    }
    if (nghttp2_session_server_new3(&front->session, callbacks, front, options, sl_h2_mem()) != 0)
        return -1;
    const struct sl_config *cfg = cfg_of(front);
    /* Streams are answered as their responses come, in the order of RFC 9218's
     * default urgency: without RFC 7540 priorities nghttp2 keeps no dependency
     * tree and no closed streams for it (1.5% of a request's instructions). */
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->stream_window_bytes},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_request_header_bytes},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    if (nghttp2_submit_settings(front->session, NGHTTP2_FLAG_NONE, settings,
                                sizeof(settings) / sizeof(settings[0])) != 0)
        return -1;
    int32_t window = (int32_t)cfg->stream_window_bytes * SL_CONNECTION_WINDOW_STREAMS;
    return nghttp2_session_set_local_window_size(front->session, NGHTTP2_FLAG_NONE, 0, window);
}

/* Frees a front that never served: its bufferevent is the caller's. */
static void discard_unserved(struct front_h2 *front)
{
    nghttp2_session_del(front->session);
    if (front->flush_event)
        event_free(front->flush_event);
    sl_timer_deinit(&front->idle_timer);
    if (front->read_event)
        event_free(front->read_event);
    free(front);
}

/* The front with its session, not yet serving: bev is not taken on failure. */
static struct front_h2 *open_front(struct sl_plane *p, struct bufferevent *bev)
{
    struct front_h2 *front = calloc(1, sizeof(*front));
    if (front == NULL)
        return NULL;
    front->bev = bev;
    TAILQ_INIT(&front->requests);
    sl_indexing_init(&front->indexing);
    front->base.plane = p;
    front->glitches_halved_ns = sl_clock_coarse_ns();
    front->flush_event = event_new(p->base, -1, 0, on_flush_event, front);
    int timer_rc = sl_timer_init(&front->idle_timer, p->base, on_idle_timeout, front);
    front->read_event =
        event_new(p->base, bufferevent_getfd(bev), EV_READ | EV_PERSIST, on_readable, front);
    if (front->flush_event == NULL || timer_rc != 0 || front->read_event == NULL ||
        start_session(front) != 0) {
        discard_unserved(front);
        return NULL;
    }
    return front;
}

static void begin_serving(struct front_h2 *front, unsigned listener_index, SSL *ssl,
                          const struct sockaddr *peer, socklen_t peer_len)
{
    struct sl_plane *p = front->base.plane;
    sl_front_init(&front->base, &h2_ops, p, listener_index, ssl,
                  ssl != NULL ? SL_PROTO_H2_TLS : SL_PROTO_H2C, peer, peer_len);
    bufferevent_setcb(front->bev, NULL, on_write, on_event, front); /* on_readable reads */
    bufferevent_disable(front->bev, EV_READ);
    bufferevent_enable(front->bev, EV_WRITE);
    event_add(front->read_event, NULL);
    update_idle_timeout(front);
    SL_DEBUG("conn=%llu peer=%s: HTTP/2 on %s", (unsigned long long)front->base.id,
             front->base.peer, p->cfg->listeners[listener_index].addr.text);
    if (p->is_draining)
        begin_drain(front); /* it was accepted just before the drain */
}

/* Reads what the client has sent already, or just sends our SETTINGS. The
 * front may be freed on return. */
static void serve_first_bytes(struct front_h2 *front)
{
    if (evbuffer_get_length(bufferevent_get_input(front->bev)) > 0)
        receive_detected(front);
    else if (sl_front_has_pending(&front->base))
        on_readable(bufferevent_getfd(front->bev), EV_READ, front); /* came with the handshake */
    else
        flush(front); /* our SETTINGS go first */
}

int sl_front_h2_start(struct sl_plane *p, struct bufferevent *bev, SSL *ssl,
                      unsigned listener_index, const struct sockaddr *peer, socklen_t peer_len)
{
    struct front_h2 *front = open_front(p, bev);
    if (front == NULL) {
        SSL_free(ssl);
        bufferevent_free(bev);
        return -1;
    }
    begin_serving(front, listener_index, ssl, peer, peer_len);
    serve_first_bytes(front);
    return 0;
}

int sl_front_h2_start_upgraded(struct sl_plane *p, struct bufferevent *bev, unsigned listener_index,
                               const struct sockaddr *peer, socklen_t peer_len,
                               const uint8_t *settings, size_t settings_len, struct sl_request *req)
{
    struct front_h2 *front = open_front(p, bev);
    if (front == NULL)
        return -1;
    /* RFC 7540 §3.2: the request that asked for the upgrade is stream 1 */
    const nghttp2_nv *method = sl_header_list_find(&req->fields, ":method");
    bool is_head = method != NULL && strcmp((const char *)method->value, "HEAD") == 0;
    if (nghttp2_session_upgrade2(front->session, settings, settings_len, is_head, req) != 0) {
        discard_unserved(front);
        return -1;
    }
    begin_serving(front, listener_index, NULL, peer, peer_len);
    sl_request_move(req, &front->base, 1);
    TAILQ_INSERT_TAIL(&front->requests, req, in_front);
    sl_front_publish_streams(&front->base, 1, 0);
    update_idle_timeout(front);
    sl_request_on_head_done(req, false);
    serve_first_bytes(front);
    return 0;
}
