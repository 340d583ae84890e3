/* bench_session.c - `make bench`, part 3: the session protocol over loopback
 * TCP, each figure beside its comparison measured in the same run.
 *
 * 1. Handshake latency: socket + TCP connect, HELLO, HELLO_ACK + KEX_SHARE,
 *    KEX_INIT, KEX_REPLY, KEX_CONFIRM, until both ends are open (the client
 *    derives while the server does, after sending KEX_INIT). The client stops the
 *    clock when the server's first record arrives (the PED_STATE that
 *    pedserver sends when the session opens), which proves the server open.
 *    Client: session/session.c with the software HSM of pedclient/hsm.h, as
 *    pedclient does it. Server: session/session.c on a second thread with
 *    blocking sockets, the "emulator answering instantly": at KEX_INIT it has
 *    the orange key's secret RPV || d_PED at once, rebuilds the PED key from
 *    d_PED and calls sess_server_keys, as pedserver does when its PED answers.
 *    Against
 *    (a) the two-sided crypto floor: the same computation of both parties
 *        back to back in memory, no sockets (U: ephemeral keygen, validation
 *        of V's ephemeral, kas_derive, tag check; V: validation of U's two
 *        keys, PED key from d_PED, ephemeral keygen, kas_derive, tag check),
 *        on the path (what the daemons make ahead left out: both
 *        ephemerals, the HSM's Zs) and cold (all of it);
 *    (b) a full TLS 1.3 handshake over loopback with OpenSSL's libssl:
 *        P-521 ECDHE only, an ECDSA P-521 self-signed certificate that the
 *        client verifies, no tickets, no resumption; the clock stops when
 *        the server's first application byte arrives (same rule as ours).
 *    (c) the session cold: the HSM reopened before each connect and a server
 *        that makes its ephemeral at the HELLO, so nothing is made ahead.
 *    The five alternate (rotating order) round by round; medians of HS_N
 *    each after HS_WARM warm-up rounds. Targets: <= 2x floor, <= 0.5x TLS.
 * 2. Ping round trip on an open session: a PING record and its PONG (84-byte
 *    frames each way, checked) against a raw TCP ping-pong of 84 bytes with
 *    an echo thread on another loopback connection; alternating, medians of
 *    PING_N each after PING_WARM warm-up rounds. Target: <= raw + 25 us.
 * Every socket has TCP_NODELAY. The servers are threads of this process.
 * Placement: with two or more CPUs, the client (this thread, also the floor)
 * is pinned to one CPU and every server thread to another, so that each
 * comparison crosses the same path. Unpinned, the scheduler tends to run the
 * idle echo thread on the client's CPU (a cheap same-CPU handoff) and the
 * session server, busy from the handshakes, on the other (a cross-CPU wakeup,
 * tens of microseconds on a VM): that would measure placement, not code. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "session/pake.h"
#include "session/session.h"
#include "session/wire.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/shamir.h"
#include "pedclient/hsm.h"
#include "tests/bench/bench.h"

#ifndef HS_N /* counts: -DHS_N=... -DPING_N=... for a quick try */
#define HS_N 200
#endif
#ifndef PING_N
#define PING_N 5000
#endif
#define HS_WARM 10
#define PING_WARM 500
/* A PING or PONG on the wire: frame header, record header, message type,
 * u64 nonce, record tag. */
#define PING_FRAME_LEN (WIRE_HDR_LEN + CHAN_HDR_LEN + 1 + 8 + CHAN_TAG_LEN)

/* ---- sockets -------------------------------------------------------------- */

static void nodelay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		bench_die("TCP_NODELAY", PED_E_IO);
}

static int dial(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		bench_die("socket", PED_E_IO);
	nodelay(fd);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		bench_die("connect", PED_E_IO);
	return fd;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			bench_die("send", PED_E_IO);
		p += w;
		n -= (size_t)w;
	}
}

static void recv_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t got = recv(fd, p, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			bench_die("recv", PED_E_IO);
		p += got;
		n -= (size_t)got;
	}
}

/* Reads and drops until the peer closes (teardown, outside the clock). */
static void drain_eof(int fd)
{
	uint8_t buf[512];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 || (n < 0 && errno == EINTR))
		;
}

/* Writes out everything the session queued. */
static void sess_flush(int fd, sess_t *s)
{
	const uint8_t *p;
	size_t n;

	for (;;) {
		sess_output(s, &p, &n);
		if (n == 0)
			return;
		send_all(fd, p, n);
		sess_output_done(s, n);
	}
}

/* ---- servers: one thread each, one connection at a time ------------------- */

/* CPUs for the client and the servers (-1: not pinned, a single CPU). */
static int client_cpu = -1, server_cpu = -1;

