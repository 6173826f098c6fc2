/* libFuzzer: the config loader (YAML, keys, rules, classes, the whole check)
 * on arbitrary bytes, which must give a config or a sentence, nothing else. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("sluice-fuzz.yaml", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        __builtin_trap();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct sl_config *cfg = NULL;
    char err[512];
    if (sl_config_load(path, &cfg, err, sizeof(err)) == 0)
        sl_config_free(cfg);
    else if (err[0] == '\0')
        __builtin_trap(); /* a refusal always says why */
    close(fd);
    return 0;
}
