/* service.c - the pedclient daemon: loop, admin verbs, show (see service.h).
 * It owns the PED ID mappings, the HSM slots (slots.h), the Local PED
 * (lped.h), the HSM socket for pedhsm (hsmsock.h) whose commands flows.c
 * runs, and the Remote PED sessions those commands open (remote.h). */
#include "service.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/daemon.h"
#include "common/err.h"
#include "common/log.h"
#include "pedclient/config.h"
#include "pedclient/flows.h"
#include "pedclient/hsmsock.h"
#include "pedclient/ids.h"
#include "pedclient/inbound.h"
#include "pedclient/lped.h"
#include "pedclient/probe.h"
#include "pedclient/slots.h"
#include "session/tlscli.h"

#define MAX_TESTS 8

struct test {
	struct client *c;
	admin_reply_t *reply;
	probe_t *probe;
	long id, port;
	char host[IDS_HOST_MAX + 1];
	bool used;
};

struct client {
	prog_t *p;
	struct pedclient_cfg *cfg;
	uv_loop_t loop;
	admin_server_t *admin;
	struct ids ids;
	int idsfd;
	char idspath[PATH_MAX + 32];
	struct slots slots;
	lped_t *lped;
	hsmsock_t *hsmsock;
	flows_t *flows;
	inbound_t *inbound;
	unsigned closing;
	char host[256];
	struct test tests[MAX_TESTS];
};

static struct client C;

/* ---- show ---- */

static void reply_line(void *arg, const char *line)
{
	admin_reply_line(arg, "%s", line);
}

static void show_text(struct client *c, admin_reply_t *r)
{
	const struct pedclient_cfg *k = c->cfg;
	const char *log = log_file_path();
	unsigned long up = daemon_uptime();
	unsigned long long core;
	int dumpable;
	size_t i;

	/* framed like the reference's pedserver block (its pedclient shows none) */
	admin_reply_line(r, "Ped Client launched in status mode.");
	admin_reply_line(r, "Client Information:");
	admin_reply_line(r, "  Software Version:      pedclient %s", PEDCLIENT_VERSION);
	admin_reply_line(r, "  Host Name:             %s", c->host);
	admin_reply_line(r, "  Process ID:            %ld", (long)getpid());
	daemon_hygiene_status(&dumpable, &core);
	admin_reply_line(r, "  Dumpable, Core Limit:  %d, %llu", dumpable, core);
	admin_reply_line(r, "  State Directory:       %s", daemon_statedir());
	admin_reply_line(r, "  Config File:           %s", c->p->cfgpath);
	admin_reply_line(r, "  Log File:              %s", log != NULL ? log : "(stderr)");
	admin_reply_line(r, "Operating Information:");
	admin_reply_line(r, "  Admin Port:            %d", admin_server_port(c->admin));
	admin_reply_line(r, "  External Admin:        %s", k->ExternalAdmin ? "Yes" : "No");
	admin_reply_line(r, "  Up Time:               %lu (secs)", up);
	admin_reply_line(r, "  Idle Timeout:          %d (secs)%s", k->IdleTimeout,
			 k->IgnoreIdleTimeout ? ", ignored for assigned PED IDs" : "");
	admin_reply_line(r, "  Socket Read Timeout:   %d (secs)", k->SocketReadTimeout);
	admin_reply_line(r, "  Socket Write Timeout:  %d (secs)", k->SocketWriteTimeout);
	admin_reply_line(r, "  Ping Interval/Timeout: %d/%d (secs)", k->PingInterval,
			 k->PingTimeout);
	admin_reply_line(r, "  Local PED:             %s",
			 k->LocalPed[0] ? k->LocalPed : "(none)");
	admin_reply_line(r, "HSM Slots: %u", c->slots.n);
	for (i = 0; i < c->slots.n; i++)
		admin_reply_line(r, "  Slot %zu:  serial %s", i, c->slots.serial[i]);
	admin_reply_line(r, "PED ID Mappings: %zu", c->ids.n);
	for (i = 0; i < c->ids.n; i++) {
		const struct ids_entry *e = &c->ids.e[i];
		admin_reply_line(r, "  ID %-5ld %s:%ld  %s%s", e->id, e->host, e->port,
				 e->serial[0] ? "assigned to HSM " : "not assigned", e->serial);
	}
	inbound_describe(c->inbound, reply_line, r);
	if (flows_sessions(c->flows) == 0) {
		admin_reply_line(r, "Sessions: none");
	} else {
		admin_reply_line(r, "Sessions: %u", flows_sessions(c->flows));
		flows_describe(c->flows, reply_line, r);
	}
	admin_reply_line(r, "Show command passed.");
}

