#include "pidfile.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Written under a temporary name and renamed: a reader never sees it empty. */
int sl_pidfile_write(const char *path, char *err, size_t err_len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp)) {
        snprintf(err, err_len, "pid file %s: path too long", path);
        return -1;
    }
    FILE *f = fopen(tmp, "we");
    bool is_written = f != NULL && fprintf(f, "%d\n", (int)getpid()) > 0;
    if (f != NULL && fclose(f) != 0)
        is_written = false;
    if (!is_written || rename(tmp, path) != 0) {
        snprintf(err, err_len, "pid file %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int read_pid(const char *path, pid_t *pid, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, err_len, "pid file %s: %s (is sluice running?)", path, strerror(errno));
        return -1;
    }
    long n = 0;
    int matched = fscanf(f, "%ld", &n);
    fclose(f);
    if (matched != 1 || n <= 1) {
        snprintf(err, err_len, "pid file %s holds no process id", path);
        return -1;
    }
    *pid = (pid_t)n;
    return 0;
}

int sl_pidfile_signal(const char *path, int sig, char *err, size_t err_len)
{
    pid_t pid;
    if (read_pid(path, &pid, err, err_len) < 0)
        return -1;
    if (kill(pid, sig) != 0) {
        snprintf(err, err_len, "cannot signal sluice (pid %d from %s): %s", (int)pid, path,
                 strerror(errno));
        return -1;
    }
    return 0;
}
