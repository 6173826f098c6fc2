#include "access.h"

#include "access_log.h"
#include "clock.h"
#include "config.h"
#include "front.h"
#include "h1.h"
#include "plane.h"
#include "request.h"
#include "stats.h"

struct head_fields {
    const char *method;
    const char *authority; /* :authority, else the first Host */
    const char *path;
};

static bool is_name(const nghttp2_nv *nv, const char *name, size_t len)
{
    return nv->namelen == len && sl_h1_equal_ignoring_case((const char *)nv->name, len, name);
}

/* What the request noted when its head was done; a request that ended before
 * (a head too large, or too slow) has its fields looked through, up to the
 * last of the three. */
static struct head_fields head_fields_of(const struct sl_request *req)
{
    struct head_fields h = {0};
    if (req->is_head_done)
        return (struct head_fields){req->method, req->authority, req->path};
    const char *host = NULL;
    for (size_t i = 0; i < req->fields.count; i++) {
        if (h.method != NULL && h.path != NULL && (h.authority != NULL || host != NULL))
            break;
        const nghttp2_nv *nv = &req->fields.items[i];
        const char *value = (const char *)nv->value;
        if (nv->namelen > 0 && nv->name[0] == ':') {
            if (is_name(nv, ":method", 7))
                h.method = value;
            else if (is_name(nv, ":path", 5))
                h.path = value;
            else if (is_name(nv, ":authority", 10))
                h.authority = value;
        } else if (host == NULL && is_name(nv, "host", 4)) {
            host = value;
        }
    }
    if (h.authority == NULL)
        h.authority = host;
    return h;
}

static const char *listener_name(const struct sl_request *req)
{
    const struct sl_listener_config *l = &req->plane->cfg->listeners[req->front->listener_index];
    return l->name != NULL ? l->name : l->addr.text;
}

void sl_access_record(const struct sl_request *req)
{
    struct sl_access_log *log = req->plane->access_log;
    const struct sl_outcome *o = &req->outcome;
    if (log == NULL || !sl_access_log_wants(log, o->is_shed))
        return;
    char code[3];
    sl_outcome_code(o, code);
    struct head_fields head = head_fields_of(req);
    uint64_t now_ns = sl_clock_ns();
    struct sl_access_entry e = {
        .unix_us = sl_access_log_unix_us(log, now_ns),
        .listener = listener_name(req),
        .peer = req->front->peer,
        .protocol = sl_stats_protocol_name(o->protocol),
        .method = head.method,
        .authority = head.authority,
        .path = head.path,
        .status = o->status,
        .class_name = o->backend != NULL ? req->plane->cfg->classes[o->class_index].name : NULL,
        .is_shed = o->is_shed,
        .shed_reason = o->is_shed ? sl_shed_reason_name(o->shed_reason) : NULL,
        .code = code,
        .backend = o->backend != NULL ? o->backend->name : NULL,
        .server = o->server,
        .bytes_in = o->bytes_in,
        .bytes_out = o->bytes_out,
        .total_us = (now_ns - o->arrival_ns) / 1000,
        .upstream_us = o->upstream_start_ns != 0 && o->response_end_ns != 0
                           ? (int64_t)((o->response_end_ns - o->upstream_start_ns) / 1000)
                           : -1,
    };
    sl_access_log_write(log, &e);
}