static void show_json(struct client *c, admin_reply_t *r)
{
	const struct pedclient_cfg *k = c->cfg;
	char host[600], sd[3 * PATH_MAX], cfgp[3 * PATH_MAX], logp[3 * PATH_MAX],
		lp[3 * CFG_STR_MAX];
	const char *log = log_file_path();
	size_t i, n;

	prog_json_str(host, sizeof(host), c->host);
	prog_json_str(sd, sizeof(sd), daemon_statedir());
	prog_json_str(cfgp, sizeof(cfgp), c->p->cfgpath);
	if (log != NULL)
		prog_json_str(logp, sizeof(logp), log);
	else
		snprintf(logp, sizeof(logp), "null");
	if (k->LocalPed[0])
		prog_json_str(lp, sizeof(lp), k->LocalPed);
	else
		snprintf(lp, sizeof(lp), "null");
	admin_reply_line(r, "{\"schema_version\":1,\"running\":true,\"program\":\"pedclient\","
			    "\"version\":\"%s\",\"host_name\":%s,\"pid\":%ld,", PEDCLIENT_VERSION,
			 host, (long)getpid());
	admin_reply_line(r, "\"statedir\":%s,\"config_file\":%s,\"log_file\":%s,", sd, cfgp, logp);
	admin_reply_line(r, "\"admin_port\":%d,\"external_admin\":%s,\"uptime_s\":%lu,"
			    "\"idle_timeout_s\":%d,\"ignore_idle_timeout\":%s,",
			 admin_server_port(c->admin), k->ExternalAdmin ? "true" : "false",
			 daemon_uptime(), k->IdleTimeout, k->IgnoreIdleTimeout ? "true" : "false");
	admin_reply_line(r, "\"socket_read_timeout_s\":%d,\"socket_write_timeout_s\":%d,"
			    "\"ping_interval_s\":%d,\"ping_timeout_s\":%d,\"local_ped\":%s,",
			 k->SocketReadTimeout, k->SocketWriteTimeout, k->PingInterval,
			 k->PingTimeout, lp);
	admin_reply_line(r, "\"slots\":[");
	for (i = 0; i < c->slots.n; i++)
		admin_reply_line(r, "{\"slot\":%zu,\"serial\":\"%s\"}%s", i, c->slots.serial[i],
				 i + 1 < c->slots.n ? "," : "");
	admin_reply_line(r, "],\"mappings\":[");
	for (i = 0; i < c->ids.n; i++) {
		const struct ids_entry *e = &c->ids.e[i];
		/* host and serial are restricted to [A-Za-z0-9.:_-]: no escaping */
		admin_reply_line(r, "{\"id\":%ld,\"host\":\"%s\",\"port\":%ld,\"serial\":%s%s%s}%s",
				 e->id, e->host, e->port, e->serial[0] ? "\"" : "",
				 e->serial[0] ? e->serial : "null", e->serial[0] ? "\"" : "",
				 i + 1 < c->ids.n ? "," : "");
	}
	admin_reply_line(r, "],\"sessions\":[");
	for (i = 0, n = 0; i < c->slots.n; i++) {
		const char *where = flows_session(c->flows, (unsigned)i);
		if (where == NULL)
			continue;
		/* where is host:port, host restricted to [A-Za-z0-9.:_-] */
		admin_reply_line(r, "%s{\"slot\":%zu,\"serial\":\"%s\",\"server\":\"%s\"}",
				 n++ ? "," : "", i, c->slots.serial[i], where);
	}
	admin_reply_line(r, "]}");
}

static void cmd_show(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	show_text(ctx, r);
	admin_reply_end(r, 0);
}

static void cmd_show_json(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	show_json(ctx, r);
	admin_reply_end(r, 0);
}

/* setid / assignid / releaseid / deleteid: applied to a copy, written,
 * then adopted (ids_apply does the copy; a failed write reverts). */
static void cmd_ids(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	struct client *c = ctx;
	struct ids before = c->ids;
	char msg[IDS_ERR_MAX];
	bool changed;
	int rc;

	rc = ids_apply(&c->ids, argc, argv, &changed, msg, sizeof(msg));
	if (rc == 0 && changed && (rc = ids_save(&c->ids, c->idspath, msg, sizeof(msg))) != 0) {
		c->ids = before;
		log_error("%s", msg);
	}
	if (rc != 0) {
		admin_reply_error(r, ped_errname(rc), "%s", msg);
		return;
	}
	log_info("%s", msg);
	admin_reply_line(r, "%s", msg);
	admin_reply_end(r, 0);
}

