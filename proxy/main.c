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
#include "config_check.h"

#define SL_DEFAULT_CONFIG "/etc/sluice/sluice.yaml"

static void print_usage(FILE *out)
{
    fprintf(out, "usage: sluice [-c FILE] [-t | -s reload|reopen|stop] [-V] [-h]\n"
                 "  -c FILE  configuration file (default " SL_DEFAULT_CONFIG ")\n"
                 "  -t       check the configuration and exit\n"
                 "  -s SIG   signal the running sluice found through FILE's pid_file:\n"
                 "           reload (SIGHUP), reopen (SIGUSR1) or stop (SIGTERM)\n"
                 "  -V       print the version and exit\n"
                 "  -h       print this help and exit\n"
                 "SIGHUP: reload the configuration without dropping a connection.\n"
                 "SIGUSR1: reopen the access log (after logrotate renamed it).\n"
                 "SIGTERM or SIGINT: stop accepting, finish requests in flight (up to\n"
                 "drain_timeout_ms), exit 0.\n");
}

int main(int argc, char **argv)
{
    const char *path = SL_DEFAULT_CONFIG;
    bool is_check = false;
    int opt;
    const char *send = NULL;
    while ((opt = getopt(argc, argv, "c:s:tVh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 's':
            send = optarg;
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
    int sig = send == NULL                  ? 0
              : strcmp(send, "reload") == 0 ? SIGHUP
              : strcmp(send, "reopen") == 0 ? SIGUSR1
              : strcmp(send, "stop") == 0   ? SIGTERM
                                            : -1;
    if (optind != argc || sig < 0 || (sig != 0 && is_check)) {
        print_usage(stderr);
        return 2;
    }
    char err[1024];
    if (sig != 0) {
        if (sl_config_signal_master(path, sig, err, sizeof(err)) == 0)
            return 0;
        fprintf(stderr, "sluice: %s\n", err);
        return 1;
    }
    struct sl_config *cfg;
    int rv = is_check ? sl_config_check(path, &cfg, err, sizeof(err))
                      : sl_config_load(path, &cfg, err, sizeof(err));
    if (rv != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (is_check) {
        printf("configuration ok\n");
        sl_config_free(cfg);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    sl_log_set_level(cfg->log_level);
    return sl_master_run(path, cfg); /* takes cfg over */
}
