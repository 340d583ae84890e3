/* prog.c - the command-line flow shared by the daemons: parse, load the
 * config, apply overrides, set up logging, run the standard modes
 * (start / stop / show / config) or the program's own (see prog.h). */
#include "common/prog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/audit.h"
#include "common/daemon.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sys.h"

#define MAX_ASSIGN CLI_MAX_OPTS

static bool in_service; /* prog_run runs inside a Windows service */

/* The level keys and their option names, in log_level order. */
static const char *const level_key[4] = {"LogError", "LogWarning", "LogInfo", "LogTrace"};
static const char *const level_opt[4] = {"logerror", "logwarning", "loginfo", "logtrace"};

int prog_opt_index(const struct cli_spec *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nopts; i++)
		if (strcasecmp(s->opts[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const struct cli_val *opt_val(const struct cli_spec *s, const struct cli_result *r,
				     const char *name)
{
	int i = prog_opt_index(s, name);

	return i >= 0 && r->val[i].set ? &r->val[i] : NULL;
}

const struct cli_val *prog_opt(const prog_t *p, const char *name)
{
	return opt_val(p->desc->cli, &p->cli, name);
}

/* The text an option contributes to its config key. */
static const char *opt_text(const struct cli_opt *o, const struct cli_val *v)
{
	return o->type == CLI_FLAG || v->str == NULL ? "1" : v->str;
}

int prog_apply_overrides(const struct cli_spec *s, const struct cli_result *r,
			 const struct cfg_table *t, void *vals, char *err, size_t errlen)
{
	char e[CFG_ERR_MAX];
	size_t i;
	int rc;

	for (i = 0; i < s->nopts; i++) {
		const struct cli_opt *o = &s->opts[i];
		if (o->cfgkey == NULL || !r->val[i].set)
			continue;
		rc = cfg_set_value(t, vals, o->cfgkey, opt_text(o, &r->val[i]), e, sizeof(e));
		if (rc != 0) {
			snprintf(err, errlen, "-%s: %s", o->name, e);
			return rc;
		}
	}
	return 0;
}

size_t prog_collect_assign(const struct cli_spec *s, const struct cli_result *r,
			   struct cfg_assign *a, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < s->nopts && n < max; i++) {
		const struct cli_opt *o = &s->opts[i];
		if (o->cfgkey == NULL || !r->val[i].set)
			continue;
		a[n].key = o->cfgkey;
		a[n].value = opt_text(o, &r->val[i]);
		n++;
	}
	return n;
}

static const struct cfg_key *key_of(const struct cfg_table *t, const char *name)
{
	int i = t != NULL ? cfg_find(t, name) : -1;

	return i >= 0 ? &t->keys[i] : NULL;
}

static long long key_num(const struct cfg_key *k, const void *vals)
{
	const char *f = (const char *)vals + k->offset;

	if (k->type == CFG_INT)
		return *(const int *)(const void *)f;
	if (k->type == CFG_BOOL)
		return *(const bool *)(const void *)f;
	return 0;
}

unsigned prog_log_mask(const struct cli_spec *s, const struct cli_result *r,
		       const struct cfg_table *t, const void *vals)
{
	unsigned mask = LOG_MASK(LOG_LVL_ERROR) | LOG_MASK(LOG_LVL_WARNING) |
			LOG_MASK(LOG_LVL_INFO);
	int l;

	for (l = 0; l < 4; l++) {
		const struct cfg_key *k = key_of(t, level_key[l]);
		const struct cli_val *v = opt_val(s, r, level_opt[l]);
		long long on;
		if (k != NULL && vals != NULL && k->type == CFG_BOOL)
			on = key_num(k, vals);
		else if (v != NULL)
			on = v->num;
		else
			continue;
		mask = on ? mask | LOG_MASK(l) : mask & ~LOG_MASK(l);
	}
	return mask;
}

long long prog_cfg_num(const prog_t *p, const char *key, long long def)
{
	const struct cfg_key *k = key_of(p->desc->cfg, key);

	if (k == NULL || (k->type != CFG_INT && k->type != CFG_BOOL))
		return def;
	return key_num(k, p->vals);
}

const char *prog_cfg_str(const prog_t *p, const char *key)
{
	const struct cfg_key *k = key_of(p->desc->cfg, key);

	if (k == NULL || (k->type != CFG_STRING && k->type != CFG_PATH))
		return "";
	return (const char *)p->vals + k->offset;
}

static void warn_stderr(void *ctx, const char *msg)
{
	const prog_t *p = ctx;

	fprintf(stderr, "%s: warning: %s\n", p->desc->cli->prog, msg);
}

static void warn_log(void *ctx, const char *msg)
{
	(void)ctx;
	log_warning("%s", msg);
}

int prog_reload(const prog_t *p, void *vals, char *err, size_t errlen)
{
	const struct cfg_table *t = p->desc->cfg;
	void *tmp = calloc(1, t->size);
	int rc;

	if (tmp == NULL) {
		snprintf(err, errlen, "out of memory");
		return PED_E_NOMEM;
	}
	rc = cfg_load(t, tmp, p->cfgpath, warn_log, NULL, err, errlen);
	if (rc == 0)
		rc = prog_apply_overrides(p->desc->cli, &p->cli, t, tmp, err, errlen);
	if (rc == 0)
		memcpy(vals, tmp, t->size);
	free(tmp);
	return rc;
}

static bool listed(const char *const keys[], const char *key)
{
	for (size_t i = 0; keys != NULL && keys[i] != NULL; i++)
		if (strcmp(keys[i], key) == 0)
			return true;
	return false;
}

static void append(char *buf, size_t cap, const char *word)
{
	size_t n = strlen(buf);
	snprintf(buf + n, cap - n, "%s%s", n > 0 ? ", " : "", word);
}

int prog_reload_apply(prog_t *p, void *running, const char *const restart_keys[])
{
	const struct cfg_table *t = p->desc->cfg;
	char err[CFG_ERR_MAX], was[CFG_STR_MAX], now[CFG_STR_MAX];
	char applied[512] = "", later[512] = "";
	bool relog = false;
	void *nv = calloc(1, t->size);
	int rc;

	if (nv == NULL) {
		log_error("reload: out of memory; keeping the running configuration");
		return PED_E_NOMEM;
	}
	if ((rc = prog_reload(p, nv, err, sizeof(err))) != 0) {
		log_error("reload: %s; keeping the running configuration", err);
		goto out;
	}
	for (size_t i = 0; i < t->nkeys; i++) {
		const char *k = t->keys[i].name;
		cfg_value_text(t, running, i, was, sizeof(was));
		cfg_value_text(t, nv, i, now, sizeof(now));
		if (strcmp(was, now) == 0)
			continue;
		if (listed(restart_keys, k)) {
			append(later, sizeof(later), k);
			cfg_set_value(t, nv, k, was, err, sizeof(err)); /* keep what runs */
			continue;
		}
		append(applied, sizeof(applied), k);
		relog |= strcmp(k, "LogFileName") == 0 || strcmp(k, "MaxLogFileSize") == 0;
	}
	memcpy(running, nv, t->size);
	if (relog) {
		int f = cfg_find(t, "LogFileName"), m = cfg_find(t, "MaxLogFileSize");
		if (f >= 0 && m >= 0) {
			cfg_value_text(t, running, (size_t)f, now, sizeof(now));
			cfg_value_text(t, running, (size_t)m, was, sizeof(was));
			/* empty: the default file the daemon opened at start */
			const char *file = now[0] != '\0' ? now : p->logpath;
			if (file[0] != '\0')
				(void)log_open_file(file, (size_t)strtoull(was, NULL, 10) * 1024);
		}
	}
	log_set_mask(prog_log_mask(p->desc->cli, &p->cli, t, running));
	log_info("reload: applied %s%s%s", applied[0] ? applied : "no change",
		 later[0] ? "; needs a restart: " : "", later);
out:
	audit_event("config_reload", "applied:s restart_needed:s result:s", applied, later,
		    ped_errname(rc));
	free(nv);
	return rc;
}

int prog_mode_audit(void *ctx, const struct cli_result *r)
{
	prog_t *p = ctx;
	const struct cli_val *v = prog_opt(p, "verify");

	if (v == NULL) {
		fprintf(stderr, "%s: -mode audit: -verify [FILE...] is required\n",
			p->desc->cli->prog);
		return PROG_EXIT_USAGE;
	}
	return audit_verify_main(p->statedir, r->operand, r->noperands);
}

void prog_admin_stop(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	daemon_request_shutdown("admin stop");
	admin_reply_line(r, "stopping");
	admin_reply_end(r, 0);
}

/* The admin verb "config-set CHANGES" every daemon has: `-mode config -set`
 * asks the running daemon, the audit trail's one writer, to record what it
 * changed in the file (a reload applies it later). */
static void admin_config_set(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)ctx;
	if (argc != 2) {
		admin_reply_end(r, PED_E_BAD_REQUEST);
		return;
	}
	audit_event("config_set", "changes:s", argv[1]);
	admin_reply_end(r, 0);
}

int prog_admin_start(const prog_t *p, uv_loop_t *loop, void *ctx, admin_server_t **out)
{
	static struct admin_cmd cmds[32];
	struct admin_config c = {0};
	size_t n = 0;

	for (const struct admin_cmd *d = p->desc->admin_cmds; d != NULL && d->verb != NULL &&
	     n < sizeof(cmds) / sizeof(cmds[0]) - 2; d++)
		cmds[n++] = *d;
	cmds[n++] = (struct admin_cmd){"config-set", admin_config_set,
				       "record a -mode config -set in the audit trail"};
	cmds[n] = (struct admin_cmd){NULL, NULL, NULL};

	c.statedir = daemon_statedir()[0] != '\0' ? daemon_statedir() : p->statedir;
	c.port = (int)prog_cfg_num(p, "AdminPort", ADMIN_PORT_PEDSERVER);
	c.external = (int)prog_cfg_num(p, "ExternalAdmin", 0);
	c.cmds = cmds;
	c.ctx = ctx;
	return admin_server_start(loop, &c, out);
}

int prog_default_statedir(char *out, size_t outlen, const char *prog)
{
	return sys_default_statedir(out, outlen, prog);
}

bool prog_argv_has(int argc, char *const argv[], const char *name)
{
	size_t n = strlen(name);
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			continue;
		a += a[1] == '-' ? 2 : 1;
		if (strncasecmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '='))
			return true;
	}
	return false;
}

