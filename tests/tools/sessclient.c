/* sessclient - a minimal HSM side of the Remote PED session (tests).
 *
 *   sessclient -hsm STATEFILE rpv-init -ped PEDLINK [-m M -n N]
 *       creates the HSM state if missing and initializes its RPV directly
 *       over the PED link: CREATE_KEYSET orange (the PED asks M, N and for
 *       the keys), shares from hsm_rpv_init_begin, commit on success.
 *   sessclient -ip A -port P -hsm STATEFILE [-serial S] [-timeout MS]
 *       connect | read COLOUR | hold | probe
 *     connect   handshake, "open", clean DISCONNECT
 *     read      handshake, a relayed READ_KEYSET of COLOUR (PINs on the PED)
 *     hold      handshake, keep the session (answering pings) until stdin
 *               reaches EOF, then DISCONNECT
 *     ping N    handshake, N PINGs one after the other; prints
 *               "ping n N p50 US p99 US max US" (round trips, microseconds)
 *     status    handshake, a LINK STATUS (id 9), which pedserver does not
 *               relay: prints "answer <RESULT|ERROR> <NAME>", then a PING
 *               whose PONG ("pong") shows the session survived; OK after it
 *     probe     HELLO purpose PROBE: prints the HELLO_ACK
 *
 * The HSM side is the software HSM of pedclient/hsm.h (Full Unified with the
 * stored PED key and RPV). Output lines: "open", "ped-state N", "event ...",
 * "keys ...", "fingerprint <16 hex>", "busy <holder>", "closed <NAME>
 * [reason]", and last "result OK" or "result <NAME>"; exit 0 for OK. No
 * share, secret or RPV is ever printed. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <uv.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "session/session.h"
#include "session/wire.h"
#include "crypto/shamir.h"
#include "pedclient/hsm.h"
#include "usbped/link.h"
#include "usbped/pedhost.h"

#define WRAP_MAX (SHAMIR_ENCODED_MAX + 16)

static const char *opt_ip = "127.0.0.1", *opt_port = "1503", *opt_hsm, *opt_serial;
static const char *opt_ped;
static unsigned opt_m, opt_n; /* rpv-init: 0 = asked on the PED */
static uint32_t opt_timeout = 30000;
static unsigned opt_pings;

