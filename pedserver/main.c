/* main.c - pedserver: the daemon on the PED host. It owns one PED
 * (usbped/pedhost) and listens on the server port for pedclient. The
 * command-line flow (modes, config, logging) is common/prog.c; this file is
 * the daemon's table of contents: start-up in dependency order, the loop,
 * reload, and shutdown in reverse order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/err.h"
#include "common/log.h"
#include "pedserver/pedserver.h"
#include "session/tlscli.h"

static struct pedserver ps;

const struct tlscli_desc pedserver_tls = {"pedserver", "appliance", OUTBOUND_STORE, true};

static void admin_tls(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	struct pedserver *p = ctx;

	tlscli_admin(&pedserver_tls, p->prog->statedir, r, argc, argv);
}

static void admin_link(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	struct pedserver *p = ctx;

	outbound_admin(p->outbound, r, argc, argv);
}

static void admin_show(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	struct pedserver *p = ctx;

	if (argc == 2)
		outbound_show(p->outbound, r, argv[1]);
	else
		pedserver_show(ctx, r, argc, argv);
}

static const struct admin_cmd cmds[] = {
	{"show", admin_show, "status of the server, its PED and its client (NAME: that link)"},
	{"tls-register", admin_tls, "register an appliance certificate: NAME ADDR PORT FP"},
	{"tls-delete", admin_tls, "delete an appliance registration: NAME"},
	{"link-connect", admin_link, "open the PED-initiated link to appliance NAME"},
	{"link-disconnect", admin_link, "close the PED-initiated link to appliance NAME"},
	{"show-json", pedserver_show_json, "the same as one JSON object"},
	{"stop", prog_admin_stop, "stop the server"},
	{"hsm", allow_admin, "the HSM allowlist: list | add FP SERIAL [NAME] | delete "
			     "fingerprint FP | delete serial S"},
	{NULL, NULL, NULL},
};

/* ---- shutdown: everything closes asynchronously, then the loop ends ---- */

static void one_closed(void *arg)
{
	struct pedserver *p = arg;

	if (--p->closing == 0)
		daemon_loop_detach();
}

static void close_all(struct pedserver *p)
{
	p->closing = 1; /* released below */
	if (p->admin != NULL) {
		p->closing++;
		admin_server_close(p->admin, one_closed, p);
		p->admin = NULL;
	}
	if (p->outbound != NULL) {
		p->closing++;
		outbound_close(p->outbound, one_closed, p);
		p->outbound = NULL;
	}
	if (p->server != NULL) {
		p->closing++;
		server_close(p->server, one_closed, p);
		p->server = NULL;
	}
	if (p->ped != NULL) {
		p->closing++;
		pedatt_close(p->ped, one_closed, p);
		p->ped = NULL;
	}
	one_closed(p);
}

static void on_shutdown(void *arg)
{
	close_all(arg);
}

/* ---- SIGHUP: the log was reopened by daemon.c; re-read the config ---- */

/* Keys that only take effect at start (sockets and the PED are open). */
static const char *const restart_keys[] = {
	"Ip", "Port", "ExternalServer", "AdminPort", "ExternalAdmin", "Device",
	"PedWriteDelay", "InternalShutdownTimeout", NULL,
};

static void on_reload(void *arg)
{
	struct pedserver *p = arg;

	if (prog_reload_apply(p->prog, p->cfg, restart_keys) == 0)
		server_set_timeouts(p->server, p->cfg);
}

/* ---- the daemon ---- */

static void on_ped_settled(void *arg)
{
	struct pedserver *p = arg;

	if (p->server == NULL || daemon_shutting_down())
		return;
	daemon_status("serving on %s port %d, admin port %d, PED %s %s",
		      server_addresses(p->server), p->cfg->Port, admin_server_port(p->admin),
		      p->cfg->Device, pedatt_up(p->ped) ? "connected" : "not connected");
	/* stderr is still the starter's terminal (daemon.h) */
	if (!pedatt_up(p->ped))
		fprintf(stderr, "pedserver: waiting for the PED at %s\n", p->cfg->Device);
	daemon_ready();
}

static int run(prog_t *prog)
{
	struct daemon_hooks hooks = {on_shutdown, on_reload, &ps};
	char err[512], host[256];
	int st = 1, r;

	ps.prog = prog;
	ps.cfg = prog->vals;
	if (uv_loop_init(&ps.loop) != 0) {
		daemon_fail("cannot initialise the event loop");
		return 1;
	}
	if (daemon_loop_attach(&ps.loop, &hooks) != 0) {
		daemon_fail("cannot watch signals");
		goto out;
	}
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "pedserver");
	host[sizeof(host) - 1] = '\0';
	if (pedatt_open(&ps.loop, ps.cfg->Device, (unsigned)ps.cfg->PedWriteDelay, host, &ps.ped,
			err, sizeof(err)) != 0) {
		daemon_fail("%s", err);
		goto fail;
	}
	if (server_listen(&ps.loop, ps.cfg, ps.ped, &ps.server, err, sizeof(err)) != 0) {
		daemon_fail("%s", err);
		goto fail;
	}
	if (outbound_new(&ps.loop, ps.server, prog->statedir,
			 (unsigned)ps.cfg->HandshakeTimeout * 1000u, &ps.outbound) != 0) {
		daemon_fail("out of memory");
		goto fail;
	}
	if ((r = prog_admin_start(prog, &ps.loop, &ps, &ps.admin)) != 0) {
		daemon_fail("cannot listen on admin port %d: %s", ps.cfg->AdminPort,
			    r == PED_E_IO ? "address in use or not allowed" : ped_strerror(r));
		goto fail;
	}
	/* ready once the PED's first HELLO is over, so that a show right after
	 * start tells the truth (bounded by pedhost's HELLO timeout) */
	pedatt_when_settled(ps.ped, on_ped_settled, &ps);
	st = 0;
	goto out;
fail:
	close_all(&ps);
out:
	uv_run(&ps.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&ps.loop) != 0) {
		log_error("event loop closed with handles left");
		st = 1;
	}
	return st;
}

int main(int argc, char *argv[])
{
	static const struct prog_desc desc = {
		.cli = &pedserver_cli,
		.cfg = &pedserver_cfg_table,
		.version = PEDSERVER_VERSION,
		.run = run,
		.admin_cmds = cmds,
		.arg = &ps,
	};
	struct pedserver_cfg cfg;
	bool hsm = prog_argv_has(argc, argv, "hsm");
	char *args[CLI_MAX_OPTS * 2 + 4];

	/* PED-initiated mode's certificate commands have no -mode (tlscli.h) */
	if (tlscli_wants(&pedserver_tls, argc, argv))
		return tlscli_main(&pedserver_tls, argc, argv);
	/* "pedserver -hsm list", in the reference's -appliance style, is
	 * "-mode hsm -hsm list" */
	if (hsm && !prog_argv_has(argc, argv, "mode") && !prog_argv_has(argc, argv, "m") &&
	    argc > 0 && (size_t)argc + 2 < sizeof(args) / sizeof(args[0])) {
		args[0] = argv[0];
		args[1] = "-mode";
		args[2] = "hsm";
		for (int i = 1; i <= argc; i++)
			args[i + 2] = argv[i];
		return prog_main(&desc, &cfg, argc + 2, args);
	}
	return prog_main(&desc, &cfg, argc, argv);
}
