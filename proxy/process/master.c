/* The master process (contract in master.h).
 *
 * State: one current generation (its config, sockets, stats segment and a pid
 * per worker slot) and the pids of retiring workers from earlier generations.
 * Invariants: every child is either in current.pids or in retiring; a slot
 * whose worker died is 0 until it is forked again (restart_at_ms says when);
 * the sockets of the current generation stay open in the master for its whole
 * life, so restarted and reloaded workers inherit the very same ones and no
 * connection is refused across either. */
/* sched_getaffinity and the CPU_* macros are GNU extensions */
#define _GNU_SOURCE
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "config_check.h"
#include "listener.h"
#include "log.h"
#include "pidfile.h"
#include "stats.h"
#include "worker.h"

#define MAX_WORKERS 256
#define MAX_RETIRING (4 * MAX_WORKERS)
#define RESTART_INTERVAL_MS 1000 /* a slot is forked at most this often */
#define STOP_GRACE_MS 5000       /* after drain_timeout_ms, before SIGKILL */

struct generation {
    struct sl_config *cfg;
    int listen_fds[SL_MAX_LISTENERS]; /* one per cfg->listeners entry */
    int taken_from[SL_MAX_LISTENERS]; /* index of the previous generation's socket it
                                       * took over, or -1: bound anew */
    int admin_fd;                     /* -1: none */
    bool has_taken_admin;
    struct sl_stats_segment *stats;
    unsigned worker_count;
    pid_t pids[MAX_WORKERS];             /* 0: not running */
    uint64_t started_ms[MAX_WORKERS];    /* last fork of the slot */
    uint64_t restart_at_ms[MAX_WORKERS]; /* 0: no restart pending */
};

struct master {
    const char *path;
    struct generation current;
    pid_t retiring[MAX_RETIRING];
    size_t retiring_count;
    bool is_stopping;
    uint64_t kill_at_ms; /* while stopping: SIGKILL whatever is left */
    int status;          /* becomes 1 when a worker stops badly */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned worker_count_of(const struct sl_config *cfg)
{
    long n = cfg->workers != 0 ? (long)cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

/* ---- sockets ---- */

static bool same_addr(const struct sl_addr *a, const struct sl_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static void close_socket(int fd, const struct sl_addr *addr)
{
    if (fd < 0)
        return;
    close(fd);
    if (sl_addr_is_unix(addr))
        unlink(((const struct sockaddr_un *)&addr->ss)->sun_path);
}

/* The sockets gen needs: taken over from old (same address) or bound anew.
 * On failure nothing of old is taken and what was bound is closed. The admin
 * socket is bound first: whoever sees a listener accept can reach /stats. */
static int open_sockets(struct generation *gen, struct generation *old, char *err, size_t len)
{
    const struct sl_config *cfg = gen->cfg;
    int *taken = gen->taken_from;
    gen->admin_fd = -1;
    bool keeps_admin = old != NULL && old->admin_fd >= 0 && cfg->admin_address != NULL &&
                       same_addr(cfg->admin_address, old->cfg->admin_address);
    if (cfg->admin_address != NULL && !keeps_admin) {
        gen->admin_fd = sl_listener_bind(cfg->admin_address, err, len);
        if (gen->admin_fd < 0)
            return -1;
    }
    for (size_t i = 0; i < cfg->listener_count; i++) {
        gen->listen_fds[i] = -1;
        taken[i] = -1;
    }
    for (size_t i = 0; i < cfg->listener_count; i++) {
        for (size_t j = 0; old != NULL && j < old->cfg->listener_count; j++) {
            if (old->listen_fds[j] >= 0 &&
                same_addr(&cfg->listeners[i].addr, &old->cfg->listeners[j].addr))
                taken[i] = (int)j;
        }
        if (taken[i] >= 0)
            continue;
        gen->listen_fds[i] = sl_listener_bind(&cfg->listeners[i].addr, err, len);
        if (gen->listen_fds[i] < 0)
            goto fail;
    }
    /* all bound: now take over from old */
    for (size_t i = 0; i < cfg->listener_count; i++) {
        if (taken[i] >= 0) {
            gen->listen_fds[i] = old->listen_fds[taken[i]];
            old->listen_fds[taken[i]] = -1;
        }
    }
    if (keeps_admin) {
        gen->admin_fd = old->admin_fd;
        old->admin_fd = -1;
    }
    gen->has_taken_admin = keeps_admin;
    return 0;
fail:
    for (size_t i = 0; i < cfg->listener_count; i++) {
        if (taken[i] < 0)
            close_socket(gen->listen_fds[i], &cfg->listeners[i].addr);
    }
    if (gen->admin_fd >= 0)
        close(gen->admin_fd);
    gen->admin_fd = -1;
    return -1;
}

/* Undoes open_sockets: what gen took over goes back to old. */
static void give_back_sockets(struct generation *gen, struct generation *old)
{
    for (size_t i = 0; i < gen->cfg->listener_count; i++) {
        if (gen->taken_from[i] >= 0) {
            old->listen_fds[gen->taken_from[i]] = gen->listen_fds[i];
            gen->listen_fds[i] = -1;
        }
    }
    if (gen->has_taken_admin) {
        old->admin_fd = gen->admin_fd;
        gen->admin_fd = -1;
    }
}

/* Closes what gen still owns (what a newer generation did not take over). */
static void close_sockets(struct generation *gen)
{
    for (size_t i = 0; i < gen->cfg->listener_count; i++) {
        close_socket(gen->listen_fds[i], &gen->cfg->listeners[i].addr);
        gen->listen_fds[i] = -1;
    }
    if (gen->admin_fd >= 0)
        close(gen->admin_fd);
    gen->admin_fd = -1;
}

/* ---- workers ---- */

/* In the child: run one worker and exit; never returns. */
/* Worker slot's CPU: the slot-th of those the master may run on, wrapping. */
static void pin_to_cpu(unsigned slot)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) == 0)
        return;
    unsigned target = slot % (unsigned)CPU_COUNT(&allowed);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &allowed) && target-- == 0) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            if (sched_setaffinity(0, sizeof(one), &one) != 0)
                SL_WARN("worker %u: cannot pin to CPU %d: %s", slot, cpu, strerror(errno));
            return;
        }
    }
}