static void pick_cpus(cpu_set_t *orig)
{
	int first = -1;

	if (sched_getaffinity(0, sizeof(*orig), orig) != 0)
		return;
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, orig))
			continue;
		if (first < 0) {
			first = i;
		} else {
			cpu_set_t one;
			client_cpu = first;
			server_cpu = i;
			CPU_ZERO(&one);
			CPU_SET(client_cpu, &one);
			if (sched_setaffinity(0, sizeof(one), &one) != 0)
				client_cpu = server_cpu = -1;
			return;
		}
	}
}

struct server {
	int lfd;
	uint16_t port;
	pthread_t th;
	void (*serve)(struct server *sv, int fd);
	const uint8_t *rpk;    /* session: the orange key's secret, RPV || d_PED */
	int ahead;             /* session: ephemerals made ahead, as pedserver */
	ecp_key_t *next_ephem; /* the one made ahead */
	SSL_CTX *tls;          /* TLS: the server context */
	char pw[PAKE_PW_DIGITS + 1]; /* password mode: what the key holder types */
	ecp_key_t *host;       /* session: pedserver's host key (key proofs) */
	uint8_t host_pub[ECP_PUB_LEN];
	uint8_t kp[SESS_PROOF_KEY_LEN];
	int kp_cached;
};

static void *server_main(void *arg)
{
	struct server *sv = arg;
	int fd;

	/* shutdown() of the listener in server_stop ends accept */
	while ((fd = accept(sv->lfd, NULL, NULL)) >= 0) {
		nodelay(fd);
		sv->serve(sv, fd);
		close(fd);
	}
	return NULL;
}

