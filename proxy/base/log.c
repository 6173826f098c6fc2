#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sl_assert.h"

enum sl_log_level sl_log_threshold = SL_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sl_log_set_level(enum sl_log_level level)
{
    sl_log_threshold = level;
}

int sl_log_level_parse(const char *text, enum sl_log_level *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *level = (enum sl_log_level)i;
            return 0;
        }
    }
    return -1;
}

void sl_log_write(enum sl_log_level level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] pid=%d ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2; /* truncated: keep the newline */
    line[len++] = '\n';
    /* one write so that lines from several processes do not interleave */
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

/* The strong definition of policy/sl_assert.h's hook: say what broke, where. */
void sl_assert_fail(const char *cond, const char *file, int line)
{
    sl_log_write(SL_LOG_ERROR, "assertion failed at %s:%d: %s", file, line, cond);
    abort();
}
