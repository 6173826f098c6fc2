#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* the segment has room for every backend and listener a config may have */
_Static_assert(SL_MAX_BACKENDS <= SL_STATS_MAX_BACKENDS, "stats: too few backend slots");
_Static_assert(SL_MAX_LISTENERS <= SL_STATS_LISTENERS, "stats: too few listener slots");

size_t sl_stats_size(unsigned worker_slots)
{
    return sizeof(struct sl_stats_header) + (size_t)worker_slots * sizeof(struct sl_stats_worker);
}

static void copy_name(char *to, const char *name)
{
    snprintf(to, SL_STATS_NAME_BYTES, "%s", name);
}

static void write_header(struct sl_stats_segment *seg, const struct sl_config *cfg,
                         unsigned worker_slots, size_t size)
{
    struct sl_stats_header *h = &seg->header;
    h->version = SL_STATS_VERSION;
    h->size = size;
    h->worker_slots = worker_slots;
    h->backend_count = (uint32_t)cfg->backend_count;
    h->class_count = (uint32_t)cfg->class_count;
    for (size_t i = 0; i < cfg->backend_count; i++)
        copy_name(h->backend_names[i], cfg->backends[i].name);
    for (size_t i = 0; i < cfg->class_count; i++)
        copy_name(h->class_names[i], cfg->classes[i].name);
    h->listener_count = (uint32_t)cfg->listener_count;
    for (size_t i = 0; i < cfg->listener_count && i < SL_STATS_LISTENERS; i++) {
        const struct sl_listener_config *l = &cfg->listeners[i];
        snprintf(h->listener_names[i], SL_STATS_LISTENER_BYTES, "%s",
                 l->name != NULL ? l->name : l->addr.text);
    }
    /* last: a reader that sees the magic sees a complete header */
    __atomic_store_n(&h->magic, SL_STATS_MAGIC, __ATOMIC_RELEASE);
}

int sl_stats_create(const char *path, const struct sl_config *cfg, unsigned worker_slots,
                    struct sl_stats_segment **out, char *err, size_t err_len)
{
    if (cfg->backend_count > SL_STATS_MAX_BACKENDS) {
        snprintf(err, err_len, "stats segment %s: at most %d backends", path,
                 SL_STATS_MAX_BACKENDS);
        return -1;
    }
    size_t size = sl_stats_size(worker_slots);
    if (path == NULL) {
        void *anon = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (anon == MAP_FAILED) {
            snprintf(err, err_len, "stats segment: %s", strerror(errno));
            return -1;
        }
        write_header(anon, cfg, worker_slots, size);
        *out = anon;
        return 0;
    }
    /* a fresh file, complete before it takes the name: the one it replaces
     * (a running generation's) stays until then, and readers that still map
     * it keep their figures */
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        snprintf(err, err_len, "stats segment %s: path too long", path);
        return -1;
    }
    /* a name nobody can guess, created O_EXCL (a planted link is not followed);
     * readable by the owner's group, since it shows client addresses */
    int fd = mkstemp(tmp); /* closed once mapped, before any fork */
    if (fd < 0 || fchmod(fd, 0640) != 0) {
        snprintf(err, err_len, "stats segment %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return -1;
    }
    void *map = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0)
        map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int saved = errno;
    close(fd);
    if (map != MAP_FAILED) {
        write_header(map, cfg, worker_slots, size);
        if (rename(tmp, path) == 0) {
            *out = map;
            return 0;
        }
        saved = errno;
        munmap(map, size);
    }
    snprintf(err, err_len, "stats segment %s: %s", path, strerror(saved));
    unlink(tmp);
    return -1;
}