static void server_start(struct server *sv, void (*serve)(struct server *, int))
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	pthread_attr_t attr;
	cpu_set_t one;

	sv->serve = serve;
	if ((sv->lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		bench_die("socket", PED_E_IO);
	nodelay(sv->lfd);
	if (bind(sv->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(sv->lfd, 16) != 0 ||
	    getsockname(sv->lfd, (struct sockaddr *)&a, &alen) != 0)
		bench_die("listen", PED_E_IO);
	sv->port = ntohs(a.sin_port);
	if (pthread_attr_init(&attr) != 0)
		bench_die("pthread_attr_init", PED_E_INTERNAL);
	if (server_cpu >= 0) {
		CPU_ZERO(&one);
		CPU_SET(server_cpu, &one);
		if (pthread_attr_setaffinity_np(&attr, sizeof(one), &one) != 0)
			bench_die("pthread_attr_setaffinity_np", PED_E_INTERNAL);
	}
	if (pthread_create(&sv->th, &attr, server_main, sv) != 0)
		bench_die("pthread_create", PED_E_INTERNAL);
	pthread_attr_destroy(&attr);
}

static void server_stop(struct server *sv)
{
	shutdown(sv->lfd, SHUT_RDWR);
	pthread_join(sv->th, NULL);
	close(sv->lfd);
}

/* The PED side, as pedserver with an instant emulator. */
static void server_event(struct server *sv, sess_t *s, const struct sess_event *ev)
{
	static const uint8_t ped_state[] = {1, 3, 'e', 'm', 'u'}; /* attached, "emu" */
	struct wire_hello_ack ack;
	ecp_key_t *ped = NULL;
	int r = 0;

	switch (ev->type) {
	case SESS_EV_HELLO:
		memset(&ack, 0, sizeof(ack));
		snprintf(ack.server_name, sizeof(ack.server_name), "bench");
		snprintf(ack.software, sizeof(ack.software), "bench_session");
		ack.ped_attached = 1;
		snprintf(ack.ped_firmware, sizeof(ack.ped_firmware), "emu");
		r = sess_server_accept(s, &ack, sv->next_ephem, sv->host_pub);
		sv->next_ephem = NULL; /* taken */
		break;
	case SESS_EV_KEX_INIT:
		/* the key proof, with Kp cached per HSM as pedserver does */
		if (!sv->kp_cached || !sv->ahead) { /* cold: no cached Kp */
			ecp_key_t *qs = NULL;

			if ((r = ecp_import_public(ev->peer_static, ECP_PUB_LEN, &qs)) == 0)
				r = sess_proof_key(sv->host, qs, ev->peer_static, sv->host_pub, sv->kp);
			ecp_free(qs);
			sv->kp_cached = r == 0;
		}
		if (r == 0)
			r = sess_server_check_proof(s, sv->kp);
		/* READ_RPK answered at once; pedserver's rpk_result from here */
		if (r == 0 && (r = ecp_from_private(sv->rpk + HSM_RPV_LEN, ECP_PRIV_LEN, &ped)) == 0)
			r = sess_server_keys(s, sv->rpk, HSM_RPV_LEN, ped);
		ecp_free(ped);
		break;
	case SESS_EV_PAKE_A:
		/* the OTP answered at once with the password; pedserver's otp_result */
		r = sess_server_password(s, sv->pw, strlen(sv->pw));
		break;
	case SESS_EV_OPEN:
		r = sess_send(s, SESS_MSG_PED_STATE, ped_state, sizeof(ped_state));
		break;
	default:
		break; /* PINGs are answered inside the session; CLOSED ends it */
	}
	if (r != 0)
		bench_die("session server", r);
}

static void serve_session(struct server *sv, int fd)
{
	struct sess_event ev;
	uint8_t buf[4096];
	sess_t *s;
	ssize_t n;
	int r;

	if ((r = sess_server_new(&s)) != 0)
		bench_die("sess_server_new", r);
	for (;;) {
		while (sess_next(s, &ev) == 0 && ev.type != SESS_EV_NONE)
			server_event(sv, s, &ev);
		sess_flush(fd, s);
		/* as pedserver: the next ephemeral once the KEX_SHARE is out */
		if (sv->ahead && sv->next_ephem == NULL && (r = ecp_generate(&sv->next_ephem)) != 0)
			bench_die("server ephemeral", r);
		if (sess_state(s) == SESS_ST_CLOSED)
			break;
		if ((n = recv(fd, buf, sizeof(buf), 0)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((r = sess_feed(s, buf, (size_t)n)) != 0)
			bench_die("server sess_feed", r);
	}
	sess_free(s);
}

static void tls_die(const char *what)
{
	ERR_print_errors_fp(stderr);
	bench_die(what, PED_E_CRYPTO);
}

static void serve_tls(struct server *sv, int fd)
{
	SSL *ssl = SSL_new(sv->tls);
	char b;

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1 ||
	    SSL_write(ssl, "k", 1) != 1)
		tls_die("TLS server");
	while (SSL_read(ssl, &b, 1) > 0) /* until close_notify or EOF */
		;
	SSL_free(ssl);
}

static void serve_echo(struct server *sv, int fd)
{
	uint8_t buf[PING_FRAME_LEN];
	ssize_t n;

	(void)sv;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			send_all(fd, buf, (size_t)n);
}

/* ---- the client: session/session.c with the software HSM ------------------- */

struct client {
	int fd;
	sess_t *s;
	hsm_t *hsm;
	const char *hsm_path;
	char serial[32];
	int ready;      /* the server's PED_STATE arrived: both sides open */
	uint64_t nonce; /* the ping in flight */
	int ponged;
	hsm_t *pw_hsm;  /* password mode: an HSM without RPV */
	char pw_serial[32];
	char pw[PAKE_PW_DIGITS + 1];
	int pw_mode;
};

static void client_event(struct client *c, const struct sess_event *ev)
{
	uint8_t qs[ECP_PUB_LEN], qe[ECP_PUB_LEN], proof[SESS_PROOF_LEN];
	struct hsm_chan_params p;
	kas_keys_t k;
	int r = 0;

	switch (ev->type) {
	case SESS_EV_HELLO_ACK:
		if (c->pw_mode) {
			uint8_t pa[ECP_PUB_LEN];

			if ((r = hsm_pake_begin(c->pw_hsm, c->pw, strlen(c->pw), pa)) == 0 &&
			    (r = hsm_static_public(c->pw_hsm, qs)) == 0 &&
			    (r = sess_client_pake(c->s, qs, pa)) == 0)
				sess_flush(c->fd, c->s);
			break;
		}
		if (ev->ack.busy)
			r = PED_E_SERVER_BUSY;
		else if ((r = hsm_static_public(c->hsm, qs)) == 0 &&
			 (r = hsm_chan_ephemeral(c->hsm, qe)) == 0 &&
			 (r = hsm_key_proof(c->hsm, ev->peer_static, ev->context, qe, proof)) == 0 &&
			 (r = sess_client_kex_init(c->s, qs, qe, proof)) == 0)
			sess_flush(c->fd, c->s); /* as pedclient: KEX_INIT out, then derive */
		break;
	case SESS_EV_DERIVE:
		if (c->pw_mode) {
			if ((r = hsm_pake_finish(c->pw_hsm, sess_server_name(c->s), ev->peer_ephem,
						 ev->context, SESS_TRANSCRIPT_LEN, &k)) == 0)
				r = sess_client_keys(c->s, &k);
			kas_keys_wipe(&k);
			break;
		}
		/* peer_static NULL: the PED key stored at RPV initialization */
		p = (struct hsm_chan_params){.scheme = KAS_FULL_UNIFIED,
					     .peer_ephem = ev->peer_ephem, .use_rpv = 1,
					     .context = ev->context,
					     .context_len = SESS_TRANSCRIPT_LEN};
		if ((r = hsm_channel_keys(c->hsm, &p, &k, NULL)) == 0)
			r = sess_client_keys(c->s, &k);
		kas_keys_wipe(&k);
		break;
	case SESS_EV_MESSAGE:
		if (ev->msg_type == SESS_MSG_PED_STATE)
			c->ready = 1;
		break;
	case SESS_EV_PONG:
		c->ponged = ev->nonce == c->nonce;
		break;
	case SESS_EV_CLOSED:
		r = ev->code != 0 ? ev->code : PED_E_DISCONNECTED;
		break;
	default:
		break;
	}
	if (r != 0)
		bench_die("session client", r);
}

/* Runs the client's session (events, output, reads) until *flag is set. */
static void client_wait(struct client *c, const int *flag)
{
	struct sess_event ev;
	uint8_t buf[4096];
	ssize_t n;
	int r;

	for (;;) {
		while (sess_next(c->s, &ev) == 0 && ev.type != SESS_EV_NONE)
			client_event(c, &ev);
		sess_flush(c->fd, c->s);
		if (*flag)
			return;
		if ((n = recv(c->fd, buf, sizeof(buf), 0)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("client recv", PED_E_DISCONNECTED);
		if ((r = sess_feed(c->s, buf, (size_t)n)) != 0)
			bench_die("client sess_feed", r);
	}
}

/* Connect and handshake until both sides are open. */
static void client_open(struct client *c, uint16_t port)
{
	int r;

	c->fd = dial(port);
	r = c->pw_mode ? sess_client_new_password("bench", c->pw_serial, &c->s)
		       : sess_client_new("bench", c->serial, &c->s);
	if (r != 0)
		bench_die("sess_client_new", r);
	c->ready = 0;
	client_wait(c, &c->ready);
}

/* Clean DISCONNECT; waits for the server to close (outside the clock). */
static void client_close(struct client *c)
{
	sess_disconnect(c->s, 0, "bench done");
	sess_flush(c->fd, c->s);
	drain_eof(c->fd);
	close(c->fd);
	sess_free(c->s);
	c->s = NULL;
}

/* ---- 1. handshake ----------------------------------------------------------- */

struct floor_fx {
	ecp_key_t *u_static;          /* U's static key (the HSM keeps its own) */
	uint8_t qs_u[ECP_PUB_LEN];
	const uint8_t *rpk;           /* RPV || d_PED */
	ecp_key_t *ped_pub;           /* V's static key as the HSM stores it */
	uint8_t zs[ECP_Z_LEN];        /* CDH(d_HSM, Q_PED), as the HSM caches it */
	uint8_t context[SESS_TRANSCRIPT_LEN];
	ecp_key_t *host, *u_pub;              /* pedserver's host key; U's public key */
	uint8_t qh_v[ECP_PUB_LEN];
	uint8_t kp[SESS_PROOF_KEY_LEN];       /* the key proof's Kp, as cached */
};

/* Both parties' handshake computation back to back, in memory. ahead: what
 * the daemons make before a handshake (both ephemerals, the HSM's Zs) is
 * made before the clock starts, so that this is the computation on the
 * handshake's path; otherwise all of it is timed. */
static double floor_once(const struct floor_fx *fx, int ahead)
{
	ecp_key_t *ue = NULL, *ped = NULL, *ve = NULL, *v_qs = NULL, *v_qe = NULL;
	ecp_key_t *u_qs = NULL, *u_qe = NULL;
	uint8_t qe_u[ECP_PUB_LEN], qs_v[ECP_PUB_LEN], qe_v[ECP_PUB_LEN];
	kas_keys_t ku, kv;
	struct kas_params p;
	double t0;
	int r;

	if (ahead && ((r = ecp_generate(&ue)) != 0 || (r = ecp_generate(&ve)) != 0))
		bench_die("floor ephemerals", r);
	t0 = bench_now();
	/* U: ephemeral key and key proof for KEX_INIT (Kp made ahead, or cold:
	 * the CDH with the server's host key now) */
	if ((ue == NULL && (r = ecp_generate(&ue)) != 0) || (r = ecp_export_public(ue, qe_u)) != 0)
		bench_die("floor U keygen", r);
	{
		uint8_t kp[SESS_PROOF_KEY_LEN], proof[SESS_PROOF_LEN], want[SESS_PROOF_LEN];

		memcpy(kp, fx->kp, sizeof(kp));
		if (!ahead && (r = sess_proof_key(fx->u_static, fx->host, fx->qs_u, fx->qh_v, kp)) != 0)
			bench_die("floor U Kp", r);
		if ((r = sess_proof(kp, fx->context, qe_u, proof)) != 0)
			bench_die("floor U proof", r);
		/* V: the same Kp (cached, or its CDH now), then the check */
		if (!ahead && (r = sess_proof_key(fx->host, fx->u_pub, fx->qs_u, fx->qh_v, kp)) != 0)
			bench_die("floor V Kp", r);
		if ((r = sess_proof(kp, fx->context, qe_u, want)) != 0 ||
		    CRYPTO_memcmp(want, proof, sizeof(want)) != 0)
			bench_die("floor V proof", r != 0 ? r : PED_E_KEY_PROOF);
	}
	/* V: validate U's keys, PED key from d_PED, ephemeral, derive */
	if ((r = ecp_import_public(fx->qs_u, ECP_PUB_LEN, &v_qs)) != 0 ||
	    (r = ecp_import_public(qe_u, ECP_PUB_LEN, &v_qe)) != 0 ||
	    (r = ecp_from_private(fx->rpk + HSM_RPV_LEN, ECP_PRIV_LEN, &ped)) != 0 ||
	    (ve == NULL && (r = ecp_generate(&ve)) != 0) ||
	    (r = ecp_export_public(ped, qs_v)) != 0 || (r = ecp_export_public(ve, qe_v)) != 0)
		bench_die("floor V keys", r);
	p = (struct kas_params){.scheme = KAS_FULL_UNIFIED, .role = KAS_V, .own_static = ped,
				.own_ephem = ve, .peer_static = v_qs, .peer_ephem = v_qe,
				.secret = fx->rpk, .secret_len = HSM_RPV_LEN,
				.context = fx->context, .context_len = SESS_TRANSCRIPT_LEN};
	if ((r = kas_derive(&p, &kv)) != 0)
		bench_die("floor V kas_derive", r);
	/* U: validate V's ephemeral (and its static key, unless stored with
	 * Zs), derive, check MacTag_V; V checks MacTag_U */
	if ((!ahead && (r = ecp_import_public(qs_v, ECP_PUB_LEN, &u_qs)) != 0) ||
	    (r = ecp_import_public(qe_v, ECP_PUB_LEN, &u_qe)) != 0)
		bench_die("floor U import", r);
	p = (struct kas_params){.scheme = KAS_FULL_UNIFIED, .role = KAS_U,
				.own_static = fx->u_static, .own_ephem = ue,
				.peer_static = ahead ? fx->ped_pub : u_qs, .peer_ephem = u_qe,
				.secret = fx->rpk, .secret_len = HSM_RPV_LEN,
				.context = fx->context, .context_len = SESS_TRANSCRIPT_LEN,
				.zs = ahead ? fx->zs : NULL};
	if ((r = kas_derive(&p, &ku)) != 0 || (r = kas_check_tag(&ku, kv.own_tag)) != 0 ||
	    (r = kas_check_tag(&kv, ku.own_tag)) != 0)
		bench_die("floor U kas_derive", r);
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	ecp_free(ue);
	ecp_free(ped);
	ecp_free(ve);
	ecp_free(v_qs);
	ecp_free(v_qe);
	ecp_free(u_qs);
	ecp_free(u_qe);
	return bench_now() - t0;
}

/* One connect until both sides are open. Made ahead (c->hsm prepared, the
 * server's ephemeral ready) as the daemons do it; or cold: the HSM reopened
 * (no ephemeral, no Zs cached) and a server that makes its ephemeral at
 * KEX_INIT, as on a first connect with nothing prepared. */
static double session_once(struct client *c, uint16_t port, int ahead)
{
	double t0, t;
	int r;

	if (!ahead) {
		hsm_close(c->hsm);
		if ((r = hsm_open(c->hsm_path, 0, &c->hsm)) != 0)
			bench_die("reopen the software HSM", r);
	}
	t0 = bench_now();
	client_open(c, port);
	t = bench_now() - t0;
	client_close(c);
	/* as pedclient when a session ends: the next one's ephemeral and Zs */
	if (ahead && (r = hsm_chan_prepare(c->hsm)) != 0)
		bench_die("hsm_chan_prepare", r);
	return t;
}

/* One connect in one-time password mode (Part 4): SPAKE2 on both sides, a
 * new password each time (the HSM burns every password it was given). */
static double password_once(struct client *c, struct server *sv)
{
	static unsigned n;
	double t0, t;

	snprintf(c->pw, sizeof(c->pw), "%08u", 10000000u + n++);
	memcpy(sv->pw, c->pw, sizeof(sv->pw));
	c->pw_mode = 1;
	t0 = bench_now();
	client_open(c, sv->port);
	t = bench_now() - t0;
	client_close(c);
	c->pw_mode = 0;
	return t;
}

static double tls_once(SSL_CTX *ctx, uint16_t port)
{
	double t0 = bench_now(), t;
	int fd = dial(port);
	SSL *ssl = SSL_new(ctx);
	char b;

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1 ||
	    SSL_read(ssl, &b, 1) != 1)
		tls_die("TLS client");
	t = bench_now() - t0;
	/* what was measured: TLS 1.3, full handshake, P-521, verified chain */
	if (SSL_version(ssl) != TLS1_3_VERSION || SSL_session_reused(ssl) ||
	    SSL_get_negotiated_group(ssl) != NID_secp521r1 ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		tls_die("TLS parameters");
	SSL_shutdown(ssl);
	drain_eof(fd);
	SSL_free(ssl);
	close(fd);
	return t;
}

static void tls_common(SSL_CTX *ctx)
{
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "P-521") != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 0) != 1)
		tls_die("SSL_CTX");
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
}

/* A self-signed ECDSA P-521 certificate in memory; the server presents it,
 * the client trusts exactly it and verifies the peer. */
static void tls_setup(SSL_CTX **sctx, SSL_CTX **cctx)
{
	EVP_PKEY *key = EVP_EC_gen("P-521");
	X509 *x = X509_new();
	X509_NAME *name = NULL;

	if (key == NULL || x == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    (name = X509_get_subject_name(x)) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)"localhost", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, EVP_sha512()) <= 0)
		tls_die("certificate");
	*sctx = SSL_CTX_new(TLS_server_method());
	*cctx = SSL_CTX_new(TLS_client_method());
	tls_common(*sctx);
	tls_common(*cctx);
	if (SSL_CTX_use_certificate(*sctx, x) != 1 || SSL_CTX_use_PrivateKey(*sctx, key) != 1 ||
	    SSL_CTX_check_private_key(*sctx) != 1 ||
	    X509_STORE_add_cert(SSL_CTX_get_cert_store(*cctx), x) != 1)
		tls_die("TLS keys");
	SSL_CTX_set_verify(*cctx, SSL_VERIFY_PEER, NULL);
	X509_free(x);
	EVP_PKEY_free(key);
}