void prog_json_str(char *dst, size_t cap, const char *src)
{
	size_t o = 0;

	if (cap < 3) {
		if (cap > 0)
			dst[0] = '\0';
		return;
	}
	dst[o++] = '"';
	for (; *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;
		char e[8];
		size_t el;
		if (c == '"' || c == '\\')
			el = (size_t)snprintf(e, sizeof(e), "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			el = (size_t)snprintf(e, sizeof(e), "\\u%04x", c);
		else
			el = (size_t)snprintf(e, sizeof(e), "%c", c);
		if (o + el + 2 > cap)
			break;
		memcpy(dst + o, e, el);
		o += el;
	}
	dst[o++] = '"';
	dst[o] = '\0';
}

/* ---- the standard modes ---- */

/* The daemon process: logging first, then the program's body. */
static int daemon_body(void *arg)
{
	prog_t *p = arg;
	const char *prog = p->desc->cli->prog;
	const char *file = prog_cfg_str(p, "LogFileName");
	size_t maxsz = (size_t)prog_cfg_num(p, "MaxLogFileSize", 0) * 1024;
	/* a Windows service logs as a background daemon does: to a file */
	bool background = p->service || !(p->foreground || getenv("NOTIFY_SOCKET") != NULL ||
					  getenv("INVOCATION_ID") != NULL);
	char def[PATH_MAX];
	int n, st;

	n = snprintf(def, sizeof(def), "%s/%s.log", daemon_statedir(), prog);
	if (n < 0 || (size_t)n >= sizeof(def))
		def[0] = '\0';
	if (file[0] == '\0' && background)
		file = def;
	if (file[0] != '\0') {
		if (log_open_file(file, maxsz) == 0) {
			snprintf(p->logpath, sizeof(p->logpath), "%s", file);
		} else if (background && file != def && def[0] != '\0' &&
			   log_open_file(def, maxsz) == 0) {
			/* stderr goes to /dev/null once ready: fall back to the
			 * state dir, and say so where the user sees it */
			snprintf(p->logpath, sizeof(p->logpath), "%s", def);
			fprintf(stderr, "%s: warning: logging to %s instead\n", prog, def);
			log_warning("cannot open log file %s; logging to %s instead", file, def);
		}
	}
	log_keep_startup(1); /* until daemon_ready */
	if (prog_opt(p, "winservice") != NULL && !p->service)
		log_info("-winservice: Windows only; ignored here");
	log_info("%s %s starting (pid %ld, state dir %s, config %s)", prog,
		 p->desc->version != NULL ? p->desc->version : "", (long)getpid(),
		 daemon_statedir(), p->cfgpath);
	(void)audit_open(daemon_statedir(), prog);
	audit_event("start", "version:s pid:l config:s", p->desc->version, (long long)getpid(),
		    p->cfgpath);
	st = p->desc->run(p);
	audit_flush(1); /* the refusals still counted belong before the stop */
	audit_event("stop", "status:d", st);
	audit_close();
	log_info("%s exiting with status %d", prog, st);
	log_close_file();
	return st;
}

static int mode_start(prog_t *p)
{
	struct daemon_opts o = {0};

	o.prog = p->desc->cli->prog;
	o.statedir = p->statedir;
	o.foreground = p->foreground || p->service; /* the SCM started us: no fork */
	o.startup_timeout_s = (unsigned)prog_cfg_num(p, "BgProcessStartupTimeout", 0);
	o.internal_timeout_s = (unsigned)prog_cfg_num(p, "InternalShutdownTimeout", 0);
	o.run = daemon_body;
	o.arg = p;
	return daemon_start(&o);
}

/* -statedir and -configfile as given to install, made absolute (the
 * service does not start in our working directory), quoted. */
static int service_args(const prog_t *p, char *out, size_t cap)
{
	static const char *const pass[] = {"statedir", "configfile"};
	char cwd[PATH_MAX];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		const struct cli_val *v = prog_opt(p, pass[i]);
		bool abs;
		int n;
		if (v == NULL)
			continue;
		abs = sys_path_absolute(v->str);
		if (!abs && getcwd(cwd, sizeof(cwd)) == NULL)
			return PED_E_IO;
		n = snprintf(out + o, cap - o, "%s-%s \"%s%s%s\"", o > 0 ? " " : "", pass[i],
			     abs ? "" : cwd, abs ? "" : "/", v->str);
		if (n < 0 || (size_t)n >= cap - o)
			return PED_E_TOO_LONG;
		o += (size_t)n;
	}
	return 0;
}

