/* The master's pid file, through which `sluice -s` and `sluicectl reload`
 * find the running master. */
#ifndef SL_PIDFILE_H
#define SL_PIDFILE_H

#include <stddef.h>

/* Writes this process's pid to path (replacing the file). Returns 0, or -1
 * with a sentence in err. */
int sl_pidfile_write(const char *path, char *err, size_t err_len);

/* Sends sig to the process whose pid the file at path holds. Returns 0, or -1
 * with a sentence in err (no file, no pid in it, no such process). */
int sl_pidfile_signal(const char *path, int sig, char *err, size_t err_len);

#endif
