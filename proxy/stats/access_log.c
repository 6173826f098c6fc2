#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
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

/* A string literal, its length known at compile time. */
#define PUT_LITERAL(o, s) put((o), (s), sizeof(s) - 1)

/* Bytes a JSON string cannot hold as they are: controls, DEL and above (read
 * as Latin-1, so that any bytes give valid JSON), the quote and the backslash.
 * A table, as this is asked of every byte of every line. */
static const bool is_plain[256] = {
    [0x20 ... 0x21] = true, /* '"' is 0x22 */
    [0x23 ... 0x5b] = true, /* '\\' is 0x5c */
    [0x5d ... 0x7e] = true,
};

static void put_escaped(struct out *o, unsigned char c)
{
    char esc[8];
    if (c == '"' || c == '\\')
        snprintf(esc, sizeof(esc), "\\%c", c);
    else
        snprintf(esc, sizeof(esc), "\\u%04x", c);
    put_text(o, esc);
}

/* The length of s's leading run of plain bytes, at most len: four table
 * lookups a step, as most fields have nothing to escape. */
static size_t plain_run(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i + 4 <= len &&
           (is_plain[s[i]] & is_plain[s[i + 1]] & is_plain[s[i + 2]] & is_plain[s[i + 3]]))
        i += 4;
    while (i < len && is_plain[s[i]])
        i++;
    return i;
}

/* Runs of plain bytes are copied whole, up to the NUL or the cut. */
static void put_json_string(struct out *o, const char *s)
{
    if (s == NULL) {
        PUT_LITERAL(o, "null");
        return;
    }
    PUT_LITERAL(o, "\"");
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strnlen(s, SL_ACCESS_FIELD_MAX);
    size_t i = 0;
    while (i < len) {
        size_t run = plain_run(u + i, len - i);
        put(o, s + i, run);
        i += run;
        if (i < len)
            put_escaped(o, u[i++]);
    }
    PUT_LITERAL(o, "\"");
}

/* name is a literal with its quotes, colon and leading comma: ",\"path\":" */
#define PUT_FIELD(o, name, value) (PUT_LITERAL((o), name), put_json_string((o), (value)))
#define PUT_NUMBER(o, name, value) (PUT_LITERAL((o), name), put_unsigned((o), (value)))

static size_t digit_count(uint64_t v)
{
    size_t n = 1;
    for (v /= 10; v != 0; v /= 10)
        n++;
    return n;
}

/* The last n digits of v (zero-padded), written straight where they go, last
 * first: built elsewhere and copied, they would be read back before their
 * stores land. */
static void write_digits(char *out, uint64_t v, size_t n)
{
    for (size_t i = n; i-- > 0; v /= 10)
        out[i] = (char)('0' + v % 10);
}

static void put_unsigned(struct out *o, uint64_t value)
{
    size_t n = digit_count(value);
    if (o->is_full || n > o->cap - o->len) {
        o->is_full = true;
        return;
    }
    write_digits(o->buf + o->len, value, n);
    o->len += n;
}

/* RFC 3339 in UTC, to the microsecond. The calendar part changes once a
 * second: it is worked out then, not for every line. */
static void format_time(uint64_t unix_us, char out[32])
{
    static uint64_t cached_second = UINT64_MAX;
    static char cached[24]; /* "2026-12-02T18:50:52." */
    static size_t cached_len;
    uint64_t second = unix_us / 1000000;
    if (second != cached_second) {
        time_t secs = (time_t)second;
        struct tm tm;
        gmtime_r(&secs, &tm);
        cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S.", &tm);
        cached_second = second;
    }
    size_t n = cached_len;
    memcpy(out, cached, n);
    write_digits(out + n, unix_us % 1000000, 6);
    n += 6;
    out[n++] = 'Z';
    out[n] = '\0';
}

size_t sl_access_format(const struct sl_access_entry *e, char *buf, size_t cap)
{
    struct out o = {.buf = buf, .cap = cap};
    char time_text[32];
    format_time(e->unix_us, time_text);
    PUT_FIELD(&o, "{\"time\":", time_text);
    PUT_FIELD(&o, ",\"listener\":", e->listener);
    PUT_FIELD(&o, ",\"peer\":", e->peer);
    PUT_FIELD(&o, ",\"protocol\":", e->protocol);
    PUT_FIELD(&o, ",\"method\":", e->method);
    PUT_FIELD(&o, ",\"authority\":", e->authority);
    PUT_FIELD(&o, ",\"path\":", e->path);
    PUT_NUMBER(&o, ",\"status\":", e->status);
    PUT_FIELD(&o, ",\"class\":", e->class_name);
    PUT_FIELD(&o, ",\"shed\":", e->is_shed ? e->shed_reason : NULL);
    PUT_FIELD(&o, ",\"code\":", e->code);
    PUT_FIELD(&o, ",\"backend\":", e->backend);
    PUT_FIELD(&o, ",\"server\":", e->server);
    PUT_NUMBER(&o, ",\"bytes_in\":", e->bytes_in);
    PUT_NUMBER(&o, ",\"bytes_out\":", e->bytes_out);
    PUT_NUMBER(&o, ",\"total_us\":", e->total_us);
    if (e->upstream_us >= 0)
        PUT_NUMBER(&o, ",\"upstream_us\":", (uint64_t)e->upstream_us);
    else
        PUT_LITERAL(&o, ",\"upstream_us\":null");
    PUT_LITERAL(&o, "}\n");
    return o.is_full ? 0 : o.len;
}

/* --- the log --- */

/* Owned by its worker; borrows cfg and slot. */
struct sl_access_log {
    const struct sl_access_log_config *cfg;
    struct sl_stats_worker *slot;
    int fd; /* the file, or 2 */
    bool is_stderr;
    char *buf; /* cfg->buffer_bytes */
    size_t len;
    uint32_t lines;   /* in buf */
    uint64_t counted; /* requests seen, for the sampling */
    struct event *timer;
    uint64_t unix_minus_monotonic_ns; /* the clocks' difference, read once a second */
    uint64_t difference_until_ns;     /* on the monotonic clock */
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

static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
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
    log->timer = event_new(base, -1, EV_PERSIST, on_flush_timer, log);
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

uint64_t sl_access_log_unix_us(struct sl_access_log *log, uint64_t now_ns)
{
    if (now_ns >= log->difference_until_ns) {
        log->unix_minus_monotonic_ns = sl_clock_unix_us() * 1000 - sl_clock_ns();
        log->difference_until_ns = now_ns + 1000000000u;
    }
    return (now_ns + log->unix_minus_monotonic_ns) / 1000;
}

/* The line is formatted in place; buffer_bytes is at least SL_ACCESS_LINE_MAX
 * (config_events.h), so an empty buffer always has room for one. */
void sl_access_log_write(struct sl_access_log *log, const struct sl_access_entry *e)
{
    if (log->cfg->buffer_bytes - log->len < SL_ACCESS_LINE_MAX)
        write_buffer(log);
    size_t len = sl_access_format(e, log->buf + log->len, log->cfg->buffer_bytes - log->len);
    if (len == 0) {
        log->slot->access_log_dropped++;
        return;
    }
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