static void test_done(void *arg, const struct probe_result *res)
{
	struct test *t = arg;

	if (res->rc == 0) {
		probe_describe(res, t->id, t->host, t->port, reply_line, t->reply);
		admin_reply_end(t->reply, 0);
	} else {
		log_info("testid %ld: %s", t->id, res->message);
		admin_reply_error(t->reply, "UNREACHABLE", "testid %ld: %s", t->id, res->message);
	}
	memset(t, 0, sizeof(*t));
}

static void cmd_testid(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	struct client *c = ctx;
	const struct ids_entry *e;
	struct test *t = NULL;
	char *end;
	long id;
	size_t i;
	int rc;

	if (argc != 2 || (id = strtol(argv[1], &end, 10), *end != '\0' || argv[1][0] == '\0')) {
		admin_reply_error(r, "BAD_REQUEST", "testid: wrong arguments");
		return;
	}
	if ((e = ids_get(&c->ids, id)) == NULL) {
		admin_reply_error(r, "NOT_FOUND", "testid %ld: id %ld is not mapped", id, id);
		return;
	}
	for (i = 0; i < MAX_TESTS && t == NULL; i++)
		if (!c->tests[i].used)
			t = &c->tests[i];
	if (t == NULL) {
		admin_reply_error(r, "BUSY", "testid: %d tests already running", MAX_TESTS);
		return;
	}
	t->used = true;
	t->c = c;
	t->reply = r;
	t->id = id;
	t->port = e->port;
	memcpy(t->host, e->host, sizeof(t->host));
	rc = probe_start(&c->loop, t->host, (int)t->port,
			 (unsigned)c->cfg->SocketReadTimeout * 1000u, c->host, test_done, t,
			 &t->probe);
	if (rc != 0) {
		memset(t, 0, sizeof(*t));
		admin_reply_error(r, ped_errname(rc), "testid %ld: %s", id, ped_strerror(rc));
	}
}

const struct tlscli_desc pedclient_tls = {"pedclient", "pedserver", INBOUND_STORE, false};

static void cmd_tls(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)ctx;
	tlscli_admin(&pedclient_tls, daemon_statedir(), r, argc, argv);
}

const struct admin_cmd pedclient_admin_cmds[] = {
	{"tls-register", cmd_tls, "tls-register <name> - 0 <fp>: admit that pedserver's links"},
	{"tls-delete", cmd_tls, "tls-delete <name>: delete a pedserver registration"},
	{"show", cmd_show, "status of pedclient"},
	{"show-json", cmd_show_json, "status of pedclient as one JSON object"},
	{"stop", prog_admin_stop, "stop pedclient"},
	{"setid", cmd_ids, "setid <id> <host> <port>: map a PED ID to a pedserver"},
	{"assignid", cmd_ids, "assignid <id> <serial>: assign a PED ID to an HSM"},
	{"releaseid", cmd_ids, "releaseid id <id> | releaseid serial <serial>"},
	{"deleteid", cmd_ids, "deleteid <id>: delete a PED ID mapping"},
	{"testid", cmd_testid, "testid <id>: probe the pedserver of a PED ID"},
	{NULL, NULL, NULL},
};

/* ---- lifecycle ---- */

/* Each part closes on its own; the loop is let go when the last is done. */
static void part_closed(void *arg)
{
	struct client *c = arg;

	if (c->closing > 0 && --c->closing == 0)
		daemon_loop_detach();
}

static void on_shutdown(void *arg)
{
	struct client *c = arg;
	size_t i;

	for (i = 0; i < MAX_TESTS; i++)
		if (c->tests[i].used && c->tests[i].probe != NULL)
			probe_cancel(c->tests[i].probe);
	c->closing = 1; /* held until every close below is started */
	if (c->inbound != NULL) {
		c->closing++;
		inbound_close(c->inbound, part_closed, c);
		c->inbound = NULL;
	}
	if (c->flows != NULL) {
		c->closing++;
		flows_shutdown(c->flows, part_closed, c);
	}
	if (c->hsmsock != NULL) {
		c->closing++;
		hsmsock_close(c->hsmsock, part_closed, c);
		c->hsmsock = NULL;
	}
	if (c->lped != NULL) {
		c->closing++;
		lped_close(c->lped, part_closed, c);
		c->lped = NULL;
	}
	if (c->admin != NULL) {
		c->closing++;
		admin_server_close(c->admin, part_closed, c);
		c->admin = NULL;
	}
	part_closed(c);
}

/* SIGHUP: timeouts and log settings change live; the admin port, the slots
 * and the local PED need a restart (said in the log). */
static const char *const restart_keys[] = {
	"AdminPort", "ExternalAdmin", "Slots", "LocalPed", "InternalShutdownTimeout", NULL,
};

static void on_reload(void *arg)
{
	struct client *c = arg;

	(void)prog_reload_apply(c->p, c->cfg, restart_keys);
}

