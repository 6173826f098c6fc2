#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "stats.h"
#include "timeval_ms.h"

/* --- formatting --- */

struct out {
    char *buf;
    size_t cap;
    size_t len;
    bool is_full;
};

static void put(struct out *o, const char *s, size_t len)
{
    if (o->is_full || len > o->cap - o->len) {
        o->is_full = true;
        return;
    }
    memcpy(o->buf + o->len, s, len);
    o->len += len;
}

static void put_text(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_json_string(struct out *o, const char *s)
{
    if (s == NULL) {
        put_text(o, "null");
        return;
    }
    put_text(o, "\"");
    size_t len = strnlen(s, SL_ACCESS_FIELD_MAX);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            continue;
        put(o, s + run, i - run);
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c); /* bytes read as Latin-1 */
        put_text(o, esc);
        run = i + 1;
    }
    put(o, s + run, len - run);
    put_text(o, "\"");
}

static void put_field(struct out *o, const char *name, const char *value)
{
    put_text(o, o->len > 1 ? ",\"" : "\"");
    put_text(o, name);
    put_text(o, "\":");
    put_json_string(o, value);
}

static void put_number(struct out *o, const char *name, int64_t value)
{
    char text[48];
    snprintf(text, sizeof(text), ",\"%s\":%" PRId64, name, value);
    put_text(o, text);
}

/* RFC 3339 in UTC, to the microsecond. */
static void format_time(uint64_t unix_us, char *out, size_t len)
{
    time_t secs = (time_t)(unix_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%06uZ", (unsigned)(unix_us % 1000000));
}

size_t sl_access_format(const struct sl_access_entry *e, char *buf, size_t cap)
{
    struct out o = {.buf = buf, .cap = cap};
    char time_text[40];
    format_time(e->unix_us, time_text, sizeof(time_text));
    put_text(&o, "{");
    put_field(&o, "time", time_text);
    put_field(&o, "listener", e->listener);
    put_field(&o, "peer", e->peer);
    put_field(&o, "protocol", e->protocol);
    put_field(&o, "method", e->method);
    put_field(&o, "authority", e->authority);
    put_field(&o, "path", e->path);
    put_number(&o, "status", e->status);
    put_field(&o, "class", e->class_name);
    put_field(&o, "shed", e->is_shed ? e->shed_reason : NULL);
    put_field(&o, "code", e->code);
    put_field(&o, "backend", e->backend);
    put_field(&o, "server", e->server);
    put_number(&o, "bytes_in", (int64_t)e->bytes_in);
    put_number(&o, "bytes_out", (int64_t)e->bytes_out);
    put_number(&o, "total_us", (int64_t)e->total_us);
    if (e->upstream_us >= 0)
        put_number(&o, "upstream_us", e->upstream_us);
    else
        put_text(&o, ",\"upstream_us\":null");
    put_text(&o, "}\n");
    return o.is_full ? 0 : o.len;
}

/* --- the log --- */

/* Owned by its worker; borrows cfg and slot. */
struct sl_access_log {
    const struct sl_access_log_config *cfg;
    struct sl_stats_worker *slot;
    int fd;            /* the file, or 2 */
    bool is_stderr;
    char *buf;         /* cfg->buffer_bytes */
    size_t len;
    uint32_t lines;    /* in buf */
    uint64_t counted;  /* requests seen, for the sampling */
    struct event *timer;
};

static int open_file(const char *path, char *err, size_t err_len)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        snprintf(err, err_len, "cannot open the access log %s: %s", path, strerror(errno));
    return fd;
}

/* One write of whole lines; what it cannot take is dropped, not retried, so
 * that a full disk never grows the buffer nor stalls the loop. */
static void write_buffer(struct sl_access_log *log)
{
    if (log->len == 0)
        return;
    size_t done = 0;
    while (done < log->len) {
        ssize_t n = write(log->fd, log->buf + done, log->len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    if (done == log->len)
        log->slot->access_log_lines += log->lines;
    else
        log->slot->access_log_dropped += log->lines; /* a torn last line is not told apart */
    log->len = 0;
    log->lines = 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    write_buffer(arg);
}

struct sl_access_log *sl_access_log_open(struct event_base *base, const struct sl_config *cfg,
                                         struct sl_stats_worker *slot, char *err, size_t err_len)
{
    struct sl_access_log *log = calloc(1, sizeof(*log));
    if (log == NULL) {
        snprintf(err, err_len, "out of memory opening the access log");
        return NULL;
    }
    log->cfg = &cfg->access_log;
    log->slot = slot;
    log->is_stderr = log->cfg->path == NULL;
    log->fd = log->is_stderr ? STDERR_FILENO : open_file(log->cfg->path, err, err_len);
    if (log->fd < 0) {
        free(log);
        return NULL;
    }
    log->buf = malloc(log->cfg->buffer_bytes);
    log->timer = event_new(base, -1, EV_PERSIST, on_timer, log);
    struct timeval tv = sl_timeval_ms(log->cfg->flush_interval_ms);
    if (log->buf == NULL || log->timer == NULL || event_add(log->timer, &tv) != 0) {
        snprintf(err, err_len, "out of memory opening the access log");
        sl_access_log_close(log);
        return NULL;
    }
    return log;
}

void sl_access_log_close(struct sl_access_log *log)
{
    if (log == NULL)
        return;
    if (log->buf != NULL)
        write_buffer(log);
    if (log->timer)
        event_free(log->timer);
    if (!log->is_stderr && log->fd >= 0)
        close(log->fd);
    free(log->buf);
    free(log);
}

bool sl_access_log_wants(struct sl_access_log *log, bool is_shed)
{
    bool is_sampled = log->counted++ % log->cfg->sample == 0;
    return is_sampled || (is_shed && log->cfg->always_log_shed);
}

void sl_access_log_write(struct sl_access_log *log, const struct sl_access_entry *e)
{
    char line[SL_ACCESS_LINE_MAX];
    size_t len = sl_access_format(e, line, sizeof(line));
    if (len == 0) {
        log->slot->access_log_dropped++;
        return;
    }
    /* buffer_bytes is at least SL_ACCESS_LINE_MAX (config_events.h): a line fits */
    if (len > log->cfg->buffer_bytes - log->len)
        write_buffer(log);
    memcpy(log->buf + log->len, line, len);
    log->len += len;
    log->lines++;
}

void sl_access_log_reopen(struct sl_access_log *log)
{
    write_buffer(log);
    if (log->is_stderr)
        return;
    char err[512];
    int fd = open_file(log->cfg->path, err, sizeof(err));
    if (fd < 0) {
        SL_ERROR("%s; writing on to the file as it was", err);
        return;
    }
    close(log->fd);
    log->fd = fd;
}
