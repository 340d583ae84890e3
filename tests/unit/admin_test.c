/* admin_test.c - unit tests for common/admin: a real server on a libuv loop
 * in this process, clients (admin_call or raw sockets) in a thread. Every
 * test ends with the loop closed and no handle left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <uv.h>

#include "common/admin.h"
#include "common/err.h"
#include "common/log.h"

struct fx {
	uv_loop_t loop;
	uv_async_t async;
	uv_timer_t later;
	admin_reply_t *pending;
	admin_server_t *srv;
	struct admin_config cfg;
	char dir[64];
	int port;
	void (*client)(struct fx *);
	/* client results */
	int rc;
	struct admin_result res;
	char lines[8192];
	int nlines;
};

/* ---- commands ---- */

static void cmd_show(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)ctx;
	admin_reply_line(r, "argc %d", argc);
	for (int i = 1; i < argc; i++)
		admin_reply_line(r, "arg %s", argv[i]);
	admin_reply_line(r, "evil\nOK");
	admin_reply_end(r, 0);
}

static void later_cb(uv_timer_t *t)
{
	struct fx *f = t->data;

	admin_reply_line(f->pending, "late line");
	admin_reply_end(f->pending, 0);
	f->pending = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

static void cmd_later(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	struct fx *f = ctx;

	(void)argc;
	(void)argv;
	f->pending = r;
	uv_timer_init(&f->loop, &f->later);
	f->later.data = f;
	uv_timer_start(&f->later, later_cb, 50, 0);
}

static void cmd_missing(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	admin_reply_line(r, "looking");
	admin_reply_end(r, PED_E_NOT_FOUND);
}

static void cmd_flood(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	for (int i = 0; i < 2000; i++)
		admin_reply_line(r, "%04d %0100d", i, 0);
	admin_reply_end(r, 0);
}

static const struct admin_cmd cmds[] = {
	{"show", cmd_show, "show things"},
	{"later", cmd_later, "answer later"},
	{"missing", cmd_missing, "fail"},
	{"flood", cmd_flood, "too much"},
	{NULL, NULL, NULL},
};

/* ---- fixture ---- */

static void on_async(uv_async_t *a)
{
	struct fx *f = a->data;

	admin_server_close(f->srv, NULL, NULL);
	f->srv = NULL;
	uv_close((uv_handle_t *)a, NULL);
}

static void *client_thread(void *arg)
{
	struct fx *f = arg;

	f->client(f);
	uv_async_send(&f->async);
	return NULL;
}

static void collect(void *arg, const char *line)
{
	struct fx *f = arg;
	size_t n = strlen(f->lines);

	snprintf(f->lines + n, sizeof(f->lines) - n, "%s|", line);
	f->nlines++;
}

static void newdir(struct fx *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/admintest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
}

static void rmdir_all(struct fx *f)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
}

/* Starts the server, runs the client in a thread, closes everything. */
static void run(struct fx *f, void (*client)(struct fx *))
{
	pthread_t th;
	char p[128];
	struct stat st;

	f->client = client;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->cfg.statedir = f->dir;
	f->cfg.cmds = cmds;
	f->cfg.ctx = f;
	assert_int_equal(admin_server_start(&f->loop, &f->cfg, &f->srv), 0);
	f->port = admin_server_port(f->srv);
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_TOKEN_FILE);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 2 * ADMIN_TOKEN_BYTES + 1);
	assert_int_equal(uv_async_init(&f->loop, &f->async, on_async), 0);
	f->async.data = f;
	assert_int_equal(pthread_create(&th, NULL, client_thread, f), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	pthread_join(th, NULL);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	/* no runtime file left */
	assert_int_equal(stat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_PORT_FILE);
	assert_int_equal(stat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_SOCK_FILE);
	assert_int_equal(stat(p, &st), -1);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	newdir(f);
	f->cfg.port = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rmdir_all(f);
	free(f);
	return 0;
}

/* ---- raw client ---- */

