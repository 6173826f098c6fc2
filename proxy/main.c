/* sluice: wires the config, the worker and the command line together. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "tls.h"

#define SL_DEFAULT_CONFIG "/etc/sluice/sluice.yaml"

static void print_usage(FILE *out)
{
    fprintf(out, "usage: sluice [-c FILE] [-t] [-V] [-h]\n"
                 "  -c FILE  configuration file (default " SL_DEFAULT_CONFIG ")\n"
                 "  -t       check the configuration and exit\n"
                 "  -V       print the version and exit\n"
                 "  -h       print this help and exit\n"
                 "SIGHUP: reload the configuration without dropping a connection.\n"
                 "SIGTERM or SIGINT: stop accepting, finish requests in flight (up to\n"
                 "drain_timeout_ms), exit 0.\n");
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
    if (is_check) {
        int status = sl_tls_check_config(cfg, err, sizeof(err)) == 0 ? 0 : 1;
        if (status == 0)
            printf("configuration ok\n");
        else
            fprintf(stderr, "%s\n", err);
        sl_config_free(cfg);
        return status;
    }
    signal(SIGPIPE, SIG_IGN);
    sl_log_set_level(cfg->log_level);
    return sl_master_run(path, cfg); /* takes cfg over */
}
