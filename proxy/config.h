/* The configuration: parsed once from YAML into immutable structs.
 *
 * A struct sl_config owns all its memory (one arena) and is never modified after
 * sl_config_load() returns, so it can be shared read-only by everything that
 * holds a pointer to it. Every key is documented in docs/config.md and
 * annotated in conf/sluice.yaml. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "log.h"

struct sl_arena;

struct sl_listener_config {
    struct sl_addr addr;
    const char *tls_certificate; /* PEM path; NULL for cleartext (h2c) */
    const char *tls_key;         /* PEM path; set exactly when tls_certificate is */
};

struct sl_backend_config {
    const char *name;
    struct sl_addr *servers;
    size_t server_count; /* >= 1 */
    uint32_t connect_timeout_ms;
    uint32_t response_timeout_ms; /* request sent → response head; silence within a
                                   * response; waiting for a free connection */
    uint32_t max_connections;     /* per server */
    uint32_t keepalive_idle_timeout_ms;
};

struct sl_route_config {
    const char *prefix; /* matched against the request path, byte for byte */
    size_t prefix_len;
    const struct sl_backend_config *backend;
};

struct sl_config {
    const char *path; /* the file it was loaded from */
    enum sl_log_level log_level;
    uint32_t drain_timeout_ms;
    uint32_t client_idle_timeout_ms;   /* a connection with no open stream, or a stream
                                        * whose client stopped sending or reading */
    uint32_t max_concurrent_streams;   /* per HTTP/2 connection */
    uint32_t stream_window_bytes;      /* HTTP/2 receive window per stream */
    uint32_t response_buffer_bytes;    /* response bytes buffered per stream */
    uint32_t max_request_header_bytes; /* RFC 9113 §6.5.2 size; larger gets 431 */
    struct sl_listener_config *listeners;
    size_t listener_count; /* >= 1 */
    struct sl_backend_config *backends;
    size_t backend_count; /* >= 1 */
    struct sl_route_config *routes;
    size_t route_count;
    const struct sl_backend_config *default_backend;
    struct sl_arena *arena;
};

/* Loads and validates path. On success returns 0 and a config the caller owns
 * (free with sl_config_free). On failure returns -1 and writes
 * "FILE:LINE: reason" into err (the reason names the key and says what was
 * expected); *out is left untouched. */
int sl_config_load(const char *path, struct sl_config **out, char *err, size_t err_len);

void sl_config_free(struct sl_config *cfg);

/* The backend for a request path: the first route whose prefix starts the
 * path, else the default backend. Never NULL. */
const struct sl_backend_config *sl_config_route(const struct sl_config *cfg, const char *path,
                                                size_t path_len);

#endif
