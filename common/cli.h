/* cli.h - command lines from one table, in the Luna PEDserver/PEDclient
 * style: single-dash long options, a -mode that selects what to do.
 *
 *   pedserver -mode start -port 1503 -logfile /tmp/ps.log -force
 *   pedserver -m config -set -pedwritelay 50
 *   pedserver -mode config -set LogFileName /tmp/ps.log   (Luna's bare form)
 *
 * A program declares its modes and options in two arrays indexed by its own
 * enums (designated initializers keep index and entry together), and gets
 * parsing, validation, one-line errors and the usage text from them:
 *
 *   enum { M_START, M_STOP, M_SHOW, M_CONFIG, M_COUNT };
 *   static const struct cli_mode modes[M_COUNT] = {
 *       [M_START] = {"start", "start the server", run_start},
 *       ...
 *   };
 *   enum { O_PORT, O_FORCE, O_LOGFILE, O_SET, O_COUNT };
 *   static const struct cli_opt opts[O_COUNT] = {
 *       [O_PORT] = {.name = "port", .type = CLI_INT, .min = 1, .max = 65535,
 *                   .def = "1503", .modes = CLI_MODE(M_START) | CLI_MODE(M_CONFIG),
 *                   .help = "server TCP port", .cfgkey = "Port"},
 *       [O_FORCE] = {.name = "force", .type = CLI_FLAG, .modes = CLI_MODE(M_START),
 *                    .help = "do not prompt"},
 *       [O_LOGFILE] = {.name = "logfile", .alias = "logfilename", .type = CLI_PATH,
 *                      .help = "log file", .cfgkey = "LogFileName"},
 *       [O_SET] = {.name = "set", .type = CLI_FLAG, .flags = CLI_BARE_NAMES,
 *                  .modes = CLI_MODE(M_CONFIG), .help = "write the options given"},
 *   };
 *   static const struct cli_spec spec = {"pedserver", "Remote PED server",
 *                                        modes, M_COUNT, opts, O_COUNT};
 *   int main(int argc, char **argv) { return cli_main(&spec, argc, argv, NULL); }
 *   // or: cli_parse(), then cli_fail() / cli_usage() / your own dispatch.
 *
 * Syntax. An option is "-name" or "--name", matched case-insensitively
 * against name and alias ("-m" for "-mode", "-LogFileName"). A value is the
 * next argument, or follows '=' ("-port=1503"). A value that is itself one
 * of our option names ("-logfile -force") counts as missing, except for
 * CLI_INT options where "-5" is a number. Each option may be given once.
 * "-mode <mode>" (alias "-m") is built in when the spec has modes, and is
 * then required; "-help", "-h", "--help", "-?" ask for the usage text, and
 * so does an empty command line when modes are required.
 * After an option flagged CLI_BARE_NAMES (a Luna "-set"), a word that does
 * not start with '-' is read as an option name: "-set LogFileName x".
 * After a flag flagged CLI_OPERANDS, such a word is an operand (r->operand):
 * "-mode audit -verify a.log b.log".
 *
 * Errors. cli_parse stops at the first error in argument order, then checks
 * the mode (missing -mode, then options not valid for it). The message is
 * one line naming the option and what is allowed, without the program name:
 *   -port: 70000 is out of range (1-65535)
 *   -port: abc is not a number (1-65535)
 *   -port: missing value (1-65535)
 *   -port: given twice
 *   -force: takes no value
 *   -force: not valid with -mode show (only with: start)
 *   -prot: unknown option (see pedserver -help)
 *   -mode: missing (config, show, start, stop)
 *   -mode: foo is not one of: config, show, start, stop
 *   foo: unexpected argument
 * Quoted values are cut to 40 characters with control characters replaced;
 * values of CLI_SECRET options are never quoted. cli_fail() prints
 * "<prog>: <message>" on stderr and returns 2, the exit code for usage
 * errors. */
#ifndef PED_CLI_H
#define PED_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Most options a table may have (struct cli_result holds one value each). */
#define CLI_MAX_OPTS 64
/* Most operands after a CLI_OPERANDS flag (more is an error). */
#define CLI_MAX_OPERANDS 64
/* Most modes (one bit each in cli_opt.modes). */
#define CLI_MAX_MODES 32
/* Longest STRING or PATH value accepted (unless the option's max is
 * smaller), and a message buffer size that always suffices. */