static int check_header(const struct sl_stats_header *h, size_t file_size, const char *path,
                        char *err, size_t err_len)
{
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != SL_STATS_MAGIC) {
        snprintf(err, err_len, "%s is not a sluice stats segment", path);
        return -1;
    }
    if (h->version != SL_STATS_VERSION) {
        snprintf(err, err_len, "%s has stats layout version %u; this reader knows %u", path,
                 h->version, SL_STATS_VERSION);
        return -1;
    }
    if (h->size != file_size || h->size != sl_stats_size(h->worker_slots) ||
        h->backend_count > SL_STATS_MAX_BACKENDS || h->class_count > SL_CLASS_MAX ||
        h->listener_count > SL_STATS_LISTENERS) {
        snprintf(err, err_len, "%s is a damaged stats segment", path);
        return -1;
    }
    return 0;
}

int sl_stats_open(const char *path, const struct sl_stats_segment **out, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open the stats segment %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct sl_stats_header)) {
        close(fd);
        snprintf(err, err_len, "%s is not a sluice stats segment", path);
        return -1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int saved = errno;
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(err, err_len, "cannot map the stats segment %s: %s", path, strerror(saved));
        return -1;
    }
    if (check_header(map, (size_t)st.st_size, path, err, err_len) < 0) {
        munmap(map, (size_t)st.st_size);
        return -1;
    }
    *out = map;
    return 0;
}

void sl_stats_unmap(const struct sl_stats_segment *seg)
{
    if (seg != NULL)
        munmap((void *)seg, seg->header.size);
}

static void add_counts(struct sl_stats_counts *to, const struct sl_stats_counts *from)
{
    to->received += from->received;
    to->admitted += from->admitted;
    for (int r = 0; r < SL_SHED_REASON_COUNT; r++)
        to->shed[r] += from->shed[r];
    to->cancelled += from->cancelled;
    for (int s = 0; s < 5; s++)
        to->responses[s] += from->responses[s];
    to->queued += from->queued;
    if (from->backlog_us > to->backlog_us)
        to->backlog_us = from->backlog_us;
}

static void add_worker(struct sl_stats_worker *to, const struct sl_stats_worker *from,
                       const struct sl_stats_header *h)
{
    to->connections_open += from->connections_open;
    to->conns_untracked += from->conns_untracked;
    to->requests_malformed += from->requests_malformed;
    for (int p = 0; p < SL_PROTO_SLOTS; p++) {
        to->accepted[p] += from->accepted[p];
        to->requests[p] += from->requests[p];
    }
    to->bytes_in += from->bytes_in;
    to->bytes_out += from->bytes_out;
    to->events_sent += from->events_sent;
    to->events_dropped += from->events_dropped;
    to->access_log_lines += from->access_log_lines;
    to->access_log_dropped += from->access_log_dropped;
    to->h2_glitch_closes += from->h2_glitch_closes;
    to->connection_limit_hits += from->connection_limit_hits;
    to->bodies_too_large += from->bodies_too_large;
    to->heads_too_large += from->heads_too_large;
    to->response_pauses += from->response_pauses;
    to->streams_open += from->streams_open;
    if (from->overload_level > to->overload_level)
        to->overload_level = from->overload_level; /* the worst worker's */
    for (uint32_t b = 0; b < h->backend_count; b++) {
        to->backends[b].inflight += from->backends[b].inflight;
        to->backends[b].queued += from->backends[b].queued;
        to->backends[b].limit += from->backends[b].limit;
        to->backends[b].knee += from->backends[b].knee;
        if (from->backends[b].no_load_us > to->backends[b].no_load_us)
            to->backends[b].no_load_us = from->backends[b].no_load_us;
        to->backends[b].probing += from->backends[b].probing;
        to->backends[b].connect_errors += from->backends[b].connect_errors;
        to->backends[b].timeouts += from->backends[b].timeouts;
        to->backends[b].failures += from->backends[b].failures;
        if (from->backends[b].servers_ejected > to->backends[b].servers_ejected)
            to->backends[b].servers_ejected = from->backends[b].servers_ejected;
        to->backends[b].ejections += from->backends[b].ejections;
        to->backends[b].health_checks_failed += from->backends[b].health_checks_failed;
        for (uint32_t c = 0; c < h->class_count; c++)
            add_counts(&to->counts[b][c], &from->counts[b][c]);
        sl_hist_merge(&to->latency_by_backend[b], &from->latency_by_backend[b]);
    }
    for (uint32_t c = 0; c < h->class_count; c++) {
        sl_hist_merge(&to->latency_by_class[c], &from->latency_by_class[c]);
        sl_hist_merge(&to->shed_latency_by_class[c], &from->shed_latency_by_class[c]);
    }
}

