/* The config as the operator's commands use it: checked whole (sluice -t,
 * sluicectl check, a reload), and the way to the master it names. */
#ifndef SL_CONFIG_CHECK_H
#define SL_CONFIG_CHECK_H

#include <stddef.h>

struct sl_config;

/* Loads the config at path and checks what loading alone cannot tell: every
 * TLS listener's certificate and key load and match. This is the whole of
 * sluice -t (and sluicectl check), and what a reload must pass. Returns 0 and
 * *out (free with sl_config_free), or -1 with "FILE:LINE: reason" or "FILE:
 * listener ADDR: reason" in err. */
int sl_config_check(const char *path, struct sl_config **out, char *err, size_t err_len);

/* Sends sig to the master found through the pid_file of the config at
 * config_path. Returns 0, or -1 with a sentence in err (the config does not
 * load, sets no pid_file, no file, no such process). */
int sl_config_signal_master(const char *config_path, int sig, char *err, size_t err_len);

#endif