static const char *verdict(int ok)
{
	return ok ? "met" : "NOT MET";
}

/* The five figures of the handshake, rotating who goes first each round. */
enum { HS_SESS, HS_FLOOR, HS_TLS, HS_SESS_COLD, HS_FLOOR_COLD, HS_PW, HS_KINDS };

static void bench_handshake_tcp(struct client *c, uint16_t port, uint16_t cold_port,
				uint16_t tls_port, SSL_CTX *cctx, const struct floor_fx *fx,
				struct server *pw_srv)
{
	static double v[HS_KINDS][HS_N];
	double m[HS_KINDS], t = 0;

	for (int i = 0; i < HS_WARM + HS_N; i++) {
		for (int k = 0; k < HS_KINDS; k++) {
			int which = (i + k) % HS_KINDS;
			switch (which) {
			case HS_SESS: t = session_once(c, port, 1); break;
			case HS_FLOOR: t = floor_once(fx, 1); break;
			case HS_TLS: t = tls_once(cctx, tls_port); break;
			case HS_SESS_COLD: t = session_once(c, cold_port, 0); break;
			case HS_PW: t = password_once(c, pw_srv); break;
			default: t = floor_once(fx, 0); break;
			}
			if (i >= HS_WARM)
				v[which][i - HS_WARM] = t * 1e6;
		}
	}
	for (int k = 0; k < HS_KINDS; k++)
		m[k] = bench_median(v[k], HS_N);
	printf("session handshake over loopback TCP, connect to both sides open (median of %d, "
	       "interleaved)\n", HS_N);
	printf("  session  %8.1f us   (session.c + software HSM <-> session.c server thread, "
	       "PED answering instantly;\n"
	       "                        ephemerals and the HSM's Zs made ahead, as the daemons "
	       "do)\n", m[HS_SESS]);
	printf("  floor    %8.1f us   (both sides' computation on the handshake's path, back to "
	       "back, in memory)\n", m[HS_FLOOR]);
	printf("  TLS 1.3  %8.1f us   (OpenSSL libssl, P-521 ECDHE, ECDSA P-521 cert verified, "
	       "full handshake)\n", m[HS_TLS]);
	printf("  session / floor  %6.3fx   target <= 2x    %s\n", m[HS_SESS] / m[HS_FLOOR],
	       verdict(m[HS_SESS] <= 2 * m[HS_FLOOR]));
	printf("  session / TLS    %6.3fx   target <= 0.5x  %s\n", m[HS_SESS] / m[HS_TLS],
	       verdict(m[HS_SESS] <= 0.5 * m[HS_TLS]));
	printf("  (floor / TLS     %6.3fx   the crypto on the path alone, no I/O)\n",
	       m[HS_FLOOR] / m[HS_TLS]);
	printf("  cold: nothing made ahead (every keygen and CDH on the path)\n");
	printf("  session  %8.1f us   %6.3fx TLS\n", m[HS_SESS_COLD], m[HS_SESS_COLD] / m[HS_TLS]);
	printf("  floor    %8.1f us   %6.3fx TLS\n", m[HS_FLOOR_COLD],
	       m[HS_FLOOR_COLD] / m[HS_TLS]);
	printf("  password mode (PROTOCOL.md Part 4, SPAKE2 P-521, the PED answering instantly)\n");
	printf("  session  %8.1f us   %6.3fx the normal session, %6.3fx TLS\n\n", m[HS_PW],
	       m[HS_PW] / m[HS_SESS], m[HS_PW] / m[HS_TLS]);
}

