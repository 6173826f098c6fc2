/* One HTTP/1.1 connection to a backend server (Unix socket, or TCP with
 * TCP_NODELAY), parsing responses with http-parser.
 *
 * Raw non-blocking I/O rather than a bufferevent: each connection carries one
 * request at a time, so per-request syscalls are what counts. A request costs one
 * writev (the turn's output, flushed together) and one read per readiness, with no
 * epoll_ctl in the steady state: EV_WRITE is registered only when the socket is full.
 *
 * States: CONNECTING → BUSY ⇄ IDLE, and closed from any state. Owned by its
 * server's pool; lent to one request at a time (BUSY), and freed only by the
 * pool. Parser callbacks only record; everything that can free or hand over the
 * connection happens after http_parser_execute() returns. */
#ifndef SL_UPSTREAM_H1_H
#define SL_UPSTREAM_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <http_parser.h>

struct event;
struct event_base;
struct evbuffer;
struct sl_request;
struct sl_server;

enum sl_upconn_state { SL_UPCONN_CONNECTING, SL_UPCONN_BUSY, SL_UPCONN_IDLE };

struct sl_upconn {
    struct sl_server *server;
    int fd;                    /* owned: non-blocking socket */
    struct event *read_event;  /* persistent once connected; its timer is the
                                * response timeout (BUSY) or the idle one (IDLE) */
    struct event *write_event; /* added only while connecting or output waits */
    struct event *flush_event; /* writes a loop turn's output in one writev */
    struct evbuffer *out;      /* request bytes not yet written */
    struct sl_request *req;    /* the borrower; NULL when idle or detached */
    enum sl_upconn_state state;
    http_parser parser;
    uint32_t exchanges_done; /* responses completed on this connection */
    bool is_request_sent;    /* the borrower queued its whole request */
    bool is_in_value;        /* the parser's last header callback was a value */
    bool is_informational;   /* parsing a 1xx response, which is not relayed */
    bool is_paused;          /* reading stopped for backpressure */
    bool is_write_waiting;   /* write_event added: the socket was full */
    TAILQ_ENTRY(sl_upconn) in_idle; /* the server's idle list, IDLE only */
};

/* Starts connecting to server. Returns the connection (CONNECTING, counted in
 * server->conn_count), or NULL with *err set to a negative errno. */
struct sl_upconn *sl_upconn_connect(struct sl_server *server, struct event_base *base, int *err);

void sl_upconn_free(struct sl_upconn *conn);

/* Lends the connection to req for one exchange (BUSY). */
void sl_upconn_begin(struct sl_upconn *conn, struct sl_request *req);

/* The request is gone; the connection will be discarded by the caller. */
void sl_upconn_detach(struct sl_upconn *conn);

/* Queues bytes of the request; they are written as the socket allows. */
int sl_upconn_write(struct sl_upconn *conn, const void *data, size_t len);

/* The whole request has been queued: the response timeout starts. */
void sl_upconn_request_sent(struct sl_upconn *conn);

/* Stops or resumes reading the response (backpressure from a slow client). */
void sl_upconn_set_paused(struct sl_upconn *conn, bool is_paused);

/* Puts an idle connection in the idle state: keep-alive timeout armed, reading
 * only to notice the backend closing it. */
void sl_upconn_idle(struct sl_upconn *conn);

#endif
