/* Leveled logging to stderr. The level is checked before anything is
 * formatted; a line is written with one write(2) and never blocks the caller
 * for longer than the kernel takes to accept it. */
#ifndef SL_LOG_H
#define SL_LOG_H

enum sl_log_level { SL_LOG_ERROR, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG };

extern enum sl_log_level sl_log_threshold;

void sl_log_set_level(enum sl_log_level level);

/* Parses "error", "warn", "info", "debug"; returns 0 or -1. */
int sl_log_level_parse(const char *text, enum sl_log_level *level);

void sl_log_write(enum sl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define SL_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= sl_log_threshold)                                                           \
            sl_log_write((level), __VA_ARGS__);                                                    \
    } while (0)
#define SL_ERROR(...) SL_LOG(SL_LOG_ERROR, __VA_ARGS__)
#define SL_WARN(...) SL_LOG(SL_LOG_WARN, __VA_ARGS__)
#define SL_INFO(...) SL_LOG(SL_LOG_INFO, __VA_ARGS__)
#define SL_DEBUG(...) SL_LOG(SL_LOG_DEBUG, __VA_ARGS__)

#endif