static int open_state(struct client *c)
{
	const char *dir = daemon_statedir();
	char err[IDS_ERR_MAX];

	/* a CLI edit holds the lock for milliseconds: wait for it, bounded */
	c->idsfd = ids_lock(dir, false, 5);
	if (c->idsfd < 0) {
		daemon_fail("cannot lock %s/%s: %s", dir, IDS_LOCK_FILE,
			    c->idsfd == PED_E_EXISTS ? "held by another process"
						     : ped_strerror(c->idsfd));
		return 1;
	}
	snprintf(c->idspath, sizeof(c->idspath), "%s/%s", dir, IDS_FILE);
	if (ids_load(&c->ids, c->idspath, err, sizeof(err)) != 0) {
		daemon_fail("%s", err);
		return 1;
	}
	if (slots_open(&c->slots, dir, (unsigned)c->cfg->Slots, err, sizeof(err)) != 0) {
		daemon_fail("%s", err);
		return 1;
	}
	return 0;
}

/* The Local PED, the slots' commands and their socket. */
static int start_hsm(struct client *c)
{
	char path[PATH_MAX + 32], err[512];
	struct flows_env env;
	int rc;

	if (c->cfg->LocalPed[0] != '\0' &&
	    (rc = lped_new(&c->loop, c->cfg->LocalPed, c->host, &c->lped)) != 0) {
		daemon_fail("local PED %s: %s", c->cfg->LocalPed, ped_strerror(rc));
		return 1;
	}
	memset(&env, 0, sizeof(env));
	env.loop = &c->loop;
	env.slots = &c->slots;
	env.lped = c->lped;
	env.statedir = daemon_statedir();
	env.host = c->host;
	env.cfg = c->cfg;
	env.ids = &c->ids;
	if (c->cfg->Listen &&
	    (rc = inbound_listen(&c->loop, daemon_statedir(), c->cfg->Ip, c->cfg->Port,
				 (unsigned)c->cfg->HandshakeTimeout * 1000u, &c->inbound, err,
				 sizeof(err))) != 0) {
		daemon_fail("PED-initiated links: %s", err);
		return 1;
	}
	env.inbound = c->inbound;
	if ((rc = flows_new(&env, &c->flows)) != 0) {
		daemon_fail("%s", ped_strerror(rc));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", daemon_statedir(), HSMSOCK_FILE);
	if ((rc = hsmsock_start(&c->loop, path, flows_command, c->flows, &c->hsmsock)) != 0) {
		daemon_fail("cannot listen on %s: %s", path, ped_strerror(rc));
		return 1;
	}
	return 0;
}

int pedclient_run(prog_t *p)
{
	struct client *c = &C;
	struct daemon_hooks hooks = {on_shutdown, on_reload, c};
	size_t i;
	int st = 1, rc;

	memset(c, 0, sizeof(*c));
	c->p = p;
	c->cfg = p->vals;
	c->idsfd = -1;
	if (gethostname(c->host, sizeof(c->host) - 1) != 0 || c->host[0] == '\0')
		snprintf(c->host, sizeof(c->host), "localhost");
	for (i = 0; c->host[i] != '\0'; i++)
		if (c->host[i] < 0x21 || c->host[i] > 0x7e)
			c->host[i] = '?';
	if (open_state(c) != 0)
		goto out_fd;
	if (uv_loop_init(&c->loop) != 0) {
		daemon_fail("cannot initialise the event loop");
		goto out_fd;
	}
	if (daemon_loop_attach(&c->loop, &hooks) != 0) {
		daemon_fail("cannot watch signals");
		goto out;
	}
	if ((rc = prog_admin_start(p, &c->loop, c, &c->admin)) != 0) {
		daemon_fail("cannot listen on admin port %d: %s", c->cfg->AdminPort,
			    rc == PED_E_IO ? "port in use or not allowed" : ped_strerror(rc));
		daemon_loop_detach();
		goto out;
	}
	if (start_hsm(c) != 0) {
		on_shutdown(c);
		goto out;
	}
	daemon_status("serving: admin port %d, %u slot%s, %zu PED ID mapping%s",
		      admin_server_port(c->admin), c->slots.n, c->slots.n == 1 ? "" : "s",
		      c->ids.n, c->ids.n == 1 ? "" : "s");
	daemon_ready();
	st = 0;
out:
	uv_run(&c->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&c->loop) != 0) {
		log_error("event loop closed with handles left");
		st = 1;
	}
out_fd:
	flows_free(c->flows);
	c->flows = NULL;
	slots_close(&c->slots);
	if (c->idsfd >= 0)
		close(c->idsfd);
	return st;
}
