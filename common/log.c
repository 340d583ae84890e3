/* log.c - leveled logging to stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <openssl/err.h>

static enum log_level log_level = LOG_LVL_INFO;
static const char *log_ident = "ped";

static const char *const level_names[] = {"error", "warning", "info", "trace"};

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (lvl > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s: %s\n", log_ident, level_names[lvl], line);
}

void log_openssl(const char *msg)
{
	char buf[256];
	unsigned long e;

	log_error("%s", msg);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_error("  openssl: %s", buf);
	}
}
