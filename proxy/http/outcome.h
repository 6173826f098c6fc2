/* How a request ended: the record that its one exit (sl_request_finish)
 * hands to everything that reports on requests (the stats now; the access log
 * and the event sink read the same record).
 *
 * The termination code is two letters in the manner of HAProxy's termination
 * flags: who ended the request, then the phase it was in ("--" for a request
 * answered in full). */
#ifndef SL_OUTCOME_H
#define SL_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "class.h"

struct sl_backend_config;
struct sl_plane;

/* Who ended it. */
enum sl_term_cause {
    SL_CAUSE_NONE,             /* '-' answered in full */
    SL_CAUSE_CLIENT,           /* 'C' the client reset the stream or closed the connection */
    SL_CAUSE_CLIENT_TIMEOUT,   /* 'c' the client stalled (client_idle_timeout_ms) */
    SL_CAUSE_UPSTREAM,         /* 'S' the backend refused, broke, or answered badly */
    SL_CAUSE_UPSTREAM_TIMEOUT, /* 's' the backend (or a free connection) did not come in time */
    SL_CAUSE_POLICY,           /* 'P' sluice answered itself: shed, or refused (400, 431, 501) */
    SL_CAUSE_RESOURCE,         /* 'R' out of memory */
    SL_CAUSE_SHUTDOWN,         /* 'K' closed by the drain timeout or a second signal */
};

/* The phase it was in when it ended. */
enum sl_term_phase {
    SL_PHASE_NONE,          /* '-' answered in full */
    SL_PHASE_HEAD,          /* 'R' the request was arriving or being decided on: a 400, 431
                             * or 501, or a shed at the door (overload, deadline, full queue) */
    SL_PHASE_QUEUE,         /* 'Q' waiting for admission or for a connection */
    SL_PHASE_CONNECT,       /* 'C' connecting to the backend */
    SL_PHASE_RESPONSE_HEAD, /* 'H' the request was sent, the response head not yet relayed */
    SL_PHASE_BODY,          /* 'D' relaying the response body */
    SL_PHASE_LAST,          /* 'L' the backend was done, the client had not read it all */
};

struct sl_outcome {
    unsigned protocol; /* the client connection's, enum sl_stats_protocol */
    unsigned status;   /* the response status sent to the client; 0: none was */
    enum sl_term_cause cause;
    enum sl_term_phase phase;
    const struct sl_backend_config *backend; /* NULL: ended before the rules placed it */
    unsigned class_index;                    /* valid when backend is set */
    bool is_shed;
    enum sl_shed_reason shed_reason; /* valid when is_shed */
    bool is_from_upstream;           /* the status came from the backend */
    const char *server; /* the backend server last attached to (its address); NULL: none */
    uint64_t arrival_ns;
    uint64_t upstream_start_ns; /* the last attach to a backend connection, kept only with an
                                 * access log; 0: none */
    uint64_t response_end_ns;   /* the backend's response was complete; 0: it was not */
    uint64_t bytes_in;          /* request body bytes received from the client */
    uint64_t bytes_out;         /* response body bytes handed to the client's connection */
};

/* The termination code: two letters and a NUL. */
void sl_outcome_code(const struct sl_outcome *o, char out[3]);

/* Records o in the plane's stats slot: the answer by status class, the
 * latency of a complete proxied response or of a shed answer (called as the
 * request ends), backend failures, and the request under its client protocol. */
void sl_outcome_publish(struct sl_plane *p, const struct sl_outcome *o);

#endif