/* ---- 2. ping ------------------------------------------------------------------ */

static double channel_ping(struct client *c, uint64_t nonce)
{
	double t0 = bench_now();
	const uint8_t *p;
	size_t n;
	int r;

	c->nonce = nonce;
	c->ponged = 0;
	if ((r = sess_ping(c->s, nonce)) != 0)
		bench_die("sess_ping", r);
	sess_output(c->s, &p, &n);
	if (n != PING_FRAME_LEN)
		bench_die("ping frame size", PED_E_INTERNAL);
	client_wait(c, &c->ponged);
	return bench_now() - t0;
}

static double raw_ping(int fd, uint8_t *buf)
{
	double t0 = bench_now();

	send_all(fd, buf, PING_FRAME_LEN);
	recv_all(fd, buf, PING_FRAME_LEN);
	return bench_now() - t0;
}

static void bench_ping(struct client *c, uint16_t sess_port, uint16_t echo_port)
{
	static double ch[PING_N], raw[PING_N];
	double *out[2] = {ch, raw};
	uint8_t buf[PING_FRAME_LEN];
	int rfd;

	memset(buf, 0x5a, sizeof(buf));
	client_open(c, sess_port);
	rfd = dial(echo_port);
	for (int i = 0; i < PING_WARM + PING_N; i++) {
		for (int k = 0; k < 2; k++) {
			int which = (i + k) & 1; /* alternate who goes first */
			double t = which == 0 ? channel_ping(c, (uint64_t)i + 1) : raw_ping(rfd, buf);
			if (i >= PING_WARM)
				out[which][i - PING_WARM] = t * 1e6;
		}
	}
	client_close(c);
	close(rfd);
	double m = bench_median(ch, PING_N), w = bench_median(raw, PING_N);
	printf("ping round trip over loopback TCP, %d-byte frames each way (median of %d, "
	       "alternating)\n", PING_FRAME_LEN, PING_N);
	printf("  channel  %8.1f us   (PING record -> PONG record, session.c both ends)\n", m);
	printf("  raw TCP  %8.1f us   (%d-byte ping-pong with an echo thread)\n", w,
	       PING_FRAME_LEN);
	printf("  channel - raw  %+6.1f us   target <= +25 us  %s\n", m - w, verdict(m - w <= 25));
}