static void run_worker(const struct generation *gen, unsigned slot, pid_t master)
{
    /* a worker must not outlive its master (and the master may be gone already) */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        _exit(1);
    /* SIGTERM stays blocked (as in the master) until the worker's loop handles
     * it: one that came during start-up would kill it. SIGINT and SIGHUP are
     * the master's: a terminal's Ctrl-C reaches the whole process group, and
     * the master turns it into one SIGTERM per worker. */
    signal(SIGINT, SIG_IGN); /* before the mask lets them in */
    signal(SIGHUP, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigset_t stops, rest;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGUSR1); /* its default action kills: wait for the loop's handler */
    sigprocmask(SIG_SETMASK, &stops, NULL);
    if (gen->cfg->worker_cpu_affinity)
        pin_to_cpu(slot);
    struct sl_worker_setup setup = {
        .listen_fds = gen->listen_fds,
        .admin_fd = gen->admin_fd,
        .stats = gen->stats,
        .slot = slot,
    };
    struct sl_worker w;
    char err[512];
    if (sl_worker_init(&w, gen->cfg, &setup, err, sizeof(err)) != 0) {
        SL_ERROR("worker %u: cannot start: %s", slot, err);
        _exit(1);
    }
    sigemptyset(&rest);
    sigprocmask(SIG_SETMASK, &rest, NULL); /* a pending stop is delivered to the loop now */
    sl_worker_run(&w);
    /* the loop is over: a late SIGTERM must not kill the teardown */
    sigprocmask(SIG_BLOCK, &stops, NULL);
    sl_worker_fini(&w);
    sl_config_free(gen->cfg);
    exit(0); /* exit handlers run: the leak checker's among them, in sanitized builds */
}

static void fork_worker(struct generation *gen, unsigned slot)
{
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid == 0)
        run_worker(gen, slot, master);
    gen->restart_at_ms[slot] = 0;
    gen->started_ms[slot] = now_ms();
    if (pid < 0) {
        SL_ERROR("worker %u: fork: %s; trying again in %d ms", slot, strerror(errno),
                 RESTART_INTERVAL_MS);
        gen->restart_at_ms[slot] = gen->started_ms[slot] + RESTART_INTERVAL_MS;
        return;
    }
    gen->pids[slot] = pid;
}

static void start_generation(struct generation *gen)
{
    for (unsigned i = 0; i < gen->worker_count; i++)
        fork_worker(gen, i);
}

static void signal_current(const struct master *m, int sig)
{
    for (unsigned i = 0; i < m->current.worker_count; i++) {
        if (m->current.pids[i] > 0)
            kill(m->current.pids[i], sig);
    }
}

/* The current generation and the retiring ones. */
static void signal_workers(const struct master *m, int sig)
{
    signal_current(m, sig);
    for (size_t i = 0; i < m->retiring_count; i++)
        kill(m->retiring[i], sig);
}

