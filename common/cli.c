/* cli.c - the generic engine behind command-line tables (see cli.h). One
 * pass over argv stores each option's value; the mode checks come after,
 * because Luna allows -mode anywhere on the line. Values are never copied:
 * results point into argv, messages quote at most a bounded prefix. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "common/sys.h"

#define QUOTE_MAX 40
#define MODE_OPT (-2)  /* index for the built-in -mode */
#define HELP_OPT (-3)  /* index for the built-in -help */

static void fmt(char *err, size_t errlen, const char *f, ...)
	PED_PRINTF(3, 4);
static void fmt(char *err, size_t errlen, const char *f, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, f);
	vsnprintf(err, errlen, f, ap);
	va_end(ap);
}

/* At most QUOTE_MAX characters of s (first n bytes at most) for a message,
 * control characters replaced by '?', "..." if cut. */
static const char *quote(char out[QUOTE_MAX + 4], const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < QUOTE_MAX && i < n && s[i] != '\0'; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (i < n && s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* "config, show, start, stop" into buf. */
static const char *list_modes(const struct cli_spec *s, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < s->nmodes && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", s->modes[i].name);
	return buf;
}

static const char *list_words(const char *const *w, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; w != NULL && w[i] != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", w[i]);
	return buf;
}

/* What an option accepts, for messages: "(1-65535)", "(a path)". */
static const char *allowed(const struct cli_opt *o, char *buf, size_t len)
{
	char words[256];

	switch (o->type) {
	case CLI_INT:
		snprintf(buf, len, "(%lld-%lld)", o->min, o->max);
		break;
	case CLI_ENUM:
		snprintf(buf, len, "(%s)", list_words(o->words, words, sizeof(words)));
		break;
	case CLI_PATH:
		snprintf(buf, len, "(a path)");
		break;
	case CLI_STRING:
		if (o->max > 0)
			snprintf(buf, len, "(at most %lld characters)", o->max);
		else
			snprintf(buf, len, "(a string)");
		break;
	default:
		buf[0] = '\0';
		break;
	}
	return buf;
}

static bool is_help(const char *a)
{
	return strcasecmp(a, "-help") == 0 || strcasecmp(a, "--help") == 0 ||
	       strcasecmp(a, "-h") == 0 || strcmp(a, "-?") == 0;
}

/* Finds the option named by name[0..n) (no dashes): an index into
 * s->opts, MODE_OPT, or -1. */
static int find_opt(const struct cli_spec *s, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < s->nopts; i++) {
		const struct cli_opt *o = &s->opts[i];
		if ((strlen(o->name) == n && strncasecmp(o->name, name, n) == 0) ||
		    (o->alias != NULL && strlen(o->alias) == n &&
		     strncasecmp(o->alias, name, n) == 0))
			return (int)i;
	}
	if (s->nmodes > 0 && ((n == 4 && strncasecmp(name, "mode", 4) == 0) ||
			      (n == 1 && (name[0] == 'm' || name[0] == 'M'))))
		return MODE_OPT;
	return -1;
}

/* Splits "-name", "--name" or "-name=value": the name (without dashes) and
 * its length, and the inline value or NULL. 0 if arg is not an option. */
static int split_arg(const char *arg, const char **name, size_t *n, const char **inl)
{
	const char *eq;

	if (arg[0] != '-' || arg[1] == '\0')
		return 0;
	*name = arg[1] == '-' ? arg + 2 : arg + 1;
	eq = strchr(*name, '=');
	*n = eq != NULL ? (size_t)(eq - *name) : strlen(*name);
	*inl = eq != NULL ? eq + 1 : NULL;
	return *n > 0;
}

/* Is arg one of our option names (a missing value rather than a value)? */
static bool looks_like_option(const struct cli_spec *s, const char *arg)
{
	const char *name, *inl;
	size_t n;

	return split_arg(arg, &name, &n, &inl) && (find_opt(s, name, n) != -1 || is_help(arg));
}

/* Stores value v of option o into val. */
static int take_value(const struct cli_opt *o, const char *v, struct cli_val *val,
		      char *err, size_t errlen)
{
	char q[QUOTE_MAX + 4], a[300];
	const char *shown = o->flags & CLI_SECRET ? "the value" : quote(q, v, QUOTE_MAX + 1);
	const char *p;
	char *end;
	long long n;
	size_t len, i;

	switch (o->type) {
	case CLI_FLAG:
		break;
	case CLI_INT:
		if (v[0] == '\0') {
			fmt(err, errlen, "-%s: missing value %s", o->name, allowed(o, a, sizeof(a)));
			return PED_E_PARSE;
		}
		p = v[0] == '+' || v[0] == '-' ? v + 1 : v;
		if (*p < '0' || *p > '9') {
			fmt(err, errlen, "-%s: %s is not a number %s", o->name, shown,
			    allowed(o, a, sizeof(a)));
			return PED_E_PARSE;
		}
		errno = 0;
		n = strtoll(v, &end, 10);
		if (*end != '\0') {
			fmt(err, errlen, "-%s: %s is not a number %s", o->name, shown,
			    allowed(o, a, sizeof(a)));
			return PED_E_PARSE;
		}
		if (errno == ERANGE || n < o->min || n > o->max) {
			fmt(err, errlen, "-%s: %s is out of range %s", o->name, shown,
			    allowed(o, a, sizeof(a)));
			return PED_E_RANGE;
		}
		val->num = n;
		break;
	case CLI_ENUM:
		for (i = 0; o->words != NULL && o->words[i] != NULL; i++)
			if (strcasecmp(o->words[i], v) == 0)
				break;
		if (o->words == NULL || o->words[i] == NULL) {
			fmt(err, errlen, "-%s: %s is not one of: %s", o->name, shown,
			    list_words(o->words, a, sizeof(a)));
			return PED_E_RANGE;
		}
		val->num = (long long)i;
		break;
	case CLI_STRING:
	case CLI_PATH:
		len = strnlen(v, CLI_VALUE_MAX + 1);
		if (len > CLI_VALUE_MAX || (o->type == CLI_STRING && o->max > 0 && len > (size_t)o->max)) {
			fmt(err, errlen, "-%s: value too long (max %lld characters)", o->name,
			    o->type == CLI_STRING && o->max > 0 && o->max < CLI_VALUE_MAX
				    ? o->max : (long long)CLI_VALUE_MAX);
			return PED_E_TOO_LONG;
		}
		if (o->type == CLI_PATH && len == 0) {
			fmt(err, errlen, "-%s: empty path", o->name);
			return PED_E_PARSE;
		}
		break;
	}
	val->str = v;
	return 0;
}

/* The -mode value: its index, or an error. */
static int take_mode(const struct cli_spec *s, const char *v, int *mode, char *err,
		     size_t errlen)
{
	char q[QUOTE_MAX + 4], list[300];
	size_t i;

	for (i = 0; i < s->nmodes; i++) {
		if (strcasecmp(s->modes[i].name, v) == 0) {
			*mode = (int)i;
			return 0;
		}
	}
	fmt(err, errlen, "-mode: %s is not one of: %s", quote(q, v, QUOTE_MAX + 1),
	    list_modes(s, list, sizeof(list)));
	return PED_E_RANGE;
}

/* One pass over argv; stops at the first error. */
static int parse_args(const struct cli_spec *s, int argc, char *const argv[],
		      struct cli_result *r, char *err, size_t errlen)
{
	char q[QUOTE_MAX + 4], a[300];
	const char *name, *inl, *v;
	bool bare = false, operands = false, mode_seen = false;
	size_t n;
	int i, k, rc;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (is_help(arg)) {
			r->help = true;
			continue;
		}
		inl = NULL;
		if (split_arg(arg, &name, &n, &inl)) {
			k = find_opt(s, name, n);
		} else if (operands && arg[0] != '\0') {
			if (r->noperands == CLI_MAX_OPERANDS) {
				fmt(err, errlen, "%s: more than %d operands", quote(q, arg, QUOTE_MAX + 1),
				    CLI_MAX_OPERANDS);
				return PED_E_PARSE;
			}
			r->operand[r->noperands++] = arg;
			continue;
		} else if (bare && arg[0] != '\0') {
			/* Luna's "-set Name value" */
			name = arg;
			inl = strchr(arg, '=');
			n = inl != NULL ? (size_t)(inl - arg) : strlen(arg);
			inl = inl != NULL ? inl + 1 : NULL;
			k = find_opt(s, name, n);
		} else {
			fmt(err, errlen, "%s: unexpected argument", quote(q, arg, QUOTE_MAX + 1));
			return PED_E_PARSE;
		}
		if (k == -1) {
			fmt(err, errlen, "-%s: unknown option (see %s -help)",
			    quote(q, name, n < QUOTE_MAX + 1 ? n : QUOTE_MAX + 1), s->prog);
			return PED_E_PARSE;
		}
		if (k == MODE_OPT) {
			if (mode_seen) {
				fmt(err, errlen, "-mode: given twice");
				return PED_E_PARSE;
			}
			mode_seen = true;
			v = inl != NULL ? inl : i + 1 < argc && !looks_like_option(s, argv[i + 1])
					? argv[++i] : NULL;
			if (v == NULL) {
				fmt(err, errlen, "-mode: missing value (%s)",
				    list_modes(s, a, sizeof(a)));
				return PED_E_PARSE;
			}
			if ((rc = take_mode(s, v, &r->mode, err, errlen)) != 0)
				return rc;
			continue;
		}
		const struct cli_opt *o = &s->opts[k];
		struct cli_val *val = &r->val[k];
		if (val->set) {
			fmt(err, errlen, "-%s: given twice", o->name);
			return PED_E_PARSE;
		}
		val->set = true;
		val->num = 1;
		if (o->type == CLI_FLAG) {
			if (inl != NULL) {
				fmt(err, errlen, "-%s: takes no value", o->name);
				return PED_E_PARSE;
			}
			if (o->flags & CLI_BARE_NAMES)
				bare = true;
			if (o->flags & CLI_OPERANDS)
				operands = true;
			continue;
		}
		if (inl != NULL)
			v = inl;
		else if (i + 1 < argc &&
			 (o->type == CLI_INT || !looks_like_option(s, argv[i + 1])))
			v = argv[++i];
		else
			v = NULL;
		if (v == NULL) {
			fmt(err, errlen, "-%s: missing value %s", o->name, allowed(o, a, sizeof(a)));
			return PED_E_PARSE;
		}
		if ((rc = take_value(o, v, val, err, errlen)) != 0)
			return rc;
	}
	return 0;
}

