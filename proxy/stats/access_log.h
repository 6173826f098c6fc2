/* The access log: one JSON line per request (every sample-th one, and every
 * shed one with always_log_shed), gathered in a per-worker buffer and written
 * with one write(2) when the buffer fills or flush_interval_ms passes. Every
 * write holds whole lines and the file is opened O_APPEND, so the lines of
 * several workers never mix. SIGUSR1 (through the master) makes each worker
 * write what it holds to the old file and open the path again, for logrotate.
 *
 * Lines that cannot be written (a full disk) are dropped and counted in the
 * stats slot's access_log_dropped; traffic is not held up. */
#ifndef SL_ACCESS_LOG_H
#define SL_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sl_access_log;
struct sl_config;
struct sl_stats_worker;

/* What one line says. Strings are borrowed for the call; NULL ones are written
 * as null. */
struct sl_access_entry {
    uint64_t unix_us; /* when the request ended */
    const char *listener;
    const char *peer;
    const char *protocol; /* "h2c", "h2", "http1", "http1_tls" */
    const char *method;
    const char *authority;
    const char *path;
    unsigned status; /* 0: no answer was sent */
    const char *class_name;
    const char *shed_reason;
    const char *code; /* the termination code, two letters */
    const char *backend;
    const char *server; /* the backend server that had the request */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t total_us;   /* arrival to the end */
    int64_t upstream_us; /* first byte sent upstream to the response's end; -1: none */
    bool is_shed;
};

/* Formats e as one JSON line with its '\n' into buf. Strings are escaped so
 * that any bytes give valid JSON (bytes outside printable ASCII as \u00XX),
 * and cut at SL_ACCESS_FIELD_MAX bytes. Returns the length, or 0 when cap is
 * too small. */
#define SL_ACCESS_FIELD_MAX 2048
#define SL_ACCESS_LINE_MAX (16 * SL_ACCESS_FIELD_MAX)
size_t sl_access_format(const struct sl_access_entry *e, char *buf, size_t cap);

/* Opens cfg->access_log's file (or stderr) for the worker whose slot is given.
 * Returns NULL with a sentence in err. */
struct sl_access_log *sl_access_log_open(struct event_base *base, const struct sl_config *cfg,
                                         struct sl_stats_worker *slot, char *err, size_t err_len);

/* Writes what is buffered and closes. NULL is a no-op. */
void sl_access_log_close(struct sl_access_log *log);

/* Does this request get a line? Counts it for the sampling either way. */
bool sl_access_log_wants(struct sl_access_log *log, bool is_shed);

/* The wall clock in microseconds at now_ns, a monotonic reading the caller has
 * taken: the clocks' difference is read once a second, not once a line (a
 * step of the wall clock shows within a second). */
uint64_t sl_access_log_unix_us(struct sl_access_log *log, uint64_t now_ns);

/* Buffers e's line (the buffer is written first when it would overflow). */
void sl_access_log_write(struct sl_access_log *log, const struct sl_access_entry *e);

/* Writes what is buffered to the open file, then opens the path again. */
void sl_access_log_reopen(struct sl_access_log *log);

#endif
