#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#define UNIX_PREFIX "unix:"
#define UNIX_PREFIX_LEN (sizeof(UNIX_PREFIX) - 1)

/* Longest unix socket path we accept: it must fit sun_path with its NUL and
 * addr->text with the "unix:" prefix and its NUL. */
static size_t unix_path_max(const struct sl_addr *addr)
{
    size_t sun_max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    size_t text_max = sizeof(addr->text) - UNIX_PREFIX_LEN - 1;
    return sun_max < text_max ? sun_max : text_max;
}

static int parse_unix(const char *path, struct sl_addr *addr, char *err, size_t err_len)
{
    size_t len = strlen(path);
    if (len == 0) {
        snprintf(err, err_len, "unix: needs a socket path, e.g. unix:/run/app.sock");
        return -1;
    }
    if (path[0] != '/') {
        snprintf(err, err_len,
                 "unix socket path '%.64s' must be absolute (start with '/'), e.g. "
                 "unix:/run/app.sock",
                 path);
        return -1;
    }
    size_t max = unix_path_max(addr);
    if (len > max) {
        snprintf(err, err_len, "unix socket path is %zu bytes long; at most %zu bytes fit", len,
                 max);
        return -1;
    }
    struct sockaddr_un *sun = (struct sockaddr_un *)&addr->ss;
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, len + 1);
    addr->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
}

/* port is the text after the last ':'; decimal digits only, 1-65535. */
static int parse_port(const char *port, uint16_t *out, char *err, size_t err_len)
{
    if (*port == '\0') {
        snprintf(err, err_len, "the port is missing after ':'");
        return -1;
    }
    uint32_t value = 0;
    const char *p;
    for (p = port; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            snprintf(err, err_len, "port '%.32s' is not a number", port);
            return -1;
        }
        if (value <= 65535) /* stop growing once out of range: no overflow */
            value = value * 10 + (uint32_t)(*p - '0');
    }
    if (value < 1 || value > 65535) {
        snprintf(err, err_len, "port %.32s is out of range (1-65535)", port);
        return -1;
    }
    *out = (uint16_t)value;
    return 0;
}

static int parse_ipv6(const char *text, struct sl_addr *addr, char *err, size_t err_len)
{
    const char *close = strchr(text, ']');
    if (close == NULL) {
        snprintf(err, err_len, "'[' has no matching ']'; write an IPv6 address as [::1]:8080");
        return -1;
    }
    if (close[1] != ':') {
        snprintf(err, err_len, "expected ':' and a port after ']', e.g. [::1]:8080");
        return -1;
    }
    char host[INET6_ADDRSTRLEN + 1];
    size_t host_len = (size_t)(close - text - 1);
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr->ss;
    if (host_len >= sizeof(host)) {
        snprintf(err, err_len, "'%.*s' is not an IPv6 address", 64, text + 1);
        return -1;
    }
    memcpy(host, text + 1, host_len);
    host[host_len] = '\0';
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
        snprintf(err, err_len, "'%s' is not an IPv6 address", host);
        return -1;
    }
    uint16_t port;
    if (parse_port(close + 2, &port, err, err_len) < 0)
        return -1;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    addr->len = sizeof(*sin6);
    return 0;
}

static int parse_ipv4(const char *text, struct sl_addr *addr, char *err, size_t err_len)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL) {
        snprintf(err, err_len,
                 "'%.64s' has no port; write IP:port (e.g. 127.0.0.1:8080), [IPv6]:port or "
                 "unix:/path",
                 text);
        return -1;
    }
    if (strchr(text, ':') != colon) {
        snprintf(err, err_len, "an IPv6 address needs brackets, e.g. [::1]:8080");
        return -1;
    }
    size_t host_len = (size_t)(colon - text);
    if (host_len == 0) {
        snprintf(err, err_len,
                 "the IP address is missing before ':'; write 0.0.0.0%.16s to listen on every "
                 "interface",
                 colon);
        return -1;
    }
    char host[INET_ADDRSTRLEN];
    struct sockaddr_in *sin = (struct sockaddr_in *)&addr->ss;
    bool is_ip = false;
    if (host_len < sizeof(host)) {
        memcpy(host, text, host_len);
        host[host_len] = '\0';
        is_ip = inet_pton(AF_INET, host, &sin->sin_addr) == 1;
    }
    if (!is_ip) {
        /* sluice resolves nothing: a name would pin whatever DNS said at load time */
        snprintf(err, err_len,
                 "'%.*s' is not an IP address; use an IP address (e.g. 127.0.0.1:8080 or "
                 "[::1]:8080) or unix:/path",
                 (int)(host_len > 64 ? 64 : host_len), text);
        return -1;
    }
    uint16_t port;
    if (parse_port(colon + 1, &port, err, err_len) < 0)
        return -1;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    addr->len = sizeof(*sin);
    return 0;
}

int sl_addr_parse(const char *text, struct sl_addr *addr, char *err, size_t err_len)
{
    struct sl_addr parsed;
    /* zeroed so that two equal addresses compare equal with memcmp */
    memset(&parsed, 0, sizeof(parsed));
    int rc;
    size_t len = strlen(text);
    if (len == 0) {
        snprintf(err, err_len,
                 "the address is empty; write IP:port (e.g. 127.0.0.1:8080), [IPv6]:port or "
                 "unix:/path");
        return -1;
    }
    if (strncmp(text, UNIX_PREFIX, UNIX_PREFIX_LEN) == 0) {
        rc = parse_unix(text + UNIX_PREFIX_LEN, &parsed, err, err_len);
    } else if (len >= sizeof(parsed.text)) {
        snprintf(err, err_len, "'%.32s...' is too long to be an IP address and port", text);
        return -1;
    } else if (text[0] == '[') {
        rc = parse_ipv6(text, &parsed, err, err_len);
    } else {
        rc = parse_ipv4(text, &parsed, err, err_len);
    }
    if (rc < 0)
        return -1;
    memcpy(parsed.text, text, len + 1); /* fits: checked above or by unix_path_max */
    *addr = parsed;
    return 0;
}

bool sl_addr_is_unix(const struct sl_addr *addr)
{
    return addr->ss.ss_family == AF_UNIX;
}
