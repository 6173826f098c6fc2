/* libFuzzer: a whole client connection against the real data path. The input
 * is what a client sends (after the HTTP/2 preface when its first byte is odd,
 * as it is: HTTP/1.1 or garbage when even), over a socketpair, to the front
 * sluice detects; the backend is a Unix socket nobody listens on, so requests
 * that get that far are answered 502. Every input must end with the
 * connection closed and nothing left allocated (LeakSanitizer). */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "front_detect.h"
#include "log.h"
#include "plane.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] = "log_level: error\n"
                                  "listeners:\n"
                                  "  - address: 127.0.0.1:8080\n"
                                  "backends:\n"
                                  "  - name: nobody\n"
                                  "    servers: [unix:/nonexistent/sluice-fuzz.sock]\n";

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct world {
    struct event_base *base;
    struct sl_config *cfg;
    struct sl_stats_worker *stats;
    struct sl_plane plane;
};

static struct sl_config *load_config(void)
{
    int fd = memfd_create("sluice-fuzz.yaml", MFD_CLOEXEC);
    if (fd < 0 || write(fd, config_text, sizeof(config_text) - 1) < 0)
        abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct sl_config *cfg;
    char err[512];
    if (sl_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    close(fd);
    return cfg;
}

/* One world for the whole run: a plane left with no front after each input. */
static struct world *world(void)
{
    static struct world w;
    if (w.base != NULL)
        return &w;
    w.cfg = load_config();
    sl_log_set_level(w.cfg->log_level);
    w.base = event_base_new();
    w.stats = calloc(1, sizeof(*w.stats));
    char err[256];
    if (w.base == NULL || w.stats == NULL ||
        sl_plane_open(&w.plane, w.base, w.cfg, w.stats, err, sizeof(err)) != 0)
        abort();
    return &w;
}

/* Runs the loop while it has work, reading and dropping what sluice writes. */
static void run(struct world *w, int client)
{
    char sink[65536];
    for (int turn = 0; turn < 64; turn++) {
        event_base_loop(w->base, EVLOOP_NONBLOCK);
        while (read(client, sink, sizeof(sink)) > 0)
            ;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct world *w = world();
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        abort();
    struct bufferevent *bev = bufferevent_socket_new(w->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    if (bev == NULL || sl_front_detect_start(&w->plane, bev, 0, false, (struct sockaddr *)&peer,
                                             sizeof(peer)) != 0)
        abort();
    if (size > 0 && (data[0] & 1))
        (void)!write(fds[1], preface, sizeof(preface) - 1);
    if (size > 1)
        (void)!write(fds[1], data + 1, size - 1);
    run(w, fds[1]);
    shutdown(fds[1], SHUT_WR);
    run(w, fds[1]);
    close(fds[1]);
    run(w, -1);
    sl_plane_abort_fronts(&w->plane); /* what waits on a timer goes too */
    event_base_loop(w->base, EVLOOP_NONBLOCK);
    return 0;
}
