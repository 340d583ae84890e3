/* synfilter_test.c - the kernel filter of new connections (sys_syn_filter,
 * common/sys_posix.c) on real loopback listeners: a dropped source's
 * connect gets no SYN-ACK (it stays in SYN-SENT) while other sources
 * connect; an established connection from that source keeps working both
 * ways, even under the same filter (which accepted sockets inherit);
 * IPv6 by prefix, IPv4-mapped peers of a dual-stack listener judged as
 * IPv4, an accept rule before a drop rule, re-attaching replaces, a
 * program at its size limit still judges its last rule. Linux only (the
 * Windows build leaves it out: sys_win.c has no filter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/err.h"
#include "common/sys.h"

/* A SYN-ACK on loopback comes back within microseconds; waiting this long
 * for one that must not come is ample (the first SYN retransmit is 1 s). */
#define NO_ANSWER_MS 300
#define ANSWER_MS 2000

struct lst {
	uv_loop_t loop;
	uv_tcp_t tcp;
	int port;
	bool v6;
};

static void on_conn(uv_stream_t *s, int status)
{
	(void)s;
	(void)status;
}

static void lst_open(struct lst *l, const char *ip)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(l, 0, sizeof(*l));
	l->v6 = strchr(ip, ':') != NULL;
	assert_int_equal(uv_loop_init(&l->loop), 0);
	assert_int_equal(uv_tcp_init(&l->loop, &l->tcp), 0);
	if (l->v6)
		assert_int_equal(uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss), 0);
	else
		assert_int_equal(uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss), 0);
	assert_int_equal(uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&l->tcp, 64, on_conn), 0);
	assert_int_equal(uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len), 0);
	l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port); /* same offset in sin6 */
}

static void lst_close(struct lst *l)
{
	uv_close((uv_handle_t *)&l->tcp, NULL);
	uv_run(&l->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&l->loop), 0);
}

/* Starts a non-blocking connect from src to the listener (dst: its family's
 * loopback, or ::1 / 127.0.0.1 on a dual-stack listener as the family of
 * src says). */
static int dial(const struct lst *l, const char *src)
{
	struct sockaddr_storage a, d;
	bool v6 = strchr(src, ':') != NULL;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (v6) {
		assert_int_equal(uv_ip6_addr(src, 0, (struct sockaddr_in6 *)&a), 0);
		assert_int_equal(uv_ip6_addr("::1", l->port, (struct sockaddr_in6 *)&d), 0);
	} else {
		assert_int_equal(uv_ip4_addr(src, 0, (struct sockaddr_in *)&a), 0);
		assert_int_equal(uv_ip4_addr("127.0.0.1", l->port, (struct sockaddr_in *)&d), 0);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&a,
			      v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)),
			 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&d,
				 v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)),
			 -1);
	assert_int_equal(errno, EINPROGRESS);
	return fd;
}

/* 1: connected within ms; 0: still waiting for the SYN-ACK (SYN-SENT). */
static int connected(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	int err = -1;
	socklen_t el = sizeof(err);

	if (poll(&p, 1, ms) == 0) {
		assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
		assert_int_equal(ti.tcpi_state, TCP_SYN_SENT);
		return 0;
	}
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	assert_int_equal(err, 0);
	return 1;
}

static int accept_one(const struct lst *l)
{
	uv_os_fd_t lfd;
	struct pollfd p;
	int fd;

	assert_int_equal(uv_fileno((const uv_handle_t *)&l->tcp, &lfd), 0);
	p = (struct pollfd){.fd = lfd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, ANSWER_MS), 1);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