/* ---- setup ------------------------------------------------------------------- */

/* A fresh software HSM with an RPV of one orange key; *rpk gets that key's
 * secret RPV || d_PED, which the instant emulator hands to the server. */
static hsm_t *make_hsm(const char *path, uint8_t rpk[HSM_RPK_SECRET_LEN])
{
	shamir_share_t sh[1];
	uint32_t token;
	hsm_t *h;
	int r;

	if ((r = hsm_open(path, 1, &h)) != 0 || (r = hsm_rpv_init_begin(h, 1, 1, sh, &token)) != 0 ||
	    (r = hsm_rpv_init_commit(h, token)) != 0)
		bench_die("software HSM", r);
	if (sh[0].len != HSM_RPK_SECRET_LEN ||
	    (r = shamir_combine(sh, 1, rpk, HSM_RPK_SECRET_LEN)) < 0)
		bench_die("orange key secret", r < 0 ? r : PED_E_INTERNAL);
	OPENSSL_cleanse(sh, sizeof(sh));
	return h;
}

void bench_session(void)
{
	char dir[] = "/tmp/pedbench.XXXXXX", path[64];
	uint8_t rpk[HSM_RPK_SECRET_LEN], pedpub[ECP_PUB_LEN];
	struct server ssrv = {0}, csrv = {0}, tsrv = {0}, esrv = {0}, psrv = {0};
	char pwpath[80];
	struct client c = {.fd = -1};
	struct floor_fx fx = {.rpk = rpk};
	struct hsm_info info;
	SSL_CTX *sctx, *cctx;
	cpu_set_t orig_cpus;
	int r;

	signal(SIGPIPE, SIG_IGN);
	pick_cpus(&orig_cpus);
	if (client_cpu >= 0)
		printf("\nsession over loopback TCP: client on CPU %d, server threads on CPU %d\n\n",
		       client_cpu, server_cpu);
	else
		printf("\nsession over loopback TCP: one CPU, not pinned\n\n");
	if (mkdtemp(dir) == NULL)
		bench_die("mkdtemp", PED_E_IO);
	snprintf(path, sizeof(path), "%s/hsm.state", dir);
	c.hsm = make_hsm(path, rpk);
	c.hsm_path = path;
	if ((r = hsm_chan_prepare(c.hsm)) != 0) /* as pedclient at start */
		bench_die("hsm_chan_prepare", r);
	if ((r = hsm_info(c.hsm, &info)) != 0)
		bench_die("hsm_info", r);
	snprintf(c.serial, sizeof(c.serial), "%llu", (unsigned long long)info.serial);
	snprintf(pwpath, sizeof(pwpath), "%s/hsm-pw.state", dir);
	if ((r = hsm_open(pwpath, 1, &c.pw_hsm)) != 0 || (r = hsm_info(c.pw_hsm, &info)) != 0)
		bench_die("software HSM without RPV", r);
	snprintf(c.pw_serial, sizeof(c.pw_serial), "%llu", (unsigned long long)info.serial);
	if ((r = ecp_generate(&fx.u_static)) != 0 ||
	    (r = ecp_export_public(fx.u_static, fx.qs_u)) != 0 ||
	    (r = hsm_ped_static_public(c.hsm, pedpub)) != 0 ||
	    (r = ecp_import_public(pedpub, ECP_PUB_LEN, &fx.ped_pub)) != 0 ||
	    (r = ecp_cdh(fx.u_static, fx.ped_pub, fx.zs)) != 0)
		bench_die("floor static keys", r);
	RAND_bytes(fx.context, sizeof(fx.context));
	if ((r = ecp_generate(&fx.host)) != 0 || (r = ecp_export_public(fx.host, fx.qh_v)) != 0 ||
	    (r = ecp_import_public(fx.qs_u, ECP_PUB_LEN, &fx.u_pub)) != 0 ||
	    (r = sess_proof_key(fx.u_static, fx.host, fx.qs_u, fx.qh_v, fx.kp)) != 0)
		bench_die("floor key proof", r);
	tls_setup(&sctx, &cctx);

	ssrv.rpk = csrv.rpk = rpk;
	if ((r = ecp_generate(&ssrv.host)) != 0 || (r = ecp_export_public(ssrv.host, ssrv.host_pub)) != 0)
		bench_die("host key", r);
	csrv.host = ssrv.host; /* one pedserver host key; the cold server computes Kp anew */
	memcpy(csrv.host_pub, ssrv.host_pub, ECP_PUB_LEN);
	psrv.host = ssrv.host;
	memcpy(psrv.host_pub, ssrv.host_pub, ECP_PUB_LEN);
	ssrv.ahead = 1;
	tsrv.tls = sctx;
	server_start(&ssrv, serve_session);
	server_start(&csrv, serve_session);
	server_start(&tsrv, serve_tls);
	server_start(&esrv, serve_echo);
	server_start(&psrv, serve_session);
	bench_handshake_tcp(&c, ssrv.port, csrv.port, tsrv.port, cctx, &fx, &psrv);
	bench_ping(&c, ssrv.port, esrv.port);
	server_stop(&ssrv);
	server_stop(&csrv);
	ecp_free(ssrv.next_ephem);
	server_stop(&tsrv);
	server_stop(&esrv);
	server_stop(&psrv);
	ecp_free(ssrv.host);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	ecp_free(fx.u_static);
	ecp_free(fx.ped_pub);
	ecp_free(fx.host);
	ecp_free(fx.u_pub);
	OPENSSL_cleanse(fx.zs, sizeof(fx.zs));
	hsm_close(c.hsm);
	hsm_close(c.pw_hsm);
	OPENSSL_cleanse(rpk, sizeof(rpk));
	unlink(path);
	unlink(pwpath);
	rmdir(dir);
	if (client_cpu >= 0)
		sched_setaffinity(0, sizeof(orig_cpus), &orig_cpus);
}