#define CLI_VALUE_MAX 4095
#define CLI_ERR_MAX 512

/* The bit of mode index m in cli_opt.modes; 0 there means every mode. */
#define CLI_MODE(m) (UINT32_C(1) << (m))

struct cli_result;

/* A mode: "-mode start". run (optional) is what cli_main calls; it returns
 * the process exit code. */
struct cli_mode {
	const char *name;
	const char *help;
	int (*run)(void *ctx, const struct cli_result *r);
};

enum cli_type {
	CLI_FLAG,   /* no value; num = 1 when given */
	CLI_INT,    /* decimal integer in [min, max]; num = the value */
	CLI_STRING, /* any text; if max > 0 at most max characters */
	CLI_PATH,   /* a non-empty file name, at most CLI_VALUE_MAX characters */
	CLI_ENUM,   /* one of words (case-insensitive); num = its index */
};

enum {
	CLI_SECRET = 1u << 0,     /* never echo the value (messages, usage) */
	CLI_BARE_NAMES = 1u << 1, /* a flag after which "Name value" means -Name value */
	CLI_OPERANDS = 1u << 2,   /* a flag after which words are operands ("-verify A B") */
};

struct cli_opt {
	const char *name;          /* without the dash, lower case: "port" */
	const char *alias;         /* another name or NULL: "m", "logfilename" */
	enum cli_type type;
	long long min, max;        /* CLI_INT range; CLI_STRING: max length if max > 0 */
	const char *const *words;  /* CLI_ENUM: NULL-terminated list */
	const char *metavar;       /* usage placeholder, NULL: from the type */
	const char *def;           /* default shown in usage, NULL: none */
	uint32_t modes;            /* CLI_MODE() bits of the modes accepting it; 0: all */
	unsigned flags;            /* CLI_SECRET, CLI_BARE_NAMES */
	const char *help;          /* one short line */
	const char *cfgkey;        /* config key it overrides or sets (cfg.h), or NULL;
				      not used by cli.c, for the program's own loop */
};

struct cli_spec {
	const char *prog;          /* "pedserver", for messages and usage */
	const char *summary;       /* one line under the usage line, or NULL */
	const struct cli_mode *modes;
	size_t nmodes;             /* 0: no -mode at all (e.g. pedemu) */
	const struct cli_opt *opts;
	size_t nopts;              /* at most CLI_MAX_OPTS */
};

/* The parsed value of one option (index = its index in spec->opts). */
struct cli_val {
	bool set;                  /* given on the command line */
	const char *str;           /* the value as typed (points into argv), or NULL */
	long long num;             /* FLAG: 1; INT: the number; ENUM: word index */
};

struct cli_result {
	int mode;                  /* index into spec->modes, -1 if none */
	bool help;                 /* usage was asked for: print cli_usage, exit 0 */
	struct cli_val val[CLI_MAX_OPTS];
	const char *operand[CLI_MAX_OPERANDS]; /* words after a CLI_OPERANDS flag (argv) */
	size_t noperands;
};

/* Parses argv[1..argc-1] into r (cleared first). Returns 0, or
 * PED_E_PARSE / PED_E_RANGE / PED_E_TOO_LONG with one line in err (errlen
 * bytes, always NUL-terminated), or PED_E_INVAL for a broken spec. With
 * r->help set, the other fields are not meaningful. argv must outlive r. */
int cli_parse(const struct cli_spec *s, int argc, char *const argv[], struct cli_result *r,
	      char *err, size_t errlen);

/* Prints "<prog>: <msg>\n" on stderr; returns 2. */
int cli_fail(const struct cli_spec *s, const char *msg);

/* Prints the usage text: the modes with their help, then the options
 * (those valid with mode, or all if mode < 0) with their value, range or
 * words, default, help, and the modes they are limited to. */
void cli_usage(const struct cli_spec *s, int mode, FILE *out);

/* The whole front door for a spec with modes: parse; on error cli_fail
 * (2); on help the usage on stdout (0), or on stderr (2) when the command
 * line was empty; otherwise the chosen mode's run(ctx, &r) (2 with a
 * message if it has none). With "-mode start -help" the usage lists only
 * what start accepts. */
int cli_main(const struct cli_spec *s, int argc, char *const argv[], void *ctx);

#endif