/* Bytes go both ways on an established pair. */
static void talk(int a, int b)
{
	char buf[8];
	struct pollfd p = {.fd = b, .events = POLLIN};

	assert_int_equal(write(a, "ping", 4), 4);
	assert_int_equal(poll(&p, 1, ANSWER_MS), 1);
	assert_int_equal(read(b, buf, sizeof(buf)), 4);
	assert_int_equal(write(b, "pong", 4), 4);
	p.fd = a;
	assert_int_equal(poll(&p, 1, ANSWER_MS), 1);
	assert_int_equal(read(a, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
}

static struct sys_syn_rule rule(const char *ip, unsigned bits, bool drop)
{
	struct sys_syn_rule r = {.bits = bits, .drop = drop};

	if (strchr(ip, ':') != NULL) {
		assert_int_equal(uv_inet_pton(AF_INET6, ip, r.addr), 0);
	} else {
		r.addr[10] = r.addr[11] = 0xff;
		assert_int_equal(uv_inet_pton(AF_INET, ip, r.addr + 12), 0);
		r.bits = 96 + bits;
	}
	return r;
}

static void test_ipv4(void **state)
{
	struct lst l;
	struct sys_syn_rule r[2];
	int est, est_srv, pen, other, srv;

	(void)state;
	lst_open(&l, "127.0.0.1");
	/* established from 127.0.0.2 before its penalty */
	est = dial(&l, "127.0.0.2");
	assert_int_equal(connected(est, ANSWER_MS), 1);
	est_srv = accept_one(&l);
	r[0] = rule("127.0.0.2", 32, true);
	r[1] = rule("127.0.0.77", 32, true);
	assert_int_equal(sys_syn_filter(&l.tcp, r, 2), 2);
	pen = dial(&l, "127.0.0.2");
	other = dial(&l, "127.0.0.3");
	assert_int_equal(connected(other, ANSWER_MS), 1);
	assert_int_equal(connected(pen, NO_ANSWER_MS), 0);
	srv = accept_one(&l);
	close(srv);
	/* the established connection works, also under the same filter (an
	 * accepted socket inherits its listener's: this one predates it) */
	talk(est, est_srv);
	{
		uv_tcp_t t;

		assert_int_equal(uv_tcp_init(&l.loop, &t), 0);
		assert_int_equal(uv_tcp_open(&t, est_srv), 0);
		assert_int_equal(sys_syn_filter(&t, r, 2), 2);
		talk(est, est_srv);
		uv_close((uv_handle_t *)&t, NULL); /* closes est_srv */
		uv_run(&l.loop, UV_RUN_NOWAIT);
	}
	close(est);
	/* a /24 drops its neighbours; re-attaching replaces; no rules: no filter */
	r[0] = rule("127.0.9.0", 24, true);
	assert_int_equal(sys_syn_filter(&l.tcp, r, 1), 1);
	other = dial(&l, "127.0.9.200");
	assert_int_equal(connected(other, NO_ANSWER_MS), 0);
	close(other);
	other = dial(&l, "127.0.0.2"); /* no longer penalised */
	assert_int_equal(connected(other, ANSWER_MS), 1);
	close(other);
	close(accept_one(&l));
	assert_int_equal(sys_syn_filter(&l.tcp, NULL, 0), 0);
	other = dial(&l, "127.0.9.200");
	assert_int_equal(connected(other, ANSWER_MS), 1);
	close(other);
	close(accept_one(&l));
	close(pen);
	lst_close(&l);
}

static void test_dual_stack(void **state)
{
	struct lst l;
	struct sys_syn_rule r[3];
	int a, b, c;

	(void)state;
	lst_open(&l, "::");
	/* ::1 is exempt (accept first), the rest of its /64 dropped, and an
	 * IPv4 peer of this dual-stack listener is judged by its IPv4 address */
	r[0] = rule("::1", 128, false);
	r[1] = rule("::", 64, true);
	r[2] = rule("127.0.0.5", 32, true);
	assert_int_equal(sys_syn_filter(&l.tcp, r, 3), 3);
	a = dial(&l, "::1");
	b = dial(&l, "127.0.0.5");
	c = dial(&l, "127.0.0.6");
	assert_int_equal(connected(a, ANSWER_MS), 1);
	assert_int_equal(connected(c, ANSWER_MS), 1);
	assert_int_equal(connected(b, NO_ANSWER_MS), 0);
	close(accept_one(&l));
	close(accept_one(&l));
	close(a);
	close(c);
	close(b);
	/* without the exempt rule ::1's /64 is dropped */
	assert_int_equal(sys_syn_filter(&l.tcp, r + 1, 1), 1);
	a = dial(&l, "::1");
	assert_int_equal(connected(a, NO_ANSWER_MS), 0);
	close(a);
	/* a /48 (two words, the second masked) */
	r[0] = rule("::", 48, true);
	assert_int_equal(sys_syn_filter(&l.tcp, r, 1), 1);
	a = dial(&l, "::1");
	assert_int_equal(connected(a, NO_ANSWER_MS), 0);
	close(a);
	lst_close(&l);
}

static void test_size_limit(void **state)
{
	static struct sys_syn_rule r[2000];
	struct lst l;
	int n, a, b;

	(void)state;
	for (unsigned i = 0; i < 2000; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "127.1.%u.%u", i / 250, i % 250 + 1);
		r[i] = rule(ip, 32, true);
	}
	lst_open(&l, "127.0.0.1");
	n = sys_syn_filter(&l.tcp, r, 2000);
	/* 3 instructions a rule, 12 around them, within the limit */
	assert_int_equal(n, (SYS_SYN_FILTER_MAX_INSNS - 12) / 3);
	a = dial(&l, "127.1.0.1");                     /* the first rule */
	b = dial(&l, "127.1.2.178");                   /* the last one, 678th */
	assert_int_equal(connected(a, NO_ANSWER_MS), 0);
	assert_int_equal(connected(b, NO_ANSWER_MS), 0);
	close(a);
	close(b);
	a = dial(&l, "127.1.2.179"); /* the first one left out */
	assert_int_equal(connected(a, ANSWER_MS), 1);
	close(a);
	close(accept_one(&l));
	lst_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_dual_stack),
		cmocka_unit_test(test_size_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