static int connect_port(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_sock(const char *path)
{
	struct sockaddr_un a;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends req (may be NULL) and reads until EOF; returns bytes read. */
static size_t exchange(int fd, const char *req, size_t reqlen, char *out, size_t cap)
{
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (req != NULL)
		(void)send(fd, req, reqlen, MSG_NOSIGNAL);
	while (n < cap - 1 && poll(&p, 1, 3000) > 0) {
		ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	close(fd);
	return n;
}

static void read_token(struct fx *f, char *tok, size_t cap)
{
	char p[128];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_TOKEN_FILE);
	fp = fopen(p, "r");
	assert_non_null(fp);
	assert_non_null(fgets(tok, (int)cap, fp));
	fclose(fp);
	tok[strcspn(tok, "\n")] = '\0';
}

/* ---- tests ---- */

static void cl_ok(struct fx *f)
{
	const char *args[] = {"one", "two", NULL};

	f->rc = admin_call(f->dir, NULL, 0, "show", args, collect, f, 3000, &f->res);
}

static void test_ok_path(void **state)
{
	struct fx *f = *state;

	run(f, cl_ok);
	assert_int_equal(f->rc, 0);
	/* a newline in a reply line cannot fake the final OK */
	assert_string_equal(f->lines, "argc 3|arg one|arg two|evil\\nOK|");
}

static void cl_async(struct fx *f)
{
	f->rc = admin_call(f->dir, NULL, f->port, "later", NULL, collect, f, 3000, &f->res);
}

static void test_async_reply(void **state)
{
	struct fx *f = *state;

	run(f, cl_async);
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->lines, "late line|");
}

static void cl_errors(struct fx *f)
{
	f->rc = admin_call(f->dir, NULL, 0, "missing", NULL, collect, f, 3000, &f->res);
	assert_int_equal(f->rc, ADMIN_REMOTE_ERR);
	assert_string_equal(f->res.name, "NOT_FOUND");
	assert_string_equal(f->res.message, "no such item");
	assert_string_equal(f->lines, "looking|");
	f->rc = admin_call(f->dir, NULL, 0, "nosuch", NULL, NULL, NULL, 3000, &f->res);
	assert_int_equal(f->rc, ADMIN_REMOTE_ERR);
	assert_string_equal(f->res.name, "UNKNOWN_COMMAND");
	f->rc = admin_call(f->dir, NULL, 0, "flood", NULL, NULL, NULL, 3000, &f->res);
	assert_int_equal(f->rc, ADMIN_REMOTE_ERR);
	assert_string_equal(f->res.name, "TOO_LONG");
	f->lines[0] = '\0';
	f->rc = admin_call(f->dir, NULL, 0, "help", NULL, collect, f, 3000, &f->res);
	assert_int_equal(f->rc, 0);
	assert_non_null(strstr(f->lines, "later"));
	/* words with spaces are refused before anything is sent */
	{
		const char *bad[] = {"a b", NULL};
		assert_int_equal(admin_call(f->dir, NULL, 0, "show", bad, NULL, NULL, 3000, NULL),
				 PED_E_INVAL);
	}
}

static void test_error_answers(void **state)
{
	run(*state, cl_errors);
}

static void cl_auth(struct fx *f)
{
	char out[1024], req[256], tok[128], orig;
	size_t n;
	int fd;

	/* no token */
	fd = connect_port(f->port);
	assert_true(fd >= 0);
	n = exchange(fd, "show\n", 5, out, sizeof(out));
	assert_true(n > 0);
	assert_memory_equal(out, "ERR AUTH_REQUIRED ", 18);
	assert_null(strstr(out, "argc"));
	/* wrong token (right length) */
	read_token(f, tok, sizeof(tok));
	orig = tok[0];
	tok[0] = tok[0] == '0' ? '1' : '0';
	snprintf(req, sizeof(req), "AUTH %s\nshow\n", tok);
	fd = connect_port(f->port);
	n = exchange(fd, req, strlen(req), out, sizeof(out));
	assert_memory_equal(out, "ERR AUTH_REQUIRED ", 18);
	/* short token */
	fd = connect_port(f->port);
	n = exchange(fd, "AUTH 00\nshow\n", 13, out, sizeof(out));
	assert_memory_equal(out, "ERR AUTH_REQUIRED ", 18);
	/* the right token, by hand, with CRLF */
	tok[0] = orig;
	snprintf(req, sizeof(req), "AUTH %s\r\nshow\r\n", tok);
	fd = connect_port(f->port);
	n = exchange(fd, req, strlen(req), out, sizeof(out));
	assert_string_equal(out, "argc 1\nevil\\nOK\nOK\n");
	(void)n;
}

static void test_auth_refused(void **state)
{
	run(*state, cl_auth);
}

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cl_silent(struct fx *f)
{
	char out[256], tok[128], req[256];
	long long t0 = ms_now(), dt;
	size_t n;
	int fd;

	fd = connect_port(f->port);
	n = exchange(fd, NULL, 0, out, sizeof(out));
	dt = ms_now() - t0;
	assert_int_equal(n, 0); /* dropped without an answer */
	assert_true(dt >= 150 && dt < 2500);
	/* authenticated but no command: dropped too */
	read_token(f, tok, sizeof(tok));
	snprintf(req, sizeof(req), "AUTH %s\n", tok);
	fd = connect_port(f->port);
	n = exchange(fd, req, strlen(req), out, sizeof(out));
	assert_int_equal(n, 0);
}

static void test_silent_client_dropped(void **state)
{
	struct fx *f = *state;

	f->cfg.timeout_ms = 200;
	run(f, cl_silent);
}

static void cl_long(struct fx *f)
{
	char *req = malloc(ADMIN_LINE_MAX * 3), out[512], tok[128];
	size_t l;
	int fd;

	read_token(f, tok, sizeof(tok));
	l = (size_t)snprintf(req, ADMIN_LINE_MAX * 3, "AUTH %s\n", tok);
	memset(req + l, 'A', ADMIN_LINE_MAX + 100);
	l += ADMIN_LINE_MAX + 100;
	req[l++] = '\n';
	fd = connect_port(f->port);
	(void)exchange(fd, req, l, out, sizeof(out));
	assert_memory_equal(out, "ERR TOO_LONG ", 13);
	/* a long first line (before AUTH) too */
	memset(req, 'B', ADMIN_LINE_MAX + 10);
	fd = connect_port(f->port);
	(void)exchange(fd, req, ADMIN_LINE_MAX + 10, out, sizeof(out));
	assert_memory_equal(out, "ERR TOO_LONG ", 13);
	free(req);
}

static void test_long_line_rejected(void **state)
{
	run(*state, cl_long);
}

static void cl_busy(struct fx *f)
{
	char out[256];
	int hold = connect_port(f->port);

	assert_true(hold >= 0);
	/* the held connection is accepted first (one accept queue) */
	f->rc = admin_call(f->dir, NULL, 0, "show", NULL, NULL, NULL, 3000, &f->res);
	assert_int_equal(f->rc, ADMIN_REMOTE_ERR);
	assert_string_equal(f->res.name, "BUSY");
	(void)exchange(hold, NULL, 0, out, sizeof(out)); /* waits for the timeout */
}

static void test_busy(void **state)
{
	struct fx *f = *state;

	f->cfg.max_conns = 1;
	f->cfg.timeout_ms = 300;
	run(f, cl_busy);
}

static void cl_unix(struct fx *f)
{
	char out[256], p[128];
	int fd;

	/* admin_call prefers the socket when no host/port is given */
	f->rc = admin_call(f->dir, NULL, 0, "show", NULL, collect, f, 3000, &f->res);
	assert_int_equal(f->rc, 0);
	/* same uid: no token needed */
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_SOCK_FILE);
	fd = connect_sock(p);
	assert_true(fd >= 0);
	(void)exchange(fd, "show x\n", 7, out, sizeof(out));
	assert_string_equal(out, "argc 2\narg x\nevil\\nOK\nOK\n");
	/* but a wrong token is still refused */
	fd = connect_sock(p);
	(void)exchange(fd, "AUTH 00\nshow\n", 13, out, sizeof(out));
	assert_memory_equal(out, "ERR AUTH_REQUIRED ", 18);
}

