/* Socket addresses as written in the config: "unix:/path", "127.0.0.1:8080",
 * "[::1]:8080". Numeric only: sluice resolves nothing at run time. */
#ifndef SL_ADDR_H
#define SL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define SL_ADDR_TEXT_MAX 113 /* "unix:" + sun_path (108 with its NUL) */

struct sl_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[SL_ADDR_TEXT_MAX]; /* as written, for logs */
};

/* Parses text into *addr. Returns 0, or -1 with a sentence for a person in err
 * (e.g. "port 99999 is out of range (1-65535)"). */
int sl_addr_parse(const char *text, struct sl_addr *addr, char *err, size_t err_len);

bool sl_addr_is_unix(const struct sl_addr *addr);

#endif
