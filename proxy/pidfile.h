/* The master's pid file, through which `sluice -s` and `sluicectl reload`
 * find the running master. */
#ifndef SL_PIDFILE_H
#define SL_PIDFILE_H

#include <stddef.h>

struct sl_config;

/* Writes this process's pid to path (replacing the file). Returns 0, or -1
 * with a sentence in err. */
int sl_pidfile_write(const char *path, char *err, size_t err_len);

/* Sends sig to the master named by cfg's pid_file. Returns 0, or -1 with a
 * sentence in err (no pid_file in the config, no file, no such process). */
int sl_pidfile_signal(const struct sl_config *cfg, int sig, char *err, size_t err_len);

#endif