/* Names of the modes in mask, for messages. */
static const char *list_mask(const struct cli_spec *s, uint32_t mask, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < s->nmodes && o < len; i++)
		if (mask & CLI_MODE(i))
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "",
					      s->modes[i].name);
	return buf;
}

int cli_parse(const struct cli_spec *s, int argc, char *const argv[], struct cli_result *r,
	      char *err, size_t errlen)
{
	char a[300];
	size_t i;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (r != NULL) {
		memset(r, 0, sizeof(*r));
		r->mode = -1;
	}
	if (s == NULL || r == NULL || (argc > 0 && argv == NULL) || s->nopts > CLI_MAX_OPTS ||
	    s->nmodes > CLI_MAX_MODES) {
		fmt(err, errlen, "internal error: bad command-line table");
		return PED_E_INVAL;
	}
	if (argc <= 1 && s->nmodes > 0) {
		r->help = true;
		return 0;
	}
	rc = parse_args(s, argc, argv, r, err, errlen);
	for (i = 1; i < (size_t)argc && !r->help; i++)
		r->help = is_help(argv[i]); /* even after an error */
	if (r->help) {
		if (err != NULL && errlen > 0)
			err[0] = '\0';
		return 0;
	}
	if (rc != 0)
		return rc;
	if (s->nmodes == 0)
		return 0;
	if (r->mode < 0) {
		fmt(err, errlen, "-mode: missing (%s)", list_modes(s, a, sizeof(a)));
		return PED_E_PARSE;
	}
	/* Options not valid with the mode, in table order. */
	for (i = 0; i < s->nopts; i++) {
		const struct cli_opt *o = &s->opts[i];
		if (r->val[i].set && o->modes != 0 && !(o->modes & CLI_MODE(r->mode))) {
			fmt(err, errlen, "-%s: not valid with -mode %s (only with: %s)", o->name,
			    s->modes[r->mode].name, list_mask(s, o->modes, a, sizeof(a)));
			return PED_E_PARSE;
		}
	}
	return 0;
}

