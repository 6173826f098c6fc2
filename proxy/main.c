/* sluice: wires the config, the worker and the command line together. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

#define SL_DEFAULT_CONFIG "/etc/sluice/sluice.yaml"

static void print_usage(FILE *out)
{
    fprintf(out, "usage: sluice [-c FILE] [-t] [-V] [-h]\n"
                 "  -c FILE  configuration file (default " SL_DEFAULT_CONFIG ")\n"
                 "  -t       check the configuration and exit\n"
                 "  -V       print the version and exit\n"
                 "  -h       print this help and exit\n"
                 "SIGTERM or SIGINT: stop accepting, finish requests in flight (up to\n"
                 "drain_timeout_ms), exit 0.\n");
}

/* The checks -t adds to the parser's: certificates and keys load and match. */
static int check_tls(const struct sl_config *cfg)
{
    for (size_t i = 0; i < cfg->listener_count; i++) {
        const struct sl_listener_config *l = &cfg->listeners[i];
        if (l->tls_certificate == NULL)
            continue;
        char err[512];
        SSL_CTX *ctx = sl_tls_server_ctx(l->tls_certificate, l->tls_key, err, sizeof(err));
        if (ctx == NULL) {
            fprintf(stderr, "%s: listener %s: %s\n", cfg->path, l->addr.text, err);
            return -1;
        }
        SSL_CTX_free(ctx);
    }
    return 0;
}

static int serve(const struct sl_config *cfg)
{
    struct sl_worker worker;
    char err[512];
    if (sl_worker_init(&worker, cfg, err, sizeof(err)) != 0) {
        SL_ERROR("cannot start: %s", err);
        return 1;
    }
    for (size_t i = 0; i < cfg->listener_count; i++)
        SL_INFO("listening on %s (%s)", cfg->listeners[i].addr.text,
                cfg->listeners[i].tls_certificate ? "TLS, h2" : "h2c");
    SL_INFO("sluice %s started with %s", SLUICE_VERSION, cfg->path);
    sl_worker_run(&worker);
    sl_worker_fini(&worker);
    SL_INFO("sluice stopped");
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = SL_DEFAULT_CONFIG;
    bool is_check = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            is_check = true;
            break;
        case 'V':
            printf("sluice %s\n", SLUICE_VERSION);
            return 0;
        case 'h':
            print_usage(stdout);
            return 0;
        default:
            print_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        print_usage(stderr);
        return 2;
    }
    struct sl_config *cfg;
    char err[1024];
    if (sl_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int status = 0;
    if (is_check) {
        status = check_tls(cfg) == 0 ? 0 : 1;
        if (status == 0)
            printf("configuration ok\n");
    } else {
        signal(SIGPIPE, SIG_IGN);
        sl_log_set_level(cfg->log_level);
        status = serve(cfg);
    }
    sl_config_free(cfg);
    return status;
}
