/* log.h - leveled logging (error, warning, info, trace) to stderr.
 *
 * Never pass a secret, a PIN, a share or the RPV to these functions. */
#ifndef PED_LOG_H
#define PED_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_TRACE };

/* Messages above this level are dropped (default: info). */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Prefix for every line, usually the program name (kept by reference). */
void log_set_ident(const char *ident);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Logs msg followed by the drained OpenSSL error queue, once, at error level. */
void log_openssl(const char *msg);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_LVL_TRACE, __VA_ARGS__)

#endif
