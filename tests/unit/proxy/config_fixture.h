/* What the config tests share: a temporary directory that holds the file under
 * test, and helpers that write YAML there and load it.
 *
 * Register fixture_setup and fixture_teardown as the group's setup and
 * teardown (cmocka_run_group_tests). The helpers fail the running test through
 * cmocka's assertions. */
#ifndef SL_TEST_CONFIG_FIXTURE_H
#define SL_TEST_CONFIG_FIXTURE_H

#include <stddef.h>

struct sl_config;

/* The smallest valid file: one listener (line 2), one backend "demo" (lines
 * 4-5). Tests append to it, so a key added after it is on line 6. */
#define MINIMAL                                                                                    \
    "listeners:\n"                                                                                 \
    "  - address: 127.0.0.1:8080\n"                                                                \
    "backends:\n"                                                                                  \
    "  - name: demo\n"                                                                             \
    "    servers: [unix:/tmp/sluice-demo.sock]\n"

/* Set by fixture_setup: the directory, the config file each test writes
 * (cfg_dir/sluice.yaml), and cert.pem and key.pem for TLS keys (readable, but
 * not PEM: the loader only checks that they can be read). */
extern char cfg_dir[64];
extern char cfg_path[128];
extern char cert_path[128];
extern char key_path[128];

int fixture_setup(void **state);
int fixture_teardown(void **state);

/* Writes text to path, replacing what was there. */
void write_file(const char *path, const char *text);

/* Writes yaml to cfg_path and loads it: sl_config_load's result. */
int load(const char *yaml, struct sl_config **cfg, char *err, size_t err_len);

/* Loads yaml, which must be valid; the caller frees the config. */
struct sl_config *load_ok(const char *yaml);

/* Asserts that yaml is refused with exactly "PATH:line: reason", and that the
 * out-parameter is left untouched. */
void assert_load_error(const char *yaml, unsigned line, const char *reason);

#endif
