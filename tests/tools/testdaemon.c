/* testdaemon.c - a minimal daemon built on common/daemon, common/admin and
 * common/log, for the lifecycle scenario tests (and as an example of how
 * pedserver / pedclient use them).
 *
 *   testdaemon -statedir D -mode start|stop|show [-foreground] [-admin PORT]
 *              [-logfile F] [-maxlogfilesize KB] [-unixsock] [-fail-init]
 *              [-hang-shutdown] [-internalshutdowntimeout S]
 *              [-bgprocessstartuptimeout S] [-bgprocessshutdowntimeout S]
 *
 * Admin verbs: show (pid, uptime, dumpable flag, core limit, admin port, log
 * file) and stop. -admin 0 (the default) takes a free port. -fail-init makes
 * initialisation fail; -hang-shutdown makes shutdown never finish (the
 * internal shutdown deadline must end the process). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "common/admin.h"
#include "common/daemon.h"
#include "common/log.h"

struct td {
	const char *statedir, *mode, *logfile;
	int port, foreground, fail_init, hang_shutdown, unixsock;
	unsigned maxlog_kb, startup_s, shutdown_s, internal_s;
	uv_loop_t loop;
	admin_server_t *admin;
};

static void cmd_show(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	struct td *t = ctx;
	struct rlimit rl;

	(void)argc;
	(void)argv;
	getrlimit(RLIMIT_CORE, &rl);
	admin_reply_line(r, "pid: %ld", (long)getpid());
	admin_reply_line(r, "uptime: %lu s", daemon_uptime());
	admin_reply_line(r, "dumpable: %d", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	admin_reply_line(r, "core limit: %llu %llu", (unsigned long long)rl.rlim_cur,
			 (unsigned long long)rl.rlim_max);
	admin_reply_line(r, "admin port: %d", admin_server_port(t->admin));
	admin_reply_line(r, "log file: %s", log_file_path() ? log_file_path() : "(none)");
	admin_reply_end(r, 0);
}

static void cmd_stop(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	daemon_request_shutdown("admin stop");
	admin_reply_line(r, "stopping");
	admin_reply_end(r, 0);
}

static const struct admin_cmd cmds[] = {
	{"show", cmd_show, "status of the daemon"},
	{"stop", cmd_stop, "stop the daemon"},
	{NULL, NULL, NULL},
};

static void admin_closed(void *arg)
{
	(void)arg;
	daemon_loop_detach();
}

static void on_shutdown(void *arg)
{
	struct td *t = arg;

	if (t->hang_shutdown) {
		log_info("-hang-shutdown: not shutting down");
		return;
	}
	admin_server_close(t->admin, admin_closed, t);
	t->admin = NULL;
}

static void on_reload(void *arg)
{
	(void)arg;
	log_info("reload: nothing to re-read");
}

static int run(void *arg)
{
	struct td *t = arg;
	struct daemon_hooks hooks = {on_shutdown, on_reload, t};
	struct admin_config acfg = {
		.statedir = t->statedir, .port = t->port, .unix_socket = t->unixsock,
		.cmds = cmds, .ctx = t,
	};
	int st = 1, r;

	if (t->logfile != NULL)
		(void)log_open_file(t->logfile, (size_t)t->maxlog_kb * 1024);
	if (uv_loop_init(&t->loop) != 0) {
		daemon_fail("cannot initialise the event loop");
		return 1;
	}
	if (daemon_loop_attach(&t->loop, &hooks) != 0) {
		daemon_fail("cannot watch signals");
		goto out;
	}
	if (t->fail_init) {
		daemon_fail("initialisation failed on purpose (-fail-init)");
		daemon_loop_detach();
		goto out;
	}
	if ((r = admin_server_start(&t->loop, &acfg, &t->admin)) != 0) {
		daemon_fail("cannot start the admin channel on port %d: %s", t->port,
			    ped_strerror(r));
		daemon_loop_detach();
		goto out;
	}
	daemon_ready();
	daemon_status("serving on admin port %d", admin_server_port(t->admin));
	st = 0;
out:
	uv_run(&t->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&t->loop) != 0) {
		log_error("event loop closed with handles left");
		st = 1;
	}
	log_info("exiting with status %d", st);
	log_close_file();
	return st;
}

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

static int mode_show(struct td *t)
{
	struct admin_result res;
	int r = admin_call(t->statedir, NULL, t->port, "show", NULL, print_line, NULL, 0, &res);

	if (r == ADMIN_NOT_RUNNING) {
		printf("not running\n");
		return DAEMON_EXIT_NOT_RUNNING;
	}
	if (r != 0) {
		fprintf(stderr, "testdaemon: error: %s%s%s\n", res.name, res.name[0] ? " " : "",
			res.message);
		return 1;
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: testdaemon -statedir D -mode start|stop|show [-foreground] "
			"[-admin PORT] [-logfile F] [-maxlogfilesize KB] [-unixsock] "
			"[-fail-init] [-hang-shutdown] [-internalshutdowntimeout S] "
			"[-bgprocessstartuptimeout S] [-bgprocessshutdowntimeout S]\n");
	return 2;
}

static int parse(struct td *t, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(o, "-foreground") == 0)
			t->foreground = 1;
		else if (strcmp(o, "-fail-init") == 0)
			t->fail_init = 1;
		else if (strcmp(o, "-hang-shutdown") == 0)
			t->hang_shutdown = 1;
		else if (strcmp(o, "-unixsock") == 0)
			t->unixsock = 1;
		else if (v == NULL)
			return -1;
		else if (strcmp(o, "-statedir") == 0)
			t->statedir = v, i++;
		else if (strcmp(o, "-mode") == 0 || strcmp(o, "-m") == 0)
			t->mode = v, i++;
		else if (strcmp(o, "-logfile") == 0 || strcmp(o, "-logfilename") == 0)
			t->logfile = v, i++;
		else if (strcmp(o, "-admin") == 0)
			t->port = atoi(v), i++;
		else if (strcmp(o, "-maxlogfilesize") == 0)
			t->maxlog_kb = (unsigned)atoi(v), i++;
		else if (strcmp(o, "-bgprocessstartuptimeout") == 0)
			t->startup_s = (unsigned)atoi(v), i++;
		else if (strcmp(o, "-bgprocessshutdowntimeout") == 0)
			t->shutdown_s = (unsigned)atoi(v), i++;
		else if (strcmp(o, "-internalshutdowntimeout") == 0)
			t->internal_s = (unsigned)atoi(v), i++;
		else
			return -1;
	}
	return t->statedir != NULL && t->mode != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct td t = {0};
	struct daemon_opts o = {0};

	if (parse(&t, argc, argv) != 0)
		return usage();
	log_set_ident("testdaemon");
	if (strcmp(t.mode, "show") == 0)
		return mode_show(&t);
	if (strcmp(t.mode, "stop") == 0)
		return daemon_stop(t.statedir, "testdaemon", t.shutdown_s);
	if (strcmp(t.mode, "start") != 0)
		return usage();
	o.prog = "testdaemon";
	o.statedir = t.statedir;
	o.foreground = t.foreground;
	o.startup_timeout_s = t.startup_s;
	o.internal_timeout_s = t.internal_s;
	o.run = run;
	o.arg = &t;
	return daemon_start(&o);
}
