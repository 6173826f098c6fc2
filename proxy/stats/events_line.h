/* statsd and DogStatsD lines, and datagrams packed with whole lines.
 *
 * Pure: no I/O, no allocation. A line is built part by part into a fixed
 * buffer (plain: "prefix.requests.bid.bidders.2xx:3|c"; DogStatsD:
 * "prefix.requests:3|c|#class:bid,backend:bidders,status:2xx"); a line that
 * would not fit is marked and never sent half. The packer joins lines with
 * '\n' into datagrams of at most cap bytes and hands each to its send
 * function; a line longer than a datagram, or a datagram the send refuses, is
 * counted as dropped. */
#ifndef SL_EVENTS_LINE_H
#define SL_EVENTS_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_EVENTS_LINE_MAX 512

struct sl_events_line {
    char text[SL_EVENTS_LINE_MAX];
    size_t len;
    bool has_tags;
    bool is_overflow; /* something did not fit: the line must not be sent */
};

/* Starts "prefix.name". */
void sl_events_line_start(struct sl_events_line *l, const char *prefix, size_t prefix_len,
                          const char *name);

/* Appends ".part", each byte outside [A-Za-z0-9_-] written as '_', so that a
 * name from the config never adds a level to the dotted name or breaks the line. */
void sl_events_line_part(struct sl_events_line *l, const char *part);

/* Appends ":value|type", then "|@rate" when rate is below 1. value is written
 * with up to three decimals (a timing in ms), or none when it is whole. */
void sl_events_line_value(struct sl_events_line *l, double value, const char *type, double rate);

/* Appends a DogStatsD tag: "|#name:value" for the first, ",name:value" after;
 * value bytes that would end the tag (',', '|', '#', controls) become '_'. */
void sl_events_line_tag(struct sl_events_line *l, const char *name, const char *value);

/* Hands one datagram to the sink; returns 0, or -1 when it was not sent. */
typedef int (*sl_events_send_fn)(void *arg, const char *data, size_t len);

struct sl_events_packer {
    char *buf; /* cap bytes, owned by the caller */
    size_t cap;
    size_t len;
    uint32_t lines; /* in buf */
    sl_events_send_fn send;
    void *arg;
    uint64_t sent_lines;
    uint64_t dropped_lines;
};

/* Adds a finished line; sends the datagram first when the line does not fit. */
void sl_events_pack(struct sl_events_packer *p, const struct sl_events_line *l);

/* Sends what is packed. */
void sl_events_pack_flush(struct sl_events_packer *p);

#endif
