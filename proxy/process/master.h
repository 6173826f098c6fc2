/* The master process: owns the config, the bound sockets and the stats
 * segment, and runs the workers (worker.h), each a forked process with its own
 * event loop accepting on the same sockets.
 *
 *   SIGCHLD  a worker of the current generation that exits unexpectedly is
 *            forked again in its slot (at most once a second per slot: a crash
 *            loop is slowed down and logged)
 *   SIGHUP   reload: the config file is loaded and checked again; if it is
 *            good, a new generation of workers starts with it on the same
 *            sockets (new addresses are bound, dropped ones closed), then the
 *            old generation drains (GOAWAY, requests finish) and exits. A bad
 *            file is logged with file and line and changes nothing.
 *   SIGTERM, SIGINT  every worker drains and exits, then the master; a second
 *            signal closes everything at once.
 * The master runs no event loop: it waits for signals (sigtimedwait), so
 * nothing it holds can leak into a worker's loop. */
#ifndef SL_MASTER_H
#define SL_MASTER_H

struct sl_config;

/* Runs sluice with cfg (loaded from path, which SIGHUP reloads; the master
 * takes cfg over). Returns the process exit status. */
int sl_master_run(const char *path, struct sl_config *cfg);

#endif
