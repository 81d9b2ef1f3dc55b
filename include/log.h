/* log.h: leveled logging to stderr, one line per call, safe from any thread
 * (stdio locks the stream for the duration of each call). Never pass key
 * material to these functions. */
#ifndef B77_LOG_H
#define B77_LOG_H

#include "util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Sets the threshold; messages below it are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error" or "off"; returns -1 otherwise. */
int log_parse_level(const char *s);
void log_msg(enum log_level level, const char *fmt, ...) B77_PRINTF(2, 3);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