static void describe_exit(int wstatus, char *buf, size_t len)
{
    if (WIFSIGNALED(wstatus))
        snprintf(buf, len, "was killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(wstatus));
}

static bool forget_retiring(struct master *m, pid_t pid)
{
    for (size_t i = 0; i < m->retiring_count; i++) {
        if (m->retiring[i] == pid) {
            m->retiring[i] = m->retiring[--m->retiring_count];
            return true;
        }
    }
    return false;
}

/* A worker of the current generation ended: plan its restart. */
static void on_worker_exit(struct master *m, unsigned slot, pid_t pid, int wstatus)
{
    struct generation *gen = &m->current;
    gen->pids[slot] = 0;
    char how[64];
    describe_exit(wstatus, how, sizeof(how));
    bool is_clean = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    if (m->is_stopping) {
        if (!is_clean) {
            SL_ERROR("worker %u (pid %d) %s while stopping", slot, (int)pid, how);
            m->status = 1;
        }
        return;
    }
    uint64_t earliest = gen->started_ms[slot] + RESTART_INTERVAL_MS;
    uint64_t now = now_ms();
    gen->restart_at_ms[slot] = now > earliest ? now : earliest;
    SL_ERROR("worker %u (pid %d) %s; restarting it%s", slot, (int)pid, how,
             now < earliest ? " in a moment (it ran less than a second)" : "");
}

static void reap(struct master *m)
{
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        if (forget_retiring(m, pid)) {
            if (!(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)) {
                char how[64];
                describe_exit(wstatus, how, sizeof(how));
                SL_ERROR("retired worker (pid %d) %s", (int)pid, how);
                m->status = 1;
            }
            continue;
        }
        for (unsigned i = 0; i < m->current.worker_count; i++) {
            if (m->current.pids[i] == pid)
                on_worker_exit(m, i, pid, wstatus);
        }
    }
}

static void restart_due(struct master *m)
{
    struct generation *gen = &m->current;
    uint64_t now = now_ms();
    for (unsigned i = 0; i < gen->worker_count && !m->is_stopping; i++) {
        if (gen->restart_at_ms[i] != 0 && gen->restart_at_ms[i] <= now)
            fork_worker(gen, i);
    }
}

static size_t live_children(const struct master *m)
{
    size_t n = m->retiring_count;
    for (unsigned i = 0; i < m->current.worker_count; i++)
        n += m->current.pids[i] > 0;
    return n;
}

/* ---- reload and stop ---- */

/* Moves every worker of gen to the retiring list and tells it to drain. */
static void retire(struct master *m, struct generation *gen)
{
    for (unsigned i = 0; i < gen->worker_count; i++) {
        if (gen->pids[i] <= 0)
            continue;
        kill(gen->pids[i], SIGTERM);
        if (m->retiring_count < MAX_RETIRING)
            m->retiring[m->retiring_count++] = gen->pids[i];
        else
            SL_ERROR("more than %d workers draining: pid %d is no longer watched", MAX_RETIRING,
                     (int)gen->pids[i]);
    }
    close_sockets(gen);
    sl_stats_unmap(gen->stats);
    sl_config_free(gen->cfg);
}

/* A reload may name another pid file: write it first, then remove the old
 * one, so that the master can always be found. */
static void move_pid_file(const struct sl_config *old, const struct sl_config *next)
{
    char err[256];
    if (next->pid_file != NULL && sl_pidfile_write(next->pid_file, err, sizeof(err)) != 0) {
        SL_ERROR("reload: %s; keeping %s", err, old->pid_file ? old->pid_file : "no pid file");
        return;
    }
    if (old->pid_file != NULL && (next->pid_file == NULL || strcmp(old->pid_file, next->pid_file)))
        unlink(old->pid_file);
}

static void reload(struct master *m)
{
    char err[1024];
    struct generation next;
    memset(&next, 0, sizeof(next));
    if (sl_config_check(m->path, &next.cfg, err, sizeof(err)) != 0) {
        SL_ERROR("reload: %s; still running the previous config", err);
        return;
    }
    next.worker_count = worker_count_of(next.cfg);
    if (open_sockets(&next, &m->current, err, sizeof(err)) != 0) {
        SL_ERROR("reload: %s; still running the previous config", err);
        sl_config_free(next.cfg);
        return;
    }
    if (sl_stats_create(next.cfg->stats_path, next.cfg, next.worker_count, &next.stats, err,
                        sizeof(err)) != 0) {
        SL_ERROR("reload: %s; still running the previous config", err);
        give_back_sockets(&next, &m->current);
        close_sockets(&next);
        sl_config_free(next.cfg);
        return;
    }
    sl_log_set_level(next.cfg->log_level);
    move_pid_file(m->current.cfg, next.cfg);
    /* what the new config dropped must not reach the new workers: a socket they
     * inherited but never accept on would queue connections forever */
    close_sockets(&m->current);
    sl_stats_unmap(m->current.stats);
    m->current.stats = NULL;
    start_generation(&next);
    struct generation old = m->current;
    m->current = next;
    retire(m, &old);
    SL_INFO("reloaded %s: %u new workers; the previous ones drain", m->path, next.worker_count);
}

