#include "config_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

char cfg_dir[64];
char cfg_path[128];
char cert_path[128];
char key_path[128];

void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

int fixture_setup(void **state)
{
    strcpy(cfg_dir, "/tmp/sluice-test-config-XXXXXX");
    if (mkdtemp(cfg_dir) == NULL)
        return -1;
    snprintf(cfg_path, sizeof(cfg_path), "%s/sluice.yaml", cfg_dir);
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", cfg_dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", cfg_dir);
    write_file(cert_path, "not checked at load time\n");
    write_file(key_path, "not checked at load time\n");
    return 0;
}

int fixture_teardown(void **state)
{
    unlink(cfg_path);
    unlink(cert_path);
    unlink(key_path);
    return rmdir(cfg_dir);
}

int load(const char *yaml, struct sl_config **cfg, char *err, size_t err_len)
{
    write_file(cfg_path, yaml);
    return sl_config_load(cfg_path, cfg, err, err_len);
}

struct sl_config *load_ok(const char *yaml)
{
    struct sl_config *cfg = NULL;
    char err[512] = "";
    int rc = load(yaml, &cfg, err, sizeof(err));
    if (rc != 0)
        print_error("unexpected error: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(cfg);
    return cfg;
}

void assert_load_error(const char *yaml, unsigned line, const char *reason)
{
    struct sl_config *cfg = (struct sl_config *)0x1;
    char err[512] = "";
    char expected[512];
    snprintf(expected, sizeof(expected), "%s:%u: %s", cfg_path, line, reason);
    assert_int_equal(load(yaml, &cfg, err, sizeof(err)), -1);
    assert_string_equal(err, expected);
    assert_ptr_equal(cfg, (struct sl_config *)0x1);
}
