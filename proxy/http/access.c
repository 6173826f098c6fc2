#include "access.h"

#include <time.h>

#include "access_log.h"
#include "clock.h"
#include "config.h"
#include "front.h"
#include "plane.h"
#include "request.h"
#include "stats.h"

static const char *field(const struct sl_request *req, const char *name)
{
    const nghttp2_nv *nv = sl_header_list_find(&req->fields, name);
    return nv != NULL ? (const char *)nv->value : NULL;
}

static uint64_t unix_us_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
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
    const char *authority = field(req, ":authority");
    uint64_t now_ns = sl_clock_ns();
    struct sl_access_entry e = {
        .unix_us = unix_us_now(),
        .listener = listener_name(req),
        .peer = req->front->peer,
        .protocol = sl_stats_protocol_name(o->protocol),
        .method = field(req, ":method"),
        .authority = authority != NULL ? authority : field(req, "host"),
        .path = field(req, ":path"),
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