static void test_unix_socket(void **state)
{
	struct fx *f = *state;
	char p[128];
	struct stat st;

	f->cfg.port = -1;
	f->cfg.unix_socket = 1;
	run(f, cl_unix);
	assert_int_equal(f->rc, 0);
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_SOCK_FILE);
	assert_int_equal(stat(p, &st), -1);
}

static void test_not_running(void **state)
{
	struct fx *f = *state;
	struct admin_result res;
	char p[128];
	FILE *fp;
	int s, port;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	/* no files at all */
	assert_int_equal(admin_call(f->dir, NULL, 0, "show", NULL, NULL, NULL, 1000, &res),
			 ADMIN_NOT_RUNNING);
	assert_non_null(strstr(res.message, "not running"));
	/* stale files: a port where nothing listens */
	s = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(s);
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_PORT_FILE);
	fp = fopen(p, "w");
	fprintf(fp, "%d\n", port);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_TOKEN_FILE);
	fp = fopen(p, "w");
	fprintf(fp, "%064d\n", 0);
	fclose(fp);
	assert_int_equal(admin_call(f->dir, NULL, 0, "show", NULL, NULL, NULL, 1000, &res),
			 ADMIN_NOT_RUNNING);
	/* an explicit port, refused, too */
	assert_int_equal(admin_call(f->dir, "127.0.0.1", port, "show", NULL, NULL, NULL, 1000,
				    &res),
			 ADMIN_NOT_RUNNING);
	/* port file missing but token present */
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_PORT_FILE);
	unlink(p);
	assert_int_equal(admin_call(f->dir, NULL, 0, "show", NULL, NULL, NULL, 1000, &res),
			 ADMIN_NOT_RUNNING);
}

static void test_port_in_use(void **state)
{
	struct fx *f = *state;
	uv_loop_t loop;
	admin_server_t *a = NULL, *b = NULL;
	struct admin_config cfg = {.statedir = f->dir, .port = 0, .cmds = cmds};
	char p[128];
	struct stat st1, st2;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(admin_server_start(&loop, &cfg, &a), 0);
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADMIN_TOKEN_FILE);
	assert_int_equal(stat(p, &st1), 0);
	cfg.port = admin_server_port(a);
	assert_int_equal(admin_server_start(&loop, &cfg, &b), PED_E_IO);
	assert_null(b);
	/* the failed start did not touch the running server's files */
	assert_int_equal(stat(p, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	admin_server_close(a, NULL, NULL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ok_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_client_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
	};
	log_set_ident("admin_test");
	log_set_mask(LOG_MASK(LOG_LVL_ERROR));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
