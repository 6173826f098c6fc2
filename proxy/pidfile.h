/* The master's pid file, through which `sluice -s` and `sluicectl reload`
 * find the running master. */
#ifndef SL_PIDFILE_H
#define SL_PIDFILE_H

#include <stddef.h>

/* Writes this process's pid to path (replacing the file). Returns 0, or -1
 * with a sentence in err. */
int sl_pidfile_write(const char *path, char *err, size_t err_len);

/* Sends sig to the master found through the pid_file of the config at
 * config_path. Returns 0, or -1 with a sentence in err (the config does not
 * load, sets no pid_file, no file, no such process). */
int sl_pidfile_signal(const char *config_path, int sig, char *err, size_t err_len);

#endif