static int mode_install(prog_t *p)
{
	const char *prog = p->desc->cli->prog;
	char args[2 * PATH_MAX + 64], display[128], err[512];
	int rc = service_args(p, args, sizeof(args));

	snprintf(display, sizeof(display), "Remote PED %s", prog);
	if (rc == 0)
		rc = sys_service_install(prog, display, args, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "-statedir / -configfile: path too long");
	if (rc != 0) {
		fprintf(stderr, "%s: error: %s: %s\n", prog, ped_errname(rc), err);
		return 1;
	}
	printf("%s: service %s installed (automatic start, restart on failure); start it with: "
	       "net start %s\n", prog, prog, prog);
	return 0;
}

/* The MSI's deferred custom action after InstallServices (remoteped.wxs). */
static int mode_recovery(prog_t *p)
{
	const char *prog = p->desc->cli->prog;
	char err[512];
	int rc = sys_service_recovery(prog, err, sizeof(err));

	if (rc != 0) {
		fprintf(stderr, "%s: error: %s: %s\n", prog, ped_errname(rc), err);
		return rc == PED_E_SERVICE_NOT_INSTALLED ? PROG_EXIT_NOT_RUNNING : 1;
	}
	printf("%s: service %s: restart after 5 s on the first two failures, the count reset "
	       "after a day\n", prog, prog);
	return 0;
}

