/* cfg.h - configuration files from one table.
 *
 * A program declares its keys once, in an X-macro table; the same table
 * generates the struct of values, the defaults, the INI parser (libinih),
 * the validation, `-mode config -show`, `-mode config -set` and a commented
 * template for conf/ and the documentation. They cannot disagree.
 *
 *   // pedserver/config.h
 *   #define PEDSERVER_CFG(X)                                                 \
 *       X(Server, Port,        INT,    1503, 1, 65535, "server TCP port")   \
 *       X(Server, LogFileName, PATH,   "",   0, 0,     "log file")          \
 *       X(Server, ExternalServer, BOOL, 0,   0, 1,     "listen on all addresses")
 *   CFG_STRUCT(pedserver_cfg, PEDSERVER_CFG);   // struct pedserver_cfg {...};
 *   extern const struct cfg_table pedserver_cfg_table;
 *
 *   // pedserver/config.c  (one CFG_TABLE per .c file)
 *   CFG_TABLE(pedserver_cfg_table, struct pedserver_cfg, PEDSERVER_CFG)
 *
 *   // use
 *   struct pedserver_cfg c;
 *   char err[CFG_ERR_MAX];
 *   if (cfg_load(&pedserver_cfg_table, &c, path, NULL, NULL, err, sizeof(err)))
 *       { fprintf(stderr, "pedserver: %s\n", err); exit(2); }
 *   ... c.Port, c.LogFileName, c.ExternalServer ...
 *
 * Table columns: X(section, key, type, default, min, max, help)
 *   section  INI section name, a bare word ([Server])
 *   key      INI key name, a bare word; also the C field name. Keys are
 *            unique in a table (case-insensitively), whatever the section.
 *   type     INT    -> int   field; default is a number; min..max inclusive
 *            BOOL   -> bool  field; default 0 or 1; min/max ignored (0, 1).
 *                     Accepted in files: 0/1, yes/no, true/false, on/off.
 *            STRING -> char[CFG_STR_MAX]; default a string literal; max > 0
 *                     caps the length, min > 0 forbids shorter (e.g. empty).
 *            PATH   -> like STRING; shown as <path> in docs. Relative paths
 *                     are kept as written: the daemon decides what they are
 *                     relative to.
 *   help     one short line, used by the template and by usage texts.
 * Names and sections compare case-insensitively (Luna writes LogFileName,
 * people write logfilename).
 *
 * Files are untrusted input. At most CFG_FILE_MAX bytes, lines of at most
 * CFG_LINE_MAX characters, no NUL bytes, no control characters in values.
 * Syntax (libinih): [Section], Key = Value or Key: Value, comments start a
 * line with ';' or '#', or follow a value after whitespace and ';'. A line
 * that starts with whitespace right after a key continues that key's value
 * (inih); for our keys that is reported as the key given twice.
 * Every error is one line naming file:line and, for values, the allowed
 * range: "pedserver.conf:7: Port = 70000 is out of range (1-65535)".
 * Unknown keys and sections are warnings (file:line), never fatal.
 *
 * Return values: 0 or a negative PED_E_* code (err.h): PED_E_IO (unreadable,
 * a directory, ...), PED_E_TOO_LONG (file too large, value too long),
 * PED_E_PARSE (syntax, NUL byte, unknown key for cfg_set/cfg_set_value),
 * PED_E_RANGE (a value out of range or of the wrong type), PED_E_NOMEM,
 * PED_E_INVAL (bad arguments). Error texts go to err (errlen bytes, always
 * NUL-terminated, truncated if needed; CFG_ERR_MAX is enough). */
#ifndef PED_CFG_H
#define PED_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Size of STRING and PATH fields, NUL included. */
#define CFG_STR_MAX 256
/* Largest config file read or written. */
#define CFG_FILE_MAX (64 * 1024)
/* Longest line, '\r' and '\n' excluded: what libinih's fixed line buffer
 * (INI_MAX_LINE, 200 in Debian's build) holds whole; cfg.c checks this at
 * compile time. Longer lines are an error, never split (inih alone would
 * parse the rest of a long line as a new line). */
#define CFG_LINE_MAX 197
/* A buffer this large holds any message of this module. */
#define CFG_ERR_MAX 512

enum cfg_type { CFG_INT, CFG_BOOL, CFG_STRING, CFG_PATH };

/* One key, generated from a table row. */
struct cfg_key {
	const char *section;
	const char *name;
	enum cfg_type type;
	long long def_num;        /* INT, BOOL default */
	const char *def_str;      /* STRING, PATH default */
	long long min, max;
	const char *help;
	size_t offset;            /* of the field in the values struct */
};

struct cfg_table {
	const struct cfg_key *keys;
	size_t nkeys;
	size_t size;              /* sizeof the values struct */
};

/* ---- table generators ------------------------------------------------- */

#define CFG_FIELD_INT(k) int k;
#define CFG_FIELD_BOOL(k) bool k;
#define CFG_FIELD_STRING(k) char k[CFG_STR_MAX];
#define CFG_FIELD_PATH(k) char k[CFG_STR_MAX];
#define CFG_FIELD_(sec, key, type, def, min, max, help) CFG_FIELD_##type(key)
/* struct tag { one field per key, in table order }; */
#define CFG_STRUCT(tag, TABLE) struct tag { TABLE(CFG_FIELD_) }

#define CFG_DEF_INT(d) (d), NULL
#define CFG_DEF_BOOL(d) (d), NULL
#define CFG_DEF_STRING(d) 0, ("" d)
#define CFG_DEF_PATH(d) 0, ("" d)
#define CFG_KEY_(sec, key, type, def, min, max, help)                          \
	{ #sec, #key, CFG_##type, CFG_DEF_##type(def), (min), (max), (help),     \
	  offsetof(cfg_self_t_, key) },
