#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "front_detect.h"
#include "front_io.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

#define SL_LISTEN_BACKLOG 1024
#define SL_ACCEPT_PAUSE_MS 100

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *peer,
                      int peer_len, void *arg)
{
    struct sl_listener *l = arg;
    struct sl_worker *w = l->worker;
    if (!sl_addr_is_unix(&l->cfg->addr)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    struct bufferevent *bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SL_ERROR("listener %s: out of memory for a connection", l->cfg->addr.text);
        evutil_closesocket(fd);
        return;
    }
    SSL *ssl = l->tls != NULL ? sl_tls_session_new(l->tls, bev) : NULL;
    if (l->tls != NULL && ssl == NULL) {
        SL_ERROR("listener %s: out of memory for a TLS session", l->cfg->addr.text);
        bufferevent_free(bev);
        return;
    }
    unsigned index = (unsigned)(l->cfg - w->cfg->listeners);
    if (sl_front_detect_start(&w->plane, bev, ssl, index, peer, (socklen_t)peer_len) != 0)
        SL_ERROR("listener %s: out of memory for a connection", l->cfg->addr.text);
    sl_worker_check_connection_limit(w);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct sl_listener *l = arg;
    if (l->evl != NULL)
        evconnlistener_enable(l->evl);
}

/* Out of descriptors or memory: the pending connection stays in the backlog,
 * so pause instead of spinning on a socket that stays readable. */
static void on_accept_error(struct evconnlistener *evl, void *arg)
{
    struct sl_listener *l = arg;
    int e = EVUTIL_SOCKET_ERROR();
    SL_ERROR("listener %s: accept failed: %s; pausing %d ms", l->cfg->addr.text,
             evutil_socket_error_to_string(e), SL_ACCEPT_PAUSE_MS);
    evconnlistener_disable(evl);
    struct timeval tv = {0, SL_ACCEPT_PAUSE_MS * 1000};
    evtimer_add(l->resume_timer, &tv);
}

/* Does a server accept on the Unix socket at addr? A refused connect means
 * nobody listens there any more. */
static bool is_socket_live(const struct sl_addr *addr)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool is_live = connect(fd, (const struct sockaddr *)&addr->ss, addr->len) == 0 ||
                   errno == EAGAIN || errno == EINPROGRESS;
    close(fd);
    return is_live;
}

/* A Unix socket path left by an earlier run is removed; a socket some server
 * still accepts on, and anything that is not a socket, are kept. */
static int clear_stale_socket(const struct sl_addr *addr, char *err, size_t err_len)
{
    const char *path = ((const struct sockaddr_un *)&addr->ss)->sun_path;
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, err_len, "listener %s: %s exists and is not a socket", addr->text, path);
        return -1;
    }
    if (is_socket_live(addr)) {
        snprintf(err, err_len, "listener %s: a running server accepts on %s", addr->text, path);
        return -1;
    }
    unlink(path);
    return 0;
}

int sl_listener_bind(const struct sl_addr *addr, char *err, size_t err_len)
{
    if (sl_addr_is_unix(addr) && clear_stale_socket(addr, err, err_len) != 0)
        return -1;
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_len, "listener %s: socket: %s", addr->text, strerror(errno));
        return -1;
    }
    int one = 1;
    if (addr->ss.ss_family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 ||
        listen(fd, SL_LISTEN_BACKLOG) != 0) {
        snprintf(err, err_len, "listener %s: cannot listen: %s", addr->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sl_listener_open(struct sl_listener *l, struct sl_worker *w,
                     const struct sl_listener_config *cfg, int fd, char *err, size_t err_len)
{
    l->worker = w;
    l->cfg = cfg;
    if (cfg->tls_certificate != NULL) {
        l->tls = sl_tls_server_ctx(cfg->tls_certificate, cfg->tls_key, err, err_len);
        if (l->tls == NULL)
            goto fail_tls;
    }
    l->resume_timer = evtimer_new(w->base, on_resume, l);
    if (l->resume_timer == NULL) {
        snprintf(err, err_len, "listener %s: out of memory", cfg->addr.text);
        goto fail_timer;
    }
    l->evl = evconnlistener_new(w->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (l->evl == NULL) {
        snprintf(err, err_len, "listener %s: out of memory", cfg->addr.text);
        goto fail_evl;
    }
    evconnlistener_set_error_cb(l->evl, on_accept_error);
    return 0;

fail_evl:
    event_free(l->resume_timer);
    l->resume_timer = NULL;
fail_timer:
    SSL_CTX_free(l->tls);
    l->tls = NULL;
fail_tls:
    close(fd);
    return -1;
}

void sl_listener_close(struct sl_listener *l)
{
    if (l->evl != NULL) {
        evconnlistener_free(l->evl);
        l->evl = NULL;
    }
    if (l->resume_timer != NULL) {
        event_free(l->resume_timer);
        l->resume_timer = NULL;
    }
    SSL_CTX_free(l->tls);
    l->tls = NULL;
}
