/* log.h -- leveled logging to stderr. Never log passwords, SASL payloads or
 * tokens; raw XML only at debug level. */
#ifndef TN_UTIL_LOG_H
#define TN_UTIL_LOG_H

enum { TN_LOG_DEBUG = 0, TN_LOG_INFO, TN_LOG_WARN, TN_LOG_ERROR };

void tn_log_set_level(int level);
int tn_log_get_level(void);
/* Parses "debug", "info", "warn" or "error"; returns -1 otherwise. */
int tn_log_level_parse(const char *name);
void tn_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define tn_log_enabled(level) ((level) >= tn_log_get_level())

#endif