/* Defines `const struct cfg_table name` for values of type stype (at file
 * scope, once per translation unit: it declares the typedef cfg_self_t_). */
#define CFG_TABLE(name, stype, TABLE)                                          \
	typedef stype cfg_self_t_;                                               \
	static const struct cfg_key name##_keys_[] = { TABLE(CFG_KEY_) };        \
	const struct cfg_table name = { name##_keys_,                            \
		sizeof(name##_keys_) / sizeof(name##_keys_[0]), sizeof(stype) };

/* ---- using a table ---------------------------------------------------- */

/* Receives each warning (one line, no prefix, no newline). NULL where a
 * cfg_warn_fn is asked for: "warning: <msg>" on stderr. */
typedef void (*cfg_warn_fn)(void *ctx, const char *msg);

/* Checks a table for programming errors (duplicate or empty names, default
 * out of range, min > max, a string default too long). 0 or PED_E_INVAL
 * with the reason in err. Call it from a unit test of every table. */
int cfg_check_table(const struct cfg_table *t, char *err, size_t errlen);

/* Sets every field of vals (a struct of t->size bytes) to its default. */
void cfg_defaults(const struct cfg_table *t, void *vals);

/* Loads the config file at path into vals: defaults first, then the file.
 * A missing file is not an error (vals = defaults, returns 0). On error vals
 * holds the defaults and err the one error line (naming path, or path:line). */
int cfg_load(const struct cfg_table *t, void *vals, const char *path,
	     cfg_warn_fn warn, void *ctx, char *err, size_t errlen);

/* Same as cfg_load on len bytes in memory (need not be NUL-terminated);
 * name stands for the file name in messages. The fuzzing entry point. */
int cfg_parse_mem(const struct cfg_table *t, void *vals, const char *name,
		  const char *data, size_t len, cfg_warn_fn warn, void *ctx,
		  char *err, size_t errlen);

/* Index of a key by name ("Port", any case), or -1. */
int cfg_find(const struct cfg_table *t, const char *name);

/* Sets one value from its text, validated as in a file (a command-line
 * override): "Port = 70000 is out of range (1-65535)". PED_E_PARSE for an
 * unknown key. vals is unchanged on error. */
int cfg_set_value(const struct cfg_table *t, void *vals, const char *key,
		  const char *text, char *err, size_t errlen);

/* Writes the value of key i as text ("1503", "1", "/var/log/x") into buf;
 * returns buf (truncated to len, always NUL-terminated). */
const char *cfg_value_text(const struct cfg_table *t, const void *vals, size_t i,
			   char *buf, size_t len);

/* True if key i holds its default value. */
bool cfg_is_default(const struct cfg_table *t, const void *vals, size_t i);

/* Calls fn for every key in table order with its current value as text and
 * whether it is the default; stops at (and returns) the first nonzero
 * return of fn. The machine form (-json) is built on this. */
typedef int (*cfg_visit_fn)(void *ctx, const struct cfg_key *k, const char *value,
			    bool is_default);
int cfg_foreach(const struct cfg_table *t, const void *vals, cfg_visit_fn fn, void *ctx);

/* Prints the values for people, grouped by section, INI-shaped:
 *   [Server]
 *   Port        = 1600
 *   IdleTimeout = 1800 ; default
 * Returns 0 or PED_E_IO. */
int cfg_show(const struct cfg_table *t, const void *vals, FILE *out);

/* Prints a commented config file with every key, its help, type, range and
 * default (for conf/ and the documentation). Returns 0 or PED_E_IO. */
int cfg_write_template(const struct cfg_table *t, FILE *out);

/* One assignment for cfg_set: key name (any case) and its new value text. */
struct cfg_assign {
	const char *key;
	const char *value;
};

/* Applies n assignments to the file at path (`-mode config -set`). The
 * existing file must be valid (else its error is returned, nothing is
 * written); each value is validated against the table ("Port = 70000 is out
 * of range (1-65535)") and must read back identically (no control
 * characters, no leading or trailing blanks, no blank followed by ';').
 * The file is rewritten atomically (common/atomic.h): every byte is kept
 * except the values replaced in place; a key not in the file is appended to
 * the last block of its [Section], a missing section is appended at the
 * end. A new file gets mode 0600 and missing parent directories 0700; an
 * existing file keeps its mode; a symlink is followed. Warnings about the
 * existing file go to warn. */
int cfg_set(const struct cfg_table *t, const char *path, const struct cfg_assign *a,
	    size_t n, cfg_warn_fn warn, void *ctx, char *err, size_t errlen);

/* cfg_set on len bytes in memory (name for messages): on success *out is
 * the new text (malloc'd, NUL-terminated, *outlen bytes; free() it). */
int cfg_set_mem(const struct cfg_table *t, const char *name, const char *data, size_t len,
		const struct cfg_assign *a, size_t n, cfg_warn_fn warn, void *ctx,
		char **out, size_t *outlen, char *err, size_t errlen);

/* The config file to use, into out (outlen bytes):
 *   configfile                       if not NULL (-configfile)
 *   statedir/<prog>.conf             if statedir not NULL (-statedir)
 *   /etc/<prog>/<prog>.conf          when running as root (euid 0)
 *   $XDG_CONFIG_HOME/<prog>/<prog>.conf, XDG_CONFIG_HOME defaulting to
 *   $HOME/.config (a relative XDG_CONFIG_HOME is ignored, as the XDG spec
 *   says; without HOME the passwd entry's home directory).
 * Returns 0, PED_E_TOO_LONG or PED_E_NOT_FOUND (no home directory). */
int cfg_path(char *out, size_t outlen, const char *prog, const char *configfile,
	     const char *statedir);

#endif