int cli_fail(const struct cli_spec *s, const char *msg)
{
	fprintf(stderr, "%s: %s\n", s != NULL && s->prog != NULL ? s->prog : "error", msg);
	return 2;
}

/* "-name, -alias <metavar>" for usage. */
static void opt_synopsis(const struct cli_opt *o, char *buf, size_t len)
{
	static const char *const meta[] = {"", "<int>", "<text>", "<path>", "<word>"};
	char m[300];
	size_t i, n = 0;

	if (o->metavar != NULL) {
		snprintf(m, sizeof(m), "%s", o->metavar);
	} else if (o->type == CLI_INT) {
		snprintf(m, sizeof(m), "<%lld-%lld>", o->min, o->max);
	} else if (o->type == CLI_ENUM && o->words != NULL) {
		for (i = 0; o->words[i] != NULL && n < sizeof(m); i++)
			n += (size_t)snprintf(m + n, sizeof(m) - n, "%s%s", i ? "|" : "<",
					      o->words[i]);
		if (n < sizeof(m))
			snprintf(m + n, sizeof(m) - n, ">");
	} else {
		snprintf(m, sizeof(m), "%s", meta[o->type]);
	}
	snprintf(buf, len, "-%s%s%s%s%s", o->name, o->alias ? ", -" : "",
		 o->alias ? o->alias : "", m[0] ? " " : "", m);
}

