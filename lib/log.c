/* log.c: see log.h. */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int threshold = LOG_INFO;

void log_set_level(enum log_level level)
{
    atomic_store(&threshold, (int)level);
}

int log_parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (size_t i = 0; i < B77_ARRAY_LEN(names); i++)
        if (ascii_casecmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"debug", "info", "warn", "error"};
    if ((int)level < atomic_load(&threshold) || level >= LOG_OFF)
        return;
    /* The date and time to the second, written once a second per thread
     * (a busy server logs a line per request). */
    static _Thread_local time_t shown_sec = -1;
    static _Thread_local char shown[32];
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != shown_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(shown, sizeof shown, "%Y-%m-%dT%H:%M:%S", &tm);
        shown_sec = ts.tv_sec;
    }
    int n = snprintf(line, sizeof line, "%s.%03ldZ %-5s ", shown, ts.tv_nsec / 1000000, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n += m < 0 ? 0 : m < (int)(sizeof line) - n - 1 ? m : (int)(sizeof line) - n - 2;
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}