static int mode_uninstall(prog_t *p)
{
	const char *prog = p->desc->cli->prog;
	unsigned t = (unsigned)prog_cfg_num(p, "BgProcessShutdownTimeout", 0);
	char err[512];
	int rc = sys_service_uninstall(prog, t ? t : DAEMON_DEFAULT_SHUTDOWN_TIMEOUT, err,
				       sizeof(err));

	if (rc != 0) {
		fprintf(stderr, "%s: error: %s: %s\n", prog, ped_errname(rc), err);
		return rc == PED_E_SERVICE_NOT_INSTALLED ? PROG_EXIT_NOT_RUNNING : 1;
	}
	printf("%s: service %s removed\n", prog, prog);
	return 0;
}

static int mode_stop(prog_t *p)
{
	return daemon_stop(p->statedir, p->desc->cli->prog,
			   (unsigned)prog_cfg_num(p, "BgProcessShutdownTimeout", 0));
}

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

static int mode_show(prog_t *p)
{
	const struct cli_val *port = prog_opt(p, "admin"), *name = prog_opt(p, "name");
	const char *args[2] = {name != NULL ? name->str : NULL, NULL};
	struct admin_result res;
	int rc;

	/* "-mode show -name N": the program's show verb gets N */
	rc = admin_call(p->statedir, NULL, port != NULL ? (int)port->num : 0,
			p->json ? "show-json" : "show", args, print_line, NULL, 0, &res);
	if (rc == ADMIN_NOT_RUNNING) {
		if (p->json)
			printf("{\"schema_version\":1,\"running\":false}\n");
		else
			printf("%s is not running\n", p->desc->cli->prog);
		return PROG_EXIT_NOT_RUNNING;
	}
	if (rc != 0) {
		fprintf(stderr, "%s: error: %s%s%s\n", p->desc->cli->prog, res.name,
			res.name[0] != '\0' ? " " : "", res.message);
		return 1;
	}
	return 0;
}