void cli_usage(const struct cli_spec *s, int mode, FILE *out)
{
	char syn[400], a[300];
	size_t i, w = 0, len;

	if (s->nmodes > 0)
		fprintf(out, "Usage: %s -mode <mode> [options]\n", s->prog);
	else
		fprintf(out, "Usage: %s [options]\n", s->prog);
	if (s->summary != NULL)
		fprintf(out, "%s\n", s->summary);
	for (i = 0; i < s->nmodes; i++)
		if (strlen(s->modes[i].name) > w)
			w = strlen(s->modes[i].name);
	if (s->nmodes > 0)
		fprintf(out, "\nModes (-mode, -m):\n");
	for (i = 0; i < s->nmodes; i++)
		if (mode < 0 || (size_t)mode == i)
			fprintf(out, "  %-*s  %s\n", (int)w, s->modes[i].name,
				s->modes[i].help != NULL ? s->modes[i].help : "");
	w = 0;
	for (i = 0; i < s->nopts; i++) {
		opt_synopsis(&s->opts[i], syn, sizeof(syn));
		if ((len = strlen(syn)) > w)
			w = len;
	}
	if (w > 34)
		w = 34;
	fprintf(out, "\nOptions%s%s:\n", mode >= 0 ? " with -mode " : "",
		mode >= 0 ? s->modes[mode].name : "");
	for (i = 0; i < s->nopts; i++) {
		const struct cli_opt *o = &s->opts[i];
		if (mode >= 0 && o->modes != 0 && !(o->modes & CLI_MODE(mode)))
			continue;
		opt_synopsis(o, syn, sizeof(syn));
		fprintf(out, "  %-*s  %s", (int)w, syn, o->help != NULL ? o->help : "");
		if (o->def != NULL && !(o->flags & CLI_SECRET))
			fprintf(out, " (default %s)", o->def);
		if (mode < 0 && o->modes != 0 && s->nmodes > 0)
			fprintf(out, " [%s]", list_mask(s, o->modes, a, sizeof(a)));
		fputc('\n', out);
	}
	fprintf(out, "  %-*s  %s\n", (int)w, "-help, -h", "this text");
}

int cli_main(const struct cli_spec *s, int argc, char *const argv[], void *ctx)
{
	struct cli_result r;
	char err[CLI_ERR_MAX];
	int rc;

	rc = cli_parse(s, argc, argv, &r, err, sizeof(err));
	if (rc != 0)
		return cli_fail(s, err);
	if (r.help) {
		cli_usage(s, r.mode, argc <= 1 ? stderr : stdout);
		return argc <= 1 ? 2 : 0;
	}
	if (r.mode < 0 || s->modes[r.mode].run == NULL) {
		snprintf(err, sizeof(err), "-mode %s: not implemented",
			 r.mode >= 0 ? s->modes[r.mode].name : "(none)");
		return cli_fail(s, err);
	}
	return s->modes[r.mode].run(ctx, &r);
}