static int result(int r)
{
	printf("result %s\n", ped_errname(r));
	fflush(stdout);
	return r == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- rpv-init */

struct rpv {
	uv_loop_t loop;
	pedhost_t *ped;
	hsm_t *hsm;
	uint16_t id;
	uint32_t token;
	int staged, done, rc;
};

static void rpv_finish(struct rpv *j, int r)
{
	if (j->done)
		return;
	j->done = 1;
	j->rc = r;
	pedhost_close(j->ped, NULL, NULL);
}

static void rpv_up(void *arg, const pedhost_info_t *info)
{
	struct rpv *j = arg;
	int r;

	(void)info;
	if ((r = pedhost_create_keyset(j->ped, LINK_KEY_ORANGE, opt_timeout, "sessclient",
				       "RPK", 0, &j->id)) < 0)
		rpv_finish(j, r);
}

static void rpv_down(void *arg, int err)
{
	rpv_finish(arg, err);
}

static void rpv_event(void *arg, uint16_t id, const pedhost_event_t *ev)
{
	struct rpv *j = arg;
	shamir_share_t sh[SHAMIR_MAX_N];
	uint8_t keyset[LINK_KEYSET_ID_LEN];
	int r;

	if (id == j->id && ev->kind == LINK_EV_KEY_WRITTEN)
		printf("event key-written %u/%u %s\n", ev->k, ev->n, ev->serial);
	if (id != j->id || ev->kind != LINK_EV_NEED_SHARES)
		return;
	printf("event need-shares %u/%u\n", ev->m, ev->n);
	fflush(stdout);
	r = PED_E_CRYPTO;
	if (RAND_bytes(keyset, sizeof(keyset)) == 1 &&
	    (r = hsm_rpv_init_begin(j->hsm, ev->m, ev->n, sh, &j->token)) == 0) {
		j->staged = 1;
		r = pedhost_send_shares(j->ped, id, keyset, sh, ev->n);
	}
	OPENSSL_cleanse(sh, sizeof(sh));
	if (r < 0)
		pedhost_cancel(j->ped, id);
}

static void rpv_result(void *arg, uint16_t id, const pedhost_result_t *res)
{
	struct rpv *j = arg;
	int r = res->status;
	shamir_share_t sh[PEDHOST_MAX_KEYS];
	pbuf_t b;
	unsigned k;

	if (id != j->id)
		return;
	if (r == 0 && res->reused) {
		/* an existing orange key: its secret becomes this HSM's RPV */
		for (k = 0; k < res->count && r == 0; k++) {
			pbuf_from(&b, res->shares[k].data, res->shares[k].len);
			r = shamir_share_decode(&b, &sh[k]);
		}
		if (r == 0)
			r = hsm_rpv_init_reuse(j->hsm, sh, res->count, &j->token);
		OPENSSL_cleanse(sh, sizeof(sh));
		j->staged = r == 0;
	}
	if (r == 0 && j->staged)
		r = hsm_rpv_init_commit(j->hsm, j->token);
	else if (r == 0)
		r = PED_E_INTERNAL;
	if (r != 0 && j->staged)
		hsm_rpv_init_abort(j->hsm);
	printf("rpv %s\n", r == 0 ? (res->reused ? "reused" : "created") : "not initialized");
	rpv_finish(j, r);
}

static int rpv_init(void)
{
	static const pedhost_cbs_t cbs = {.on_up = rpv_up, .on_down = rpv_down,
					  .on_event = rpv_event, .on_result = rpv_result};
	pedhost_opts_t o = {.spec = opt_ped, .host_name = "sessclient"};
	struct rpv j;
	int r;

	memset(&j, 0, sizeof(j));
	if (opt_ped == NULL)
		return result(PED_E_INVAL);
	if ((r = hsm_open(opt_hsm, 1, &j.hsm)) < 0)
		return result(r);
	uv_loop_init(&j.loop);
	if ((r = pedhost_open(&j.loop, &o, &cbs, &j, &j.ped)) < 0) {
		j.rc = r;
	} else {
		uv_run(&j.loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&j.loop);
	hsm_close(j.hsm);
	return result(j.rc);
}

/* ---------------------------------------------------------------- sessions */

enum cmd { C_CONNECT, C_READ, C_HOLD, C_PING, C_STATUS };
#define PING_MAX 100000

struct cl {
	int fd;
	sess_t *s;
	hsm_t *hsm;
	enum cmd cmd;
	uint8_t key_type;
	int open, stdin_open, rc, over;
	uint16_t op_id;
	unsigned pings, npings;   /* ping N: done, wanted */
	double t_ping, *rtt;      /* the one in flight, results (us) */
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void next_ping(struct cl *c);

static int dial(void)
{
	struct addrinfo hints = {0}, *ai = NULL;
	int fd = -1;

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(opt_ip, opt_port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int flush_out(struct cl *c)
{
	const uint8_t *p;
	size_t n;
	ssize_t w;

	for (;;) {
		sess_output(c->s, &p, &n);
		if (n == 0)
			return 0;
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		sess_output_done(c->s, (size_t)w);
	}
}

static void print_event(pbuf_t *b)
{
	uint8_t kind = 0, n = 0, k = 0, m = 0;
	char line[PEDHOST_STR];
	int first = 1;

	if (pbuf_get_u8(b, &kind) != 0)
		return;
	switch (kind) {
	case LINK_EV_PROMPT:
		printf("event prompt: ");
		if (pbuf_get_u8(b, &n) == 0)
			for (unsigned i = 0; i < n && i < 8; i++) {
				size_t len;
				if (link_get_str(b, line, sizeof(line)) != 0)
					break;
				len = strlen(line);
				while (len > 0 && line[len - 1] == ' ')
					len--;
				if (len == 0)
					continue;
				printf("%s%.*s", first ? "" : "|", (int)len, line);
				first = 0;
			}
		printf("\n");
		break;
	case LINK_EV_KEYS_READ:
		if (pbuf_get_u8(b, &k) == 0 && pbuf_get_u8(b, &m) == 0)
			printf("event keys-read %u/%u\n", k, m);
		break;
	default:
		printf("event kind %u\n", kind);
		break;
	}
}

/* A READ_KEYSET RESULT: unwrap, recombine, print a fingerprint. */
static int read_result(struct cl *c, pbuf_t *b)
{
	shamir_share_t sh[PEDHOST_MAX_KEYS];
	uint8_t w[WRAP_MAX], plain[WRAP_MAX], secret[SHAMIR_MAX_SECRET], md[32];
	uint8_t m, n, count = 0, wrap;
	uint8_t keyset[LINK_KEYSET_ID_LEN];
	char serial[PEDHOST_STR], hex[2 * LINK_KEYSET_ID_LEN + 1];
	size_t wlen, plen;
	unsigned mdlen = 0, k;
	pbuf_t one;
	int r;

	if ((r = pbuf_get_u8(b, &m)) != 0 || (r = pbuf_get_u8(b, &n)) != 0 ||
	    (r = pbuf_get_bytes(b, keyset, sizeof(keyset))) != 0 ||
	    (r = pbuf_get_u8(b, &count)) != 0)
		return r;
	hex_encode(keyset, sizeof(keyset), hex);
	printf("keyset %s m %u n %u\nkeys", hex, m, n);
	for (k = 0; k < count && k < PEDHOST_MAX_KEYS && r == 0; k++) {
		if ((r = link_get_str(b, serial, sizeof(serial))) != 0 ||
		    (r = link_get_blob(b, &wrap, w, sizeof(w), &wlen)) != 0)
			break;
		printf(" %s", serial);
		if (wrap != 1) {
			r = PED_E_UNWRAP; /* a share must never cross the network plain */
			break;
		}
		if ((r = sess_unwrap(c->s, w, wlen, plain, sizeof(plain), &plen)) != 0)
			break;
		pbuf_from(&one, plain, plen);
		r = shamir_share_decode(&one, &sh[k]);
	}
	printf("\n");
	if (r == 0)
		r = shamir_combine(sh, k, secret, sizeof(secret));
	if (r == 0 && EVP_Digest(secret, sh[0].len, md, &mdlen, EVP_sha256(), NULL) == 1) {
		hex_encode(md, 8, hex);
		printf("fingerprint %.16s\n", hex);
	}
	OPENSSL_cleanse(sh, sizeof(sh));
	OPENSSL_cleanse(w, sizeof(w));
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}

static void done(struct cl *c, int r)
{
	if (c->over)
		return;
	c->over = 1;
	c->rc = r;
	if (sess_state(c->s) != SESS_ST_CLOSED)
		sess_disconnect(c->s, 0, "sessclient done");
}

static void on_link(struct cl *c, const uint8_t *body, size_t len)
{
	uint8_t type = 0;
	uint16_t id = 0, status = 0;
	char msg[PEDHOST_STR] = "";
	pbuf_t b;
	int r;

	pbuf_from(&b, body, len);
	if (pbuf_get_u8(&b, &type) != 0 || pbuf_get_u16(&b, &id) != 0 || id != c->op_id)
		return;
	if (type == LINK_EVENT) {
		print_event(&b);
		return;
	}
	if (pbuf_get_u16(&b, &status) != 0) {
		done(c, PED_E_PARSE);
		return;
	}
	if (type == LINK_ERROR && link_get_str(&b, msg, sizeof(msg)) == 0 && msg[0])
		printf("message %s\n", msg);
	r = -(int)status;
	if (c->cmd == C_STATUS) {
		printf("answer %s %s\n", type == LINK_RESULT ? "RESULT" : "ERROR", ped_errname(r));
		if ((r = sess_ping(c->s, 0x5354415455530000ull)) < 0)
			done(c, r);
		return;
	}
	if (r == 0 && type == LINK_RESULT)
		r = read_result(c, &b);
	done(c, r);
}

static int start_read(struct cl *c)
{
	uint8_t m[64] = {0};
	static const uint8_t zero[LINK_KEYSET_ID_LEN];
	pbuf_t b;
	int r;

	c->op_id = 7;
	pbuf_over(&b, m, sizeof(m));
	if ((r = pbuf_put_u8(&b, LINK_READ_KEYSET)) < 0 || (r = pbuf_put_u16(&b, c->op_id)) < 0 ||
	    (r = pbuf_put_u8(&b, c->key_type)) < 0 || (r = pbuf_put_u32(&b, opt_timeout)) < 0 ||
	    (r = link_put_str(&b, "sessclient")) < 0 ||
	    (r = pbuf_put_bytes(&b, zero, sizeof(zero))) < 0)
		return r;
	return sess_send(c->s, SESS_MSG_LINK, m, b.len);
}

/* A LINK STATUS (empty payload) under id 9. */
static int start_status(struct cl *c)
{
	const uint8_t m[3] = {LINK_STATUS, 0, 9};

	c->op_id = 9;
	return sess_send(c->s, SESS_MSG_LINK, m, sizeof(m));
}

static void handle(struct cl *c, struct sess_event *ev)
{
	uint8_t qs[ECP_PUB_LEN], qe[ECP_PUB_LEN], proof[SESS_PROOF_LEN];
	struct hsm_chan_params p;
	kas_keys_t k;
	int r;

	switch (ev->type) {
	case SESS_EV_HELLO_ACK:
		if (ev->ack.busy) {
			printf("busy %s\n", ev->ack.holder);
			break; /* the ERROR SERVER_BUSY follows: CLOSED */
		}
		if ((r = hsm_static_public(c->hsm, qs)) < 0 ||
		    (r = hsm_chan_ephemeral(c->hsm, qe)) < 0 ||
		    (r = hsm_key_proof(c->hsm, ev->peer_static, ev->context, qe, proof)) < 0 ||
		    (r = sess_client_kex_init(c->s, qs, qe, proof)) < 0)
			done(c, r);
		break;
	case SESS_EV_DERIVE:
		memset(&p, 0, sizeof(p));
		p.scheme = KAS_FULL_UNIFIED;
		p.peer_ephem = ev->peer_ephem;
		p.peer_static = NULL; /* the PED key stored at RPV init */
		p.use_rpv = 1;
		p.context = ev->context;
		p.context_len = SESS_TRANSCRIPT_LEN;
		r = hsm_channel_keys(c->hsm, &p, &k, NULL);
		if (r == 0)
			r = sess_client_keys(c->s, &k);
		OPENSSL_cleanse(&k, sizeof(k));
		if (r < 0 && sess_state(c->s) != SESS_ST_CLOSED)
			done(c, r);
		break;
	case SESS_EV_OPEN:
		c->open = 1;
		printf("open\n");
		if (c->cmd == C_CONNECT)
			done(c, 0);
		else if (c->cmd == C_PING)
			next_ping(c);
		else if (c->cmd == C_READ && (r = start_read(c)) < 0)
			done(c, r);
		else if (c->cmd == C_STATUS && (r = start_status(c)) < 0)
			done(c, r);
		break;
	case SESS_EV_MESSAGE:
		if (ev->msg_type == SESS_MSG_LINK) {
			on_link(c, ev->body, ev->body_len);
		} else if (ev->msg_type == SESS_MSG_PED_STATE && ev->body_len >= 1) {
			printf("ped-state %u\n", ev->body[0]);
			if (ev->body[0] == 0 && c->cmd == C_READ && !c->over)
				done(c, PED_E_UNPLUGGED);
		}
		break;
	case SESS_EV_PONG:
		if (c->cmd == C_PING && ev->nonce == c->pings) {
			c->rtt[c->pings++] = now_us() - c->t_ping;
			next_ping(c);
		}
		if (c->cmd == C_STATUS && ev->nonce == 0x5354415455530000ull) {
			printf("pong\n");
			done(c, 0);
		}
		break;
	case SESS_EV_CLOSED:
		printf("closed %s%s%s\n", ped_errname(ev->code), ev->reason[0] ? " " : "",
		       ev->reason);
		if (!c->over) {
			c->over = 1;
			c->rc = ev->code != 0 ? ev->code : PED_E_DISCONNECTED;
		}
		break;
	default:
		break;
	}
	fflush(stdout);
}

static void next_ping(struct cl *c)
{
	int r;

	if (c->pings < c->npings) {
		c->t_ping = now_us();
		if ((r = sess_ping(c->s, c->pings)) < 0)
			done(c, r);
		return;
	}
	qsort(c->rtt, c->npings, sizeof(double), cmp_d);
	printf("ping n %u p50 %.1f p99 %.1f max %.1f\n", c->npings, c->rtt[c->npings / 2],
	       c->rtt[(c->npings * 99) / 100], c->rtt[c->npings - 1]);
	done(c, 0);
}

static int session(enum cmd cmd, uint8_t key_type)
{
	struct cl c;
	struct sess_event ev;
	struct hsm_info info;
	struct pollfd pf[2];
	uint8_t buf[4096];
	char serial[32];
	ssize_t n;
	int r;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.cmd = cmd;
	c.key_type = key_type;
	c.stdin_open = cmd == C_HOLD;
	c.npings = opt_pings;
	if (cmd == C_PING && (c.rtt = calloc(opt_pings, sizeof(double))) == NULL)
		return result(PED_E_NOMEM);
	if ((r = hsm_open(opt_hsm, 0, &c.hsm)) < 0)
		return result(r);
	if ((r = hsm_info(c.hsm, &info)) < 0)
		goto out;
	snprintf(serial, sizeof(serial), "%llu", (unsigned long long)info.serial);
	if ((r = sess_client_new("sessclient", opt_serial ? opt_serial : serial, &c.s)) < 0)
		goto out;
	r = PED_E_IO;
	if ((c.fd = dial()) < 0) {
		printf("cannot connect to %s port %s\n", opt_ip, opt_port);
		goto out;
	}
	for (;;) {
		while (sess_next(c.s, &ev) == 0 && ev.type != SESS_EV_NONE)
			handle(&c, &ev);
		if (c.cmd == C_HOLD && c.open && !c.stdin_open && !c.over)
			done(&c, 0);
		if (flush_out(&c) < 0 || sess_state(c.s) == SESS_ST_CLOSED)
			break;
		pf[0].fd = c.fd;
		pf[0].events = POLLIN;
		pf[1].fd = c.stdin_open ? 0 : -1;
		pf[1].events = POLLIN;
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents != 0) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0)
				c.stdin_open = 0;
		}
		if (pf[0].revents != 0) {
			n = recv(c.fd, buf, sizeof(buf), 0);
			if (n <= 0) {
				if (!c.over) {
					printf("closed DISCONNECTED connection lost\n");
					c.over = 1;
					c.rc = PED_E_DISCONNECTED;
				}
				break;
			}
			if (sess_feed(c.s, buf, (size_t)n) < 0 && !c.over)
				c.rc = PED_E_PARSE;
			OPENSSL_cleanse(buf, sizeof(buf));
		}
	}
	r = c.over ? c.rc : PED_E_DISCONNECTED;
out:
	if (c.fd >= 0)
		close(c.fd);
	sess_free(c.s);
	free(c.rtt);
	hsm_close(c.hsm);
	return result(r);
}

/* HELLO purpose PROBE; prints the HELLO_ACK. */
static int probe(void)
{
	struct wire_hello h = {.min_version = 1, .max_version = 1, .purpose = WIRE_PURPOSE_PROBE};
	struct wire_hello_ack a;
	uint8_t buf[WIRE_HDR_LEN + WIRE_MAX_HELLO];
	size_t got = 0;
	pbuf_t body, frame;
	uint8_t type;
	uint32_t len;
	ssize_t n;
	int fd, r;

	snprintf(h.client_name, sizeof(h.client_name), "sessclient");
	pbuf_init(&body, WIRE_MAX_HELLO);
	pbuf_init(&frame, WIRE_HDR_LEN + WIRE_MAX_HELLO);
	r = PED_E_IO;
	if (wire_hello_encode(&h, &body) != 0 ||
	    wire_frame(&frame, WIRE_HELLO, pbuf_ptr(&body), pbuf_avail(&body)) != 0 ||
	    (fd = dial()) < 0)
		goto out;
	if (send(fd, pbuf_ptr(&frame), pbuf_avail(&frame), MSG_NOSIGNAL) < 0) {
		close(fd);
		goto out;
	}
	while (got < sizeof(buf) && (n = recv(fd, buf + got, sizeof(buf) - got, 0)) > 0)
		got += (size_t)n;
	close(fd);
	if ((r = wire_header(buf, got, WIRE_MAX_HELLO, &type, &len)) < 0 ||
	    got < WIRE_HDR_LEN + len)
		goto out;
	r = PED_E_BAD_REQUEST;
	if (type == WIRE_HELLO_ACK &&
	    (r = wire_hello_ack_decode(buf + WIRE_HDR_LEN, len, &a)) == 0)
		printf("hello-ack server %s software %s ped %u busy %u holder %s\n", a.server_name,
		       a.software, a.ped_attached, a.busy, a.holder);
out:
	pbuf_release(&body);
	pbuf_release(&frame);
	return result(r);
}

static void usage(void)
{
	fprintf(stderr, "usage: sessclient -hsm STATE rpv-init -ped PEDLINK\n"
			"       sessclient [-ip A] [-port P] -hsm STATE [-serial S] [-timeout MS]\n"
			"                  connect | read COLOUR | hold | ping N | probe\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		uint8_t type;
	} colours[] = {{"blue", LINK_KEY_BLUE}, {"red", LINK_KEY_RED},
		       {"black", LINK_KEY_BLACK}, {"white", LINK_KEY_WHITE}};
	const char *cmd = NULL, *arg = NULL;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (o[0] == '-' && v == NULL) {
			usage();
			return 2;
		}
		if (strcmp(o, "-ip") == 0)
			opt_ip = argv[++i];
		else if (strcmp(o, "-port") == 0)
			opt_port = argv[++i];
		else if (strcmp(o, "-hsm") == 0)
			opt_hsm = argv[++i];
		else if (strcmp(o, "-serial") == 0)
			opt_serial = argv[++i];
		else if (strcmp(o, "-ped") == 0)
			opt_ped = argv[++i];
		else if (strcmp(o, "-timeout") == 0)
			opt_timeout = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(o, "-m") == 0)
			opt_m = (unsigned)atoi(argv[++i]);
		else if (strcmp(o, "-n") == 0)
			opt_n = (unsigned)atoi(argv[++i]);
		else if (cmd == NULL)
			cmd = o;
		else if (arg == NULL)
			arg = o;
	}
	(void)opt_m;
	(void)opt_n;
	if (cmd == NULL || (opt_hsm == NULL && strcmp(cmd, "probe") != 0)) {
		usage();
		return 2;
	}
	if (strcmp(cmd, "rpv-init") == 0)
		return rpv_init();
	if (strcmp(cmd, "connect") == 0)
		return session(C_CONNECT, 0);
	if (strcmp(cmd, "hold") == 0)
		return session(C_HOLD, 0);
	if (strcmp(cmd, "ping") == 0) {
		unsigned long n = arg != NULL ? strtoul(arg, NULL, 10) : 0;

		if (n < 1 || n > PING_MAX) {
			usage();
			return 2;
		}
		opt_pings = (unsigned)n;
		return session(C_PING, 0);
	}
	if (strcmp(cmd, "status") == 0)
		return session(C_STATUS, 0);
	if (strcmp(cmd, "probe") == 0)
		return probe();
	if (strcmp(cmd, "read") == 0)
		for (size_t k = 0; arg != NULL && k < sizeof(colours) / sizeof(colours[0]); k++)
			if (strcmp(arg, colours[k].name) == 0)
				return session(C_READ, colours[k].type);
	usage();
	return 2;
}
