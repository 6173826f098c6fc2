/* sluice-demo-backend's parts shared by its two protocols: the options, the
 * server that owns listeners and connections, and the routes. HTTP/1.1
 * connections live in demo_backend.c, cleartext HTTP/2 ones (--h2c) in
 * demo_backend_h2c.c. */
#ifndef SLUICE_DEMO_BACKEND_H
#define SLUICE_DEMO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include <event2/util.h>

#define LISTENERS_MAX 16
#define ADDR_TEXT_MAX 128
#define ECHO_MAX_BYTES (64ull * 1024 * 1024)
#define BYTES_MAX (1ull << 30)
#define DELAY_MAX_MS (3600ull * 1000)
#define STREAM_PIECE_BYTES (64 * 1024)
#define PATTERN_PERIOD 36

struct evbuffer;
struct evconnlistener;

struct options {
    const char *listen[LISTENERS_MAX];
    size_t n_listen;
    const char *id;
    bool is_h2c;           /* every connection speaks HTTP/2 with prior knowledge */
    uint32_t max_streams;  /* --h2c: SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t goaway_after; /* --h2c: GOAWAY after this many streams a connection; 0: never */
    bool is_drop_reused;
    bool is_quiet;
    bool is_verbose;
    bool is_help;
};

struct server;

/* Owned by its server; listener_close() closes the socket and unlinks the
 * socket file we created. Borrows srv. */
struct listener {
    struct server *srv;
    struct evconnlistener *evl;
    bool is_tcp;
    char text[ADDR_TEXT_MAX]; /* as printed; a port 0 shows the port chosen */
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "" unless we bound one */
    dev_t unix_dev; /* identify our socket file, so that we never unlink a successor's */
    ino_t unix_ino;
};

struct conn;
struct h2c_conn;

/* One per process, on main()'s stack. Owns the event base, the listeners, the
 * signal and retry events, the scratch buffer and every connection. */
struct server {
    const struct options *opt; /* borrowed from main() */
    struct event_base *base;
    struct listener listeners[LISTENERS_MAX];
    size_t n_listeners;
    struct event *sig_term;
    struct event *sig_int;
    struct event *accept_retry; /* re-enables accepting after accept() failed (EMFILE) */
    struct evbuffer *scratch;   /* builds one reply body at a time; empty between uses */
    struct conn *conns;         /* HTTP/1.1, doubly-linked through conn.prev/next */
    struct h2c_conn *h2c_conns; /* HTTP/2, likewise */
    uint64_t next_conn_id;
};

enum route {
    ROUTE_NOT_FOUND,
    ROUTE_ROOT,
    ROUTE_HEADERS,
    ROUTE_ECHO,
    ROUTE_BID,
    ROUTE_HANG,
    ROUTE_DIE,
    ROUTE_BYTES,
    ROUTE_DELAY,
    ROUTE_STATUS,
};

/* Byte i is "0-9a-z"[i % 36]; long enough for a full piece at any phase.
 * Filled once at startup and lent to output buffers by reference. */
extern char pattern[STREAM_PIECE_BYTES + PATTERN_PERIOD];

/* A copy of the shared benchmark sample openrtb-bid-response.json (no final newline). */
extern const char BID_RESPONSE[];
extern const size_t BID_RESPONSE_LEN;

/* The route of a path (without its query); *arg is N, MS or CODE. */
void demo_match_route(const char *path, size_t len, enum route *route, uint64_t *arg);

/* Appends s as a JSON string; bytes outside printable ASCII are escaped as
 * \u00XX (read as Latin-1), so the JSON is always valid. */
void demo_add_json_string(struct evbuffer *b, const char *s, size_t len);

/* Takes an accepted socket as an HTTP/2 connection (demo_backend_h2c.c);
 * returns 0, or -1 with fd closed. */
int demo_h2c_accept(struct server *srv, evutil_socket_t fd);

/* Frees every HTTP/2 connection, at exit. */
void demo_h2c_close_all(struct server *srv);

#endif
