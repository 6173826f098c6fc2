#include "config_check.h"

#include <stdio.h>

#include <openssl/ssl.h>

#include "config.h"
#include "pidfile.h"
#include "tls.h"

static int check_listeners(const struct sl_config *cfg, char *err, size_t err_len)
{
    for (size_t i = 0; i < cfg->listener_count; i++) {
        const struct sl_listener_config *l = &cfg->listeners[i];
        if (l->tls_certificate == NULL)
            continue;
        char reason[512];
        SSL_CTX *ctx = sl_tls_server_ctx(l->tls_certificate, l->tls_key, reason, sizeof(reason));
        if (ctx == NULL) {
            snprintf(err, err_len, "%s: listener %s: %s", cfg->path, l->addr.text, reason);
            return -1;
        }
        SSL_CTX_free(ctx);
    }
    return 0;
}

int sl_config_check(const char *path, struct sl_config **out, char *err, size_t err_len)
{
    struct sl_config *cfg;
    if (sl_config_load(path, &cfg, err, err_len) != 0)
        return -1;
    if (check_listeners(cfg, err, err_len) != 0) {
        sl_config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int sl_config_signal_master(const char *config_path, int sig, char *err, size_t err_len)
{
    struct sl_config *cfg;
    if (sl_config_load(config_path, &cfg, err, err_len) != 0)
        return -1;
    int rv = -1;
    if (cfg->pid_file == NULL)
        snprintf(err, err_len, "%s sets no pid_file: the running sluice cannot be found",
                 cfg->path);
    else
        rv = sl_pidfile_signal(cfg->pid_file, sig, err, err_len);
    sl_config_free(cfg);
    return rv;
}