void sl_stats_sum(const struct sl_stats_segment *seg, struct sl_stats_worker *total)
{
    memset(total, 0, sizeof(*total));
    for (uint32_t i = 0; i < seg->header.worker_slots; i++) {
        if (seg->workers[i].pid != 0)
            add_worker(total, &seg->workers[i], &seg->header);
    }
}

/* ---- the connection table: a sequence lock per row ---- */

struct sl_stats_conn *sl_stats_conn_claim(struct sl_stats_worker *w, uint32_t *hint)
{
    for (uint32_t n = 0; n < SL_STATS_CONN_ROWS; n++) {
        uint32_t i = (*hint + n) % SL_STATS_CONN_ROWS;
        if (w->conns[i].id == 0) {
            *hint = (i + 1) % SL_STATS_CONN_ROWS;
            return &w->conns[i];
        }
    }
    __atomic_add_fetch(&w->conns_untracked, 1, __ATOMIC_RELAXED);
    return NULL;
}

void sl_stats_slot_reset(struct sl_stats_worker *w)
{
    for (uint32_t i = 0; i < SL_STATS_CONN_ROWS; i++) {
        struct sl_stats_conn *row = &w->conns[i];
        uint64_t seq = (row->seq + 1) & ~(uint64_t)1; /* even, and changed for readers */
        memset(row, 0, sizeof(*row));
        __atomic_store_n(&row->seq, seq, __ATOMIC_RELEASE);
    }
    w->connections_open = 0;
    w->streams_open = 0;
    w->overload_level = 0;
    for (uint32_t b = 0; b < SL_STATS_MAX_BACKENDS; b++) {
        w->backends[b].inflight = 0;
        w->backends[b].queued = 0;
    }
}

void sl_stats_conn_begin(struct sl_stats_conn *row)
{
    __atomic_store_n(&row->seq, row->seq + 1, __ATOMIC_RELAXED); /* odd: changing */
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

void sl_stats_conn_end(struct sl_stats_conn *row)
{
    __atomic_store_n(&row->seq, row->seq + 1, __ATOMIC_RELEASE); /* even: whole */
}

void sl_stats_conn_release(struct sl_stats_conn *row)
{
    sl_stats_conn_begin(row);
    uint64_t seq = row->seq;
    memset((char *)row + sizeof(row->seq), 0, sizeof(*row) - sizeof(row->seq));
    row->seq = seq;
    sl_stats_conn_end(row);
}

bool sl_stats_conn_read(const struct sl_stats_conn *row, struct sl_stats_conn *out)
{
    for (int tries = 0; tries < 16; tries++) {
        uint64_t before = __atomic_load_n(&row->seq, __ATOMIC_ACQUIRE);
        if (before & 1)
            continue;
        memcpy(out, row, sizeof(*out));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&row->seq, __ATOMIC_RELAXED) == before)
            return out->id != 0;
    }
    return false;
}

const char *sl_stats_protocol_name(uint32_t protocol)
{
    static const char *const names[SL_PROTO_SLOTS] = {"?", "h2c", "h2", "http1", "http1_tls"};
    return protocol < SL_PROTO_SLOTS ? names[protocol] : "?";
}

const char *sl_stats_conn_protocol(const struct sl_stats_conn *row, char *buf, size_t len)
{
    /* the TLS version says it is TLS */
    const char *name =
        row->protocol == SL_PROTO_HTTP1_TLS ? "http1" : sl_stats_protocol_name(row->protocol);
    if (row->tls_version[0] == '\0')
        snprintf(buf, len, "%s", name);
    else
        snprintf(buf, len, "%s/%.16s", name, row->tls_version);
    return buf;
}
