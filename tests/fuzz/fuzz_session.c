/* libFuzzer: a whole client connection against the real data path, and a
 * backend that answers whatever the input says.
 *
 * Input: one flags byte (bit 0: the client speaks HTTP/2, so the preface goes
 * first), two bytes giving the length of the client's part (big-endian, cut to
 * what there is), the client's bytes, then the backend's: each connection
 * sluice opens to the backend (a Unix socket served in the same loop) gets
 * them as its answer, after which the backend closes. Requests whose path
 * starts with /h2c go to the same socket as an h2c backend, so that the
 * backend's bytes are HTTP/2 frames to sluice's upstream session; the others
 * go to it as an HTTP/1.1 backend. The client's bytes go
 * over a socketpair to the front sluice detects. Every input must end with the
 * connections closed and nothing left allocated (LeakSanitizer). */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "front_detect.h"
#include "log.h"
#include "plane.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#define BACKEND_CONNS_MAX 64

struct world {
    struct event_base *base;
    struct sl_config *cfg;
    struct sl_stats_worker *stats;
    struct sl_plane plane;
    struct evconnlistener *backend;
    const uint8_t *answer; /* this input's backend bytes */
    size_t answer_len;
    struct bufferevent *backend_conns[BACKEND_CONNS_MAX];
};

static struct world w;

/* Every kind of rule matcher, so that each request's head goes through them. */
static struct sl_config *load_config(const char *backend_path)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "log_level: error\n"
             "listeners:\n"
             "  - address: 127.0.0.1:8080\n"
             "backends:\n"
             "  - name: scripted\n"
             "    servers: [unix:%s]\n"
             "    keepalive_idle_timeout_ms: 0\n"
             "  - name: scripted-h2c\n"
             "    servers: [unix:%s]\n"
             "    protocol: h2c\n"
             "    keepalive_idle_timeout_ms: 0\n"
             "classes:\n"
             "  - name: bid\n"
             "    sheddable: false\n"
             "  - name: bulk\n"
             "default_class: bulk\n"
             "rules:\n"
             "  - path_prefix: /h2c\n"
             "    backend: scripted-h2c\n"
             "  - method: [POST, PUT]\n"
             "    path_regex: ^/bid(/v[0-9]+)?$\n"
             "    class: bid\n"
             "  - path: [/track, /pixel]\n"
             "    authority: [example.com, \"example.com:8443\"]\n"
             "    headers:\n"
             "      - name: X-Exchange\n"
             "        matches: ^[a-z]+$\n"
             "      - name: x-debug\n"
             "        absent: true\n"
             "      - name: content-type\n"
             "        equals: application/json\n"
             "    class: bid\n"
             "  - client: [127.0.0.0/8, \"::1\"]\n"
             "    headers:\n"
             "      - name: x-bulk\n"
             "    class: bulk\n",
             backend_path, backend_path);
    int fd = memfd_create("sluice-fuzz.yaml", MFD_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) < 0)
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

static void backend_conn_free(struct bufferevent *bev)
{
    for (size_t i = 0; i < BACKEND_CONNS_MAX; i++) {
        if (w.backend_conns[i] == bev)
            w.backend_conns[i] = NULL;
    }
    bufferevent_free(bev);
}

/* What sluice sends is read and dropped; the answer is written at once. */
static void on_backend_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_backend_written(struct bufferevent *bev, void *arg)
{
    backend_conn_free(bev); /* the answer has left: the backend closes */
}

static void on_backend_event(struct bufferevent *bev, short what, void *arg)
{
    backend_conn_free(bev);
}

static void on_backend_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
                              int len, void *arg)
{
    size_t slot = 0;
    while (slot < BACKEND_CONNS_MAX && w.backend_conns[slot] != NULL)
        slot++;
    struct bufferevent *bev =
        slot < BACKEND_CONNS_MAX ? bufferevent_socket_new(w.base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (bev == NULL) {
        close(fd);
        return;
    }
    w.backend_conns[slot] = bev;
    bufferevent_setcb(bev, on_backend_read, on_backend_written, on_backend_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    bufferevent_write(bev, w.answer, w.answer_len);
}

static void open_backend(char *path, size_t path_len)
{
    char dir[] = "/tmp/sluice-fuzz-XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(path, path_len, "%s/backend.sock", dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    w.backend = evconnlistener_new_bind(w.base, on_backend_accept, NULL,
                                        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
                                        (struct sockaddr *)&sun, sizeof(sun));
    if (w.backend == NULL)
        abort();
}

/* One world for the whole run: a plane left with no front after each input. */
static void open_world(void)
{
    if (w.base != NULL)
        return;
    signal(SIGPIPE, SIG_IGN); /* as the worker does: a peer gone is an error, not a death */
    w.base = event_base_new();
    if (w.base == NULL)
        abort();
    char path[128];
    open_backend(path, sizeof(path));
    w.cfg = load_config(path);
    sl_log_set_level(w.cfg->log_level);
    w.stats = calloc(1, sizeof(*w.stats));
    char err[256];
    if (w.stats == NULL || sl_plane_open(&w.plane, w.base, w.cfg, w.stats, err, sizeof(err)) != 0)
        abort();
}

/* Runs the loop while it has work, reading and dropping what sluice writes. */
static void run(int client)
{
    char sink[65536];
    for (int turn = 0; turn < 64; turn++) {
        event_base_loop(w.base, EVLOOP_NONBLOCK);
        while (client >= 0 && read(client, sink, sizeof(sink)) > 0)
            ;
    }
}

static void close_backend_conns(void)
{
    for (size_t i = 0; i < BACKEND_CONNS_MAX; i++) {
        if (w.backend_conns[i] != NULL)
            backend_conn_free(w.backend_conns[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    open_world();
    bool is_h2 = data[0] & 1;
    size_t client_len = (size_t)data[1] << 8 | data[2];
    if (client_len > size - 3)
        client_len = size - 3;
    const uint8_t *client = data + 3;
    w.answer = client + client_len;
    w.answer_len = size - 3 - client_len;

    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        abort();
    struct bufferevent *bev = bufferevent_socket_new(w.base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    if (bev == NULL ||
        sl_front_detect_start(&w.plane, bev, NULL, 0, (struct sockaddr *)&peer, sizeof(peer)) != 0)
        abort();
    if (is_h2)
        (void)!write(fds[1], preface, sizeof(preface) - 1);
    (void)!write(fds[1], client, client_len);
    run(fds[1]);
    shutdown(fds[1], SHUT_WR);
    run(fds[1]);
    close(fds[1]);
    run(-1);
    sl_plane_abort_fronts(&w.plane); /* what waits on a timer goes too */
    close_backend_conns();
    run(-1);
    return 0;
}