static int json_key(void *ctx, const struct cfg_key *k, const char *value, bool is_default)
{
	bool *first = ctx;
	char v[2 * CFG_STR_MAX * 3];

	(void)is_default;
	if (k->type == CFG_STRING || k->type == CFG_PATH)
		prog_json_str(v, sizeof(v), value);
	else if (k->type == CFG_BOOL)
		snprintf(v, sizeof(v), "%s", value[0] == '1' ? "true" : "false");
	else
		snprintf(v, sizeof(v), "%s", value);
	printf("%s\"%s\":%s", *first ? "" : ",", k->name, v);
	*first = false;
	return 0;
}

static int config_show(prog_t *p)
{
	char path[3 * PATH_MAX];
	bool first = true;

	if (p->json) {
		prog_json_str(path, sizeof(path), p->cfgpath);
		printf("{\"schema_version\":1,\"file\":%s,\"exists\":%s,\"config\":{", path,
		       access(p->cfgpath, F_OK) == 0 ? "true" : "false");
		cfg_foreach(p->desc->cfg, p->vals, json_key, &first);
		printf("}}\n");
		return 0;
	}
	printf("; %s%s\n", p->cfgpath,
	       access(p->cfgpath, F_OK) == 0 ? "" : " (does not exist: defaults)");
	return cfg_show(p->desc->cfg, p->vals, stdout) == 0 ? 0 : 1;
}

/* Appends "Key=old->new" to out (";" between changes); the values' spaces
 * and '%' as %20 and %25, so the whole is one admin word. */
static void change_text(char *out, size_t cap, const char *key, const char *before,
			const char *after)
{
	size_t o = strlen(out);
	const char *v[2] = {before, after};

	o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s=", o ? ";" : "", key);
	for (int i = 0; i < 2; i++) {
		for (const char *q = v[i]; *q != '\0' && o + 4 < cap; q++)
			o += (size_t)snprintf(out + o, cap - o, *q == ' ' ? "%%20" : *q == '%' ? "%%25" : "%c",
					      *q);
		if (i == 0 && o + 3 < cap)
			o += (size_t)snprintf(out + o, cap - o, "->");
	}
}

/* The audit record of a config -set: by the running daemon (the trail's
 * one writer), else written here. */
