/* modes.c - setid / assignid / releaseid / deleteid / testid from the
 * command line (the rule is in modes.h). */
#include "pedclient/modes.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/admin.h"
#include "common/daemon.h"
#include "common/err.h"
#include "common/log.h"
#include "common/prog.h"
#include "pedclient/config.h"
#include "pedclient/ids.h"
#include "pedclient/options.h"
#include "pedclient/probe.h"
#include "common/sys.h"

#define PROG "pedclient"

static int usage_err(const char *fmt, ...) PED_PRINTF(1, 2);

static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return PROG_EXIT_USAGE;
}

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

/* No pedclient owns the store (we hold fd = ids.lock): edit the file. */
static int edit_offline(const prog_t *p, int fd, int argc, char **argv)
{
	char path[PATH_MAX + 32], msg[IDS_ERR_MAX];
	struct ids *s = malloc(sizeof(*s));
	bool changed = false;
	int rc = 1;

	if (s == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", p->statedir, IDS_FILE);
	if (ids_load(s, path, msg, sizeof(msg)) != 0 ||
	    ids_apply(s, argc, argv, &changed, msg, sizeof(msg)) != 0 ||
	    (changed && ids_save(s, path, msg, sizeof(msg)) != 0)) {
		fprintf(stderr, PROG ": %s\n", msg);
		goto out;
	}
	printf("%s\n", msg);
	printf("(pedclient is not running: saved in %s)\n", path);
	rc = 0;
out:
	free(s);
	close(fd);
	return rc;
}

static int admin_port(const prog_t *p)
{
	const struct cli_val *v = prog_opt(p, "admin");

	return v != NULL ? (int)v->num : 0;
}

int pedclient_mode_ids(void *ctx, const struct cli_result *r)
{
	prog_t *p = ctx;
	const char *verb = pedclient_cli.modes[r->mode].name;
	const struct cli_val *id = prog_opt(p, "id"), *ip = prog_opt(p, "id_ip"),
			     *port = prog_opt(p, "id_port"), *ser = prog_opt(p, "id_serialnumber");
	char idw[16], portw[16], why[IDS_ERR_MAX];
	char *argv[5] = {(char *)verb, NULL, NULL, NULL, NULL};
	const char *args[4] = {NULL, NULL, NULL, NULL};
	struct admin_result res;
	int argc = 1, fd, rc, i;

	if (id != NULL)
		snprintf(idw, sizeof(idw), "%lld", id->num);
	if (port != NULL)
		snprintf(portw, sizeof(portw), "%lld", port->num);
	switch (r->mode) {
	case PC_M_SETID:
		if (id == NULL || ip == NULL || port == NULL)
			return usage_err("%s: missing (setid needs -id, -id_ip and -id_port)",
					 id == NULL ? "-id" : ip == NULL ? "-id_ip" : "-id_port");
		if (ids_check_host(ip->str, why, sizeof(why)) != 0)
			return usage_err("-id_ip: %s", why);
		argv[1] = idw, argv[2] = (char *)ip->str, argv[3] = portw, argc = 4;
		break;
	case PC_M_ASSIGNID:
		if (id == NULL || ser == NULL)
			return usage_err("%s: missing (assignid needs -id and -id_serialnumber)",
					 id == NULL ? "-id" : "-id_serialnumber");
		if (ids_check_serial(ser->str, why, sizeof(why)) != 0)
			return usage_err("-id_serialnumber: %s", why);
		argv[1] = idw, argv[2] = (char *)ser->str, argc = 3;
		break;
	case PC_M_RELEASEID:
		if ((id == NULL) == (ser == NULL))
			return usage_err("-id%s: releaseid needs -id or -id_serialnumber%s",
					 id == NULL ? "" : "/-id_serialnumber",
					 id == NULL ? "" : ", not both");
		if (ser != NULL && ids_check_serial(ser->str, why, sizeof(why)) != 0)
			return usage_err("-id_serialnumber: %s", why);
		argv[1] = id != NULL ? "id" : "serial";
		argv[2] = id != NULL ? idw : (char *)ser->str;
		argc = 3;
		break;
	default: /* deleteid */
		if (id == NULL)
			return usage_err("-id: missing (%s needs -id)", verb);
		argv[1] = idw, argc = 2;
		break;
	}
	for (i = 1; i < argc; i++)
		args[i - 1] = argv[i];

	if (daemon_statedir_check(p->statedir) != 0)
		return 1;
	fd = ids_lock(p->statedir, true, 0);
	if (fd >= 0)
		return edit_offline(p, fd, argc, argv);
	if (fd != PED_E_EXISTS) {
		fprintf(stderr, PROG ": cannot lock %s/%s: %s\n", p->statedir, IDS_LOCK_FILE,
			ped_strerror(fd));
		return 1;
	}
	rc = admin_call(p->statedir, NULL, admin_port(p), verb, args, print_line, NULL, 0, &res);
	if (rc == 0)
		return 0;
	if (rc == ADMIN_REMOTE_ERR) {
		fprintf(stderr, PROG ": %s\n", res.message);
		return 1;
	}
	if (rc != ADMIN_NOT_RUNNING) {
		fprintf(stderr, PROG ": error: %s%s%s\n", res.name, res.name[0] ? " " : "",
			res.message);
		return 1;
	}
	/* the lock is held but nobody answers: another edit, or a pedclient
	 * that is starting. Wait for the lock, bounded. */
	fd = ids_lock(p->statedir, false, (unsigned)prog_cfg_num(p, "BgProcessStartupTimeout", 10));
	if (fd >= 0)
		return edit_offline(p, fd, argc, argv);
	fprintf(stderr, PROG ": %s/%s is held by another process that does not answer "
			"(a pedclient starting?); try again\n", p->statedir, IDS_LOCK_FILE);
	return 1;
}

struct cli_test {
	const struct ids_entry *e;
	int rc;
};

static void cli_test_done(void *arg, const struct probe_result *res)
{
	struct cli_test *t = arg;

	if (res->rc == 0) {
		probe_describe(res, t->e->id, t->e->host, t->e->port, print_line, NULL);
		t->rc = 0;
	} else {
		fprintf(stderr, PROG ": testid %ld: %s\n", t->e->id, res->message);
		t->rc = 1;
	}
}

int pedclient_mode_testid(void *ctx, const struct cli_result *r)
{
	prog_t *p = ctx;
	const struct cli_val *id = prog_opt(p, "id");
	const struct pedclient_cfg *cfg = p->vals;
	char idw[16], path[PATH_MAX + 32], err[IDS_ERR_MAX], host[256];
	const char *args[2] = {idw, NULL};
	struct admin_result res;
	struct cli_test t = {NULL, 1};
	struct ids *s = NULL;
	uv_loop_t loop;
	pid_t pid;
	int rc;

	(void)r;
	if (id == NULL)
		return usage_err("-id: missing (testid needs -id)");
	snprintf(idw, sizeof(idw), "%lld", id->num);
	if (daemon_running_pid(p->statedir, PROG, &pid) == 0) {
		rc = admin_call(p->statedir, NULL, admin_port(p), "testid", args, print_line, NULL,
				(unsigned)(cfg->SocketReadTimeout + 5) * 1000u, &res);
		if (rc == 0)
			return 0;
		if (rc != ADMIN_NOT_RUNNING) {
			fprintf(stderr, PROG ": %s\n", res.message);
			return 1;
		}
	}
	/* no pedclient runs: probe from here */
	if ((s = malloc(sizeof(*s))) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", p->statedir, IDS_FILE);
	if (ids_load(s, path, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		goto out;
	}
	if ((t.e = ids_get(s, id->num)) == NULL) {
		fprintf(stderr, PROG ": testid %lld: id %lld is not mapped\n", id->num, id->num);
		goto out;
	}
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (size_t i = 0; host[i] != '\0'; i++)
		if (host[i] < 0x21 || host[i] > 0x7e)
			host[i] = '?';
	if (uv_loop_init(&loop) != 0)
		goto out;
	rc = probe_start(&loop, t.e->host, (int)t.e->port, (unsigned)cfg->SocketReadTimeout * 1000u,
			 host, cli_test_done, &t, NULL);
	if (rc != 0)
		fprintf(stderr, PROG ": testid %lld: %s\n", id->num, ped_strerror(rc));
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		t.rc = 1;
out:
	free(s);
	return t.rc;
}