/* A second SIGTERM makes a worker close everything: retiring workers, already
 * draining, get one only when the operator insists. */
static void stop(struct master *m, int sig)
{
    if (m->is_stopping) {
        SL_WARN("signal %d while stopping: workers close everything now", sig);
        signal_workers(m, SIGTERM);
        return;
    }
    SL_INFO("signal %d: stopping %zu workers", sig, live_children(m));
    m->is_stopping = true;
    m->kill_at_ms = now_ms() + m->current.cfg->drain_timeout_ms + STOP_GRACE_MS;
    signal_current(m, SIGTERM);
}

/* ---- the loop ---- */

static void next_wakeup(const struct master *m, struct timespec *ts)
{
    uint64_t now = now_ms(), at = now + 1000;
    for (unsigned i = 0; i < m->current.worker_count; i++) {
        uint64_t due = m->current.restart_at_ms[i];
        if (due != 0 && due < at)
            at = due;
    }
    if (m->is_stopping && m->kill_at_ms < at)
        at = m->kill_at_ms;
    uint64_t wait = at > now ? at - now : 0;
    ts->tv_sec = (time_t)(wait / 1000);
    ts->tv_nsec = (long)(wait % 1000) * 1000000;
}

static void loop(struct master *m, const sigset_t *signals)
{
    while (!m->is_stopping || live_children(m) > 0) {
        struct timespec ts;
        next_wakeup(m, &ts);
        int sig = sigtimedwait(signals, NULL, &ts);
        if (sig == SIGHUP && !m->is_stopping)
            reload(m);
        else if (sig == SIGTERM || sig == SIGINT)
            stop(m, sig);
        else if (sig == SIGUSR1)
            signal_workers(m, SIGUSR1); /* the access log's files are reopened */
        reap(m);
        restart_due(m);
        if (m->is_stopping && now_ms() >= m->kill_at_ms && live_children(m) > 0) {
            SL_ERROR("workers still running %d ms after the drain timeout: killing them",
                     STOP_GRACE_MS);
            signal_workers(m, SIGKILL);
            m->kill_at_ms = UINT64_MAX;
            m->status = 1;
        }
    }
}

int sl_master_run(const char *path, struct sl_config *cfg)
{
    struct master *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        SL_ERROR("cannot start: out of memory");
        sl_config_free(cfg);
        return 1;
    }
    m->path = path;
    m->current.cfg = cfg;
    m->current.worker_count = worker_count_of(cfg);
    char err[1024];
    if (open_sockets(&m->current, NULL, err, sizeof(err)) != 0 ||
        sl_stats_create(cfg->stats_path, cfg, m->current.worker_count, &m->current.stats, err,
                        sizeof(err)) != 0) {
        SL_ERROR("cannot start: %s", err);
        sl_config_free(cfg);
        free(m);
        return 1;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGCHLD);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    sigprocmask(SIG_BLOCK, &signals, NULL); /* taken by sigtimedwait, not handlers */
    for (size_t i = 0; i < cfg->listener_count; i++)
        SL_INFO("listening on %s (%s)", cfg->listeners[i].addr.text,
                cfg->listeners[i].tls_certificate ? "TLS, h2" : "h2c");
    if (cfg->pid_file != NULL && sl_pidfile_write(cfg->pid_file, err, sizeof(err)) != 0)
        SL_ERROR("%s; sluice -s and sluicectl reload cannot find this sluice", err);
    start_generation(&m->current);
    SL_INFO("sluice %s started with %s, %u worker%s", SLUICE_VERSION, path, m->current.worker_count,
            m->current.worker_count == 1 ? "" : "s");
    loop(m, &signals);
    if (m->current.cfg->pid_file != NULL)
        unlink(m->current.cfg->pid_file);
    close_sockets(&m->current);
    sl_stats_unmap(m->current.stats);
    sl_config_free(m->current.cfg);
    int status = m->status;
    free(m);
    SL_INFO("sluice stopped");
    return status;
}