static void audit_config_set(const prog_t *p, const char *changes)
{
	const char *args[2] = {changes, NULL};
	int rc;

	if (changes[0] == '\0')
		return;
	rc = admin_call(p->statedir, NULL, 0, "config-set", args, NULL, NULL, 0, NULL);
	/* no state dir yet: no trail to write to (start makes both) */
	if (rc == ADMIN_NOT_RUNNING && access(p->statedir, W_OK) == 0 &&
	    audit_open(p->statedir, p->desc->cli->prog) == 0) {
		audit_event("config_set", "changes:s", changes);
		audit_close();
	}
}

static int config_set(prog_t *p)
{
	const struct cfg_table *t = p->desc->cfg;
	const char *prog = p->desc->cli->prog;
	struct cfg_assign a[MAX_ASSIGN];
	char err[CFG_ERR_MAX], before[CFG_STR_MAX], after[CFG_STR_MAX];
	char changes[ADMIN_LINE_MAX / 2] = "";
	void *old = NULL;
	size_t n, i;
	int rc = PROG_EXIT_USAGE;

	n = prog_collect_assign(p->desc->cli, &p->cli, a, MAX_ASSIGN);
	if (n == 0) {
		fprintf(stderr, "%s: -set: no option to write (e.g. -set -port 1600)\n", prog);
		return PROG_EXIT_USAGE;
	}
	if ((old = calloc(1, t->size)) == NULL)
		goto out;
	if (cfg_load(t, old, p->cfgpath, warn_stderr, p, err, sizeof(err)) != 0 ||
	    cfg_set(t, p->cfgpath, a, n, NULL, NULL, err, sizeof(err)) != 0 ||
	    cfg_load(t, p->vals, p->cfgpath, NULL, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		goto out;
	}
	printf("updated %s\n", p->cfgpath);
	for (i = 0; i < n; i++) {
		int k = cfg_find(t, a[i].key);
		if (k < 0)
			continue;
		cfg_value_text(t, old, (size_t)k, before, sizeof(before));
		cfg_value_text(t, p->vals, (size_t)k, after, sizeof(after));
		if (strcmp(before, after) == 0)
			printf("%s: %s (unchanged)\n", t->keys[k].name, after);
		else
			printf("%s: %s -> %s\n", t->keys[k].name, before, after);
		if (strcmp(before, after) != 0)
			change_text(changes, sizeof(changes), t->keys[k].name, before, after);
	}
	audit_config_set(p, changes);
	rc = 0;
out:
	free(old);
	return rc;
}

static int mode_config(prog_t *p)
{
	if (prog_opt(p, "set") != NULL)
		return config_set(p);
	return config_show(p);
}

static int standard_mode(prog_t *p, const char *name)
{
	if (strcmp(name, "start") == 0)
		return mode_start(p);
	if (strcmp(name, "stop") == 0)
		return mode_stop(p);
	if (strcmp(name, "show") == 0)
		return mode_show(p);
	if (strcmp(name, "config") == 0)
		return mode_config(p);
	if (strcmp(name, "install") == 0)
		return mode_install(p);
	if (strcmp(name, "uninstall") == 0)
		return mode_uninstall(p);
	if (strcmp(name, "recovery") == 0)
		return mode_recovery(p);
	return -1;
}

/* Fills p from the command line: state dir, config path, flags. */
static int locate(prog_t *p, char *err, size_t errlen)
{
	const char *prog = p->desc->cli->prog;
	const struct cli_val *sd = prog_opt(p, "statedir"), *cf = prog_opt(p, "configfile");
	int rc;

	if (sd != NULL) {
		if (snprintf(p->statedir, sizeof(p->statedir), "%s", sd->str) >=
		    (int)sizeof(p->statedir)) {
			snprintf(err, errlen, "-statedir: path too long");
			return PED_E_TOO_LONG;
		}
	} else if ((rc = prog_default_statedir(p->statedir, sizeof(p->statedir), prog)) != 0) {
		snprintf(err, errlen, "no state directory: give -statedir DIR");
		return rc;
	}
	rc = cfg_path(p->cfgpath, sizeof(p->cfgpath), prog, cf != NULL ? cf->str : NULL,
		      sd != NULL ? sd->str : NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot find a config file: give -configfile FILE");
		return rc;
	}
	p->foreground = prog_opt(p, "foreground") != NULL;
	p->json = prog_opt(p, "json") != NULL;
	p->service = in_service;
	return 0;
}

static int prog_run(const struct prog_desc *desc, void *vals, int argc, char *argv[])
{
	const struct cli_spec *s = desc->cli;
	static prog_t p; /* lives as long as the daemon, which uses it */
	char err[CFG_ERR_MAX > CLI_ERR_MAX ? CFG_ERR_MAX : CLI_ERR_MAX];
	const struct cli_mode *m;
	bool lenient, set;
	int rc;

	memset(&p, 0, sizeof(p));
	p.desc = desc;
	p.vals = vals;
	log_set_ident(s->prog);
	if (cli_parse(s, argc, argv, &p.cli, err, sizeof(err)) != 0)
		return cli_fail(s, err);
	if (p.cli.help) {
		cli_usage(s, p.cli.mode, argc <= 1 ? stderr : stdout);
		return argc <= 1 ? PROG_EXIT_USAGE : 0;
	}
	if (p.cli.mode < 0)
		return cli_fail(s, "-mode: missing");
	m = &s->modes[p.cli.mode];
	if (locate(&p, err, sizeof(err)) != 0)
		return cli_fail(s, err);

	/* stop and show must work even when the file has become invalid; a
	 * config -set checks the file itself (and writes nothing if bad) */
	lenient = m->run == NULL && (strcmp(m->name, "stop") == 0 || strcmp(m->name, "show") == 0);
	set = m->run == NULL && strcmp(m->name, "config") == 0 && prog_opt(&p, "set") != NULL;
	rc = cfg_load(desc->cfg, vals, p.cfgpath, warn_stderr, &p, err, sizeof(err));
	if (rc == 0 && !set)
		rc = prog_apply_overrides(s, &p.cli, desc->cfg, vals, err, sizeof(err));
	if (rc != 0 && !set) {
		if (!lenient)
			return cli_fail(s, err);
		fprintf(stderr, "%s: warning: %s\n", s->prog, err);
		cfg_defaults(desc->cfg, vals);
	}
	log_set_mask(prog_log_mask(s, &p.cli, desc->cfg, vals));

	if (m->run != NULL)
		return m->run(&p, &p.cli);
	rc = standard_mode(&p, m->name);
	if (rc < 0) {
		snprintf(err, sizeof(err), "-mode %s: not implemented", m->name);
		return cli_fail(s, err);
	}
	return rc;
}

/* ---- -winservice: the whole flow runs inside the service (sys.h), so
 * that a bad option or config file reaches the SCM as the exit code ---- */

struct service_args {
	const struct prog_desc *desc;
	void *vals;
	int argc;
	char **argv;
};

static int service_body(void *arg)
{
	struct service_args *a = arg;

	in_service = true;
	return prog_run(a->desc, a->vals, a->argc, a->argv);
}

/* The value of -name VALUE or -name=VALUE in argv, before parsing; or NULL. */
static const char *argv_value(int argc, char *const argv[], const char *name)
{
	size_t n = strlen(name);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			continue;
		a += a[1] == '-' ? 2 : 1;
		if (strncasecmp(a, name, n) != 0)
			continue;
		if (a[n] == '=')
			return a + n + 1;
		if (a[n] == '\0' && i + 1 < argc)
			return argv[i + 1];
	}
	return NULL;
}

int prog_main(const struct prog_desc *desc, void *vals, int argc, char *argv[])
{
	const char *prog = desc->cli->prog, *sd;
	struct service_args a = {desc, vals, argc, argv};
	char dir[PATH_MAX];
	bool have;
	int rc;

	if (prog_opt_index(desc->cli, "winservice") < 0 || !prog_argv_has(argc, argv, "winservice"))
		return prog_run(desc, vals, argc, argv);
	/* the transcript goes to the state dir (what is printed before the log
	 * file is open, e.g. a bad config file) */
	sd = argv_value(argc, argv, "statedir");
	if (sd != NULL)
		have = snprintf(dir, sizeof(dir), "%s", sd) < (int)sizeof(dir);
	else
		have = sys_default_statedir(dir, sizeof(dir), prog) == 0;
	rc = sys_service_run(prog, have ? dir : NULL, service_body, &a);
	return rc == PED_E_WINDOWS_ONLY ? prog_run(desc, vals, argc, argv) : rc;
}
