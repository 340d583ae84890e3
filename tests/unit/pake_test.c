/* pake_test.c - the one-time password mode (docs/PROTOCOL.md Part 4):
 * session/pake.c and the password states of session/session.c, a client and
 * a server session back to back in memory. The client side plays the HSM
 * with pake_start / pake_finish as party U; the server types the password
 * the test gives it, as the key holder would on the PED. Then what an active
 * attacker can do: a wrong password, a man in the middle who guesses (one
 * guess, detected before any record moves), a reflected share, invalid
 * points, a changed hello. Also the worked example of Part 4 (fixed
 * scalars), pinned byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/kdf.h"
#include "crypto/spake2.h"
#include "session/pake.h"
#include "session/session.h"
#include "session/wire.h"

#define SERIAL "1547040001"
#define LINK_BODY "\x03\x00\x07hello"

static ecp_key_t *hsm_static;
static uint8_t qs_u[ECP_PUB_LEN];

struct side {
	sess_t *s;
	int opened, closed, code, records;
	spake2_t *sp;               /* client: the HSM's SPAKE2 state */
	const char *pw;             /* the password this side uses */
	int pake_a;                 /* server: PAKE_A seen */
};

/* Optional man in the middle: sees every frame from client (dir 0) or
 * server (dir 1) and may rewrite it (return its new length). */
typedef size_t (*mitm_fn)(void *arg, int dir, uint8_t *frame, size_t len);

struct pair {
	struct side c, v;
	mitm_fn mitm;
	void *mitm_arg;
	int frames[2][256];         /* frame types seen per direction */
	unsigned nframes[2];
};

static int setup(void **state)
{
	(void)state;
	if (ecp_generate(&hsm_static) != 0 || ecp_export_public(hsm_static, qs_u) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ecp_free(hsm_static);
	return 0;
}

static void fill_ack(struct wire_hello_ack *a)
{
	memset(a, 0, sizeof(*a));
	strcpy(a->server_name, "pedhost");
	strcpy(a->software, "pedserver 0.1.0");
	a->ped_attached = 1;
	strcpy(a->ped_firmware, "2.7.4");
	strcpy(a->ped_protocol, "1");
}

static void on_client(struct pair *p, const struct sess_event *ev)
{
	struct side *c = &p->c;
	uint8_t pa[PAKE_PT_LEN];
	kas_keys_t k;

	switch (ev->type) {
	case SESS_EV_HELLO_ACK:
		assert_null(ev->peer_ephem);
		assert_int_equal(pake_start(KAS_U, c->pw, strlen(c->pw), SERIAL, NULL, 0, &c->sp, pa), 0);
		assert_int_equal(sess_client_pake(c->s, qs_u, pa), 0);
		break;
	case SESS_EV_DERIVE: {
		int r = pake_finish(&c->sp, KAS_U, SERIAL, qs_u, sess_server_name(c->s),
				    ev->peer_ephem, ev->context, SESS_TRANSCRIPT_LEN, &k);
		if (r != 0)
			sess_disconnect(c->s, r, ped_strerror(r));
		else
			sess_client_keys(c->s, &k);
		break;
	}
	case SESS_EV_OPEN:
		c->opened++;
		assert_int_equal(sess_send(c->s, SESS_MSG_LINK, (const uint8_t *)LINK_BODY, 8), 0);
		break;
	case SESS_EV_CLOSED:
		c->closed++;
		c->code = ev->code;
		break;
	default:
		break;
	}
}

static void on_server(struct pair *p, const struct sess_event *ev)
{
	struct side *v = &p->v;
	struct wire_hello_ack a;

	switch (ev->type) {
	case SESS_EV_HELLO:
		assert_int_equal(ev->hello.purpose, WIRE_PURPOSE_PASSWORD);
		fill_ack(&a);
		assert_int_equal(sess_server_accept(v->s, &a, NULL, qs_u), 0); /* no share: unused */
		break;
	case SESS_EV_PAKE_A:
		v->pake_a++;
		assert_memory_equal(ev->peer_static, qs_u, ECP_PUB_LEN);
		sess_server_password(v->s, v->pw, strlen(v->pw));
		break;
	case SESS_EV_OPEN:
		v->opened++;
		break;
	case SESS_EV_MESSAGE:
		v->records++;
		assert_int_equal(ev->body_len, 8);
		assert_memory_equal(ev->body, LINK_BODY, 8);
		break;
	case SESS_EV_CLOSED:
		v->closed++;
		v->code = ev->code;
		break;
	default:
		break;
	}
}

/* Moves whole frames both ways until nothing moves. */
static void run(struct pair *p)
{
	uint8_t buf[SESS_FEED_MAX];
	struct sess_event ev;
	int moved = 1;

	while (moved) {
		moved = 0;
		while (sess_next(p->c.s, &ev) == 0 && ev.type != SESS_EV_NONE)
			on_client(p, &ev);
		while (sess_next(p->v.s, &ev) == 0 && ev.type != SESS_EV_NONE)
			on_server(p, &ev);
		for (int dir = 0; dir < 2; dir++) {
			sess_t *from = dir == 0 ? p->c.s : p->v.s, *to = dir == 0 ? p->v.s : p->c.s;
			const uint8_t *d;
			size_t n, off = 0;

			sess_output(from, &d, &n);
			if (n == 0)
				continue;
			assert_true(n <= sizeof(buf));
			memcpy(buf, d, n);
			sess_output_done(from, n);
			/* frame by frame, through the man in the middle */
			while (off + WIRE_HDR_LEN <= n) {
				size_t flen = WIRE_HDR_LEN + pbuf_rd32(buf + off + 2), nl;
				uint8_t fr[SESS_FEED_MAX];

				assert_true(off + flen <= n);
				memcpy(fr, buf + off, flen);
				if (p->nframes[dir] < 256)
					p->frames[dir][p->nframes[dir]++] = fr[1];
				nl = p->mitm != NULL ? p->mitm(p->mitm_arg, dir, fr, flen) : flen;
				if (nl > 0)
					assert_int_equal(sess_feed(to, fr, nl), 0);
				off += flen;
			}
			moved = 1;
		}
	}
}

static void pair_run(struct pair *p, const char *pw_hsm, const char *pw_ped)
{
	p->c.pw = pw_hsm;
	p->v.pw = pw_ped;
	assert_int_equal(sess_client_new_password("hsmhost", SERIAL, &p->c.s), 0);
	assert_int_equal(sess_server_new(&p->v.s), 0);
	assert_true(sess_is_password(p->c.s));
	run(p);
}

static void pair_free(struct pair *p)
{
	spake2_free(p->c.sp);
	sess_free(p->c.s);
	sess_free(p->v.s);
}

static int saw(const struct pair *p, int dir, int type)
{
	for (unsigned i = 0; i < p->nframes[dir]; i++)
		if (p->frames[dir][i] == type)
			return 1;
	return 0;
}

static void test_password_right(void **state)
{
	struct pair p;
	uint8_t csp[40] = {1, 2, 3}, w[64], back[40];
	size_t wl = 0, bl = 0;

	(void)state;
	memset(&p, 0, sizeof(p));
	pair_run(&p, "12345678", "12345678");
	assert_int_equal(p.c.opened, 1);
	assert_int_equal(p.v.opened, 1);
	assert_int_equal(p.v.records, 1); /* a record crossed under the new keys */
	assert_int_equal(p.c.closed + p.v.closed, 0);
	/* the CWKs agree: a CSP wrapped by U unwraps at V */
	assert_int_equal(sess_wrap(p.c.s, csp, sizeof(csp), w, sizeof(w), &wl), 0);
	assert_int_equal(sess_unwrap(p.v.s, w, wl, back, sizeof(back), &bl), 0);
	assert_memory_equal(back, csp, sizeof(csp));
	assert_int_equal(sess_state(p.c.s), SESS_ST_OPEN);
	pair_free(&p);
}

/* A wrong password: U finds it from confB, before it sends anything more;
 * both sides end with PASSWORD_INCORRECT and no record ever moves. */
static void test_password_wrong(void **state)
{
	struct pair p;

	(void)state;
	memset(&p, 0, sizeof(p));
	pair_run(&p, "12345678", "12345679");
	assert_int_equal(p.c.opened + p.v.opened, 0);
	assert_int_equal(p.c.code, PED_E_PASSWORD_INCORRECT);
	assert_int_equal(p.v.code, PED_E_PASSWORD_INCORRECT);
	assert_false(saw(&p, 0, WIRE_PAKE_CONFIRM));
	assert_false(saw(&p, 0, WIRE_RECORD));
	assert_false(saw(&p, 1, WIRE_RECORD));
	pair_free(&p);
}

/* The attacker replaces pA with a share of its own for a guessed password:
 * V answers with pB and confB; the attacker can check its one guess against
 * confB and nothing else (it must commit to the guess in pA); whatever it
 * sends as confA, V closes with PASSWORD_INCORRECT and no CSP moves. */
struct mitm_guess {
	const char *guess;
	spake2_t *sp;
	uint8_t tr[4096], t[SESS_TRANSCRIPT_LEN];
	size_t tr_len;
	int guess_right;
	int replaced;
};

/* e(frame) = type || u32be length || payload, as Part 3 hashes it. */
static void mitm_tr(struct mitm_guess *m, const uint8_t *fr, size_t len)
{
	memcpy(m->tr + m->tr_len, fr + 1, len - 1);
	m->tr_len += len - 1;
}

static size_t mitm_guess(void *arg, int dir, uint8_t *fr, size_t len)
{
	struct mitm_guess *m = arg;
	uint8_t pa[PAKE_PT_LEN];
	unsigned int n = 0;

	if ((dir == 0 && fr[1] == WIRE_HELLO) || (dir == 1 && fr[1] == WIRE_HELLO_ACK))
		mitm_tr(m, fr, len);
	if (dir == 0 && fr[1] == WIRE_PAKE_A) {
		assert_int_equal(pake_start(KAS_U, m->guess, 8, SERIAL, NULL, 0, &m->sp, pa), 0);
		memcpy(fr + WIRE_HDR_LEN + ECP_PUB_LEN, pa, PAKE_PT_LEN);
		m->replaced = 1;
		mitm_tr(m, fr, len);
		assert_int_equal(EVP_Digest(m->tr, m->tr_len, m->t, &n, EVP_sha512(), NULL), 1);
	}
	if (dir == 1 && fr[1] == WIRE_PAKE_B) {
		/* the attacker's test of the one guess it committed to in pA */
		kas_keys_t k;
		int r = pake_finish(&m->sp, KAS_U, SERIAL, qs_u, "pedhost", fr + WIRE_HDR_LEN,
				    m->t, sizeof(m->t), &k);
		m->guess_right = r == 0 && kas_check_tag(&k, fr + WIRE_HDR_LEN + PAKE_PT_LEN) == 0;
		kas_keys_wipe(&k);
	}
	return len;
}

static void test_mitm_guess(void **state)
{
	(void)state;
	/* a wrong guess: detected by both ends before any record */
	for (int right = 0; right < 2; right++) {
		struct mitm_guess *m = calloc(1, sizeof(*m));
		struct pair p;

		assert_non_null(m);
		m->guess = right ? "31415926" : "00000000";
		memset(&p, 0, sizeof(p));
		p.mitm = mitm_guess;
		p.mitm_arg = m;
		pair_run(&p, "31415926", "31415926");
		assert_true(m->replaced);
		/* the attacker learns whether its single guess was right, no more */
		assert_int_equal(m->guess_right, right);
		assert_int_equal(p.v.opened + p.c.opened, 0);
		/* U's own share was replaced: its confB check fails, it sends no
		 * PAKE_CONFIRM, and V never opens */
		assert_int_equal(p.c.code, PED_E_PASSWORD_INCORRECT);
		assert_false(saw(&p, 0, WIRE_PAKE_CONFIRM));
		assert_false(saw(&p, 0, WIRE_RECORD));
		assert_false(saw(&p, 1, WIRE_RECORD));
		spake2_free(m->sp);
		free(m);
		pair_free(&p);
	}
}

/* pB = the client's own pA reflected: refused as BAD_PUBLIC_KEY. */
static size_t mitm_reflect(void *arg, int dir, uint8_t *fr, size_t len)
{
	uint8_t *pa = arg;

	if (dir == 0 && fr[1] == WIRE_PAKE_A)
		memcpy(pa, fr + WIRE_HDR_LEN + ECP_PUB_LEN, PAKE_PT_LEN);
	if (dir == 1 && fr[1] == WIRE_PAKE_B)
		memcpy(fr + WIRE_HDR_LEN, pa, PAKE_PT_LEN);
	return len;
}

static void test_reflected_share(void **state)
{
	uint8_t pa[PAKE_PT_LEN];
	struct pair p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.mitm = mitm_reflect;
	p.mitm_arg = pa;
	pair_run(&p, "12345678", "12345678");
	assert_int_equal(p.c.opened + p.v.opened, 0);
	assert_int_equal(p.c.code, PED_E_BAD_KEY);
	pair_free(&p);
}

/* Invalid points: a coordinate changed (off the curve) in pA or pB. */
static size_t mitm_offcurve(void *arg, int dir, uint8_t *fr, size_t len)
{
	int *which = arg;

	if (*which == 0 && dir == 0 && fr[1] == WIRE_PAKE_A)
		fr[WIRE_HDR_LEN + ECP_PUB_LEN + 70] ^= 1;
	if (*which == 1 && dir == 1 && fr[1] == WIRE_PAKE_B)
		fr[WIRE_HDR_LEN + 70] ^= 1;
	if (*which == 2 && dir == 0 && fr[1] == WIRE_PAKE_A)
		fr[WIRE_HDR_LEN] = 0x02; /* compressed form: refused */
	return len;
}

static void test_invalid_points(void **state)
{
	(void)state;
	for (int which = 0; which < 3; which++) {
		struct pair p;

		memset(&p, 0, sizeof(p));
		p.mitm = mitm_offcurve;
		p.mitm_arg = &which;
		pair_run(&p, "12345678", "12345678");
		assert_int_equal(p.c.opened + p.v.opened, 0);
		assert_int_equal(p.c.code, PED_E_BAD_KEY);
		assert_int_equal(p.v.code, PED_E_BAD_KEY);
		assert_int_equal(p.v.pake_a, which == 1); /* the PED was not asked */
		pair_free(&p);
	}
}

/* A recorded exchange replayed to a new server: the old PAKE_A gets a fresh
 * pB, and the old confA does not confirm it (PASSWORD_INCORRECT). */
struct recorder {
	uint8_t f[3][1024];
	size_t n[3];
};

static size_t mitm_record(void *arg, int dir, uint8_t *fr, size_t len)
{
	struct recorder *rec = arg;
	int i = fr[1] == WIRE_HELLO ? 0 : fr[1] == WIRE_PAKE_A ? 1 : fr[1] == WIRE_PAKE_CONFIRM ? 2 : -1;

	if (dir == 0 && i >= 0 && len <= sizeof(rec->f[0])) {
		memcpy(rec->f[i], fr, len);
		rec->n[i] = len;
	}
	return len;
}

static void test_replayed_exchange(void **state)
{
	struct recorder rec;
	struct pair p, q;
	struct sess_event ev;

	(void)state;
	memset(&rec, 0, sizeof(rec));
	memset(&p, 0, sizeof(p));
	p.mitm = mitm_record;
	p.mitm_arg = &rec;
	pair_run(&p, "12345678", "12345678");
	assert_int_equal(p.v.opened, 1);
	assert_true(rec.n[0] > 0 && rec.n[1] > 0 && rec.n[2] > 0);
	/* the replay, frame by frame, to a fresh server with the same password */
	memset(&q, 0, sizeof(q));
	q.v.pw = "12345678";
	assert_int_equal(sess_server_new(&q.v.s), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sess_feed(q.v.s, rec.f[i], rec.n[i]), 0);
		while (sess_next(q.v.s, &ev) == 0 && ev.type != SESS_EV_NONE)
			on_server(&q, &ev);
	}
	assert_int_equal(q.v.pake_a, 1);
	assert_int_equal(q.v.opened, 0);
	assert_int_equal(q.v.code, PED_E_PASSWORD_INCORRECT);
	sess_free(q.v.s);
	pair_free(&p);
}

/* A changed HELLO (the hsm serial the server sees) gives V another T and
 * another w: confirmation fails, as a wrong password. */
static size_t mitm_hello(void *arg, int dir, uint8_t *fr, size_t len)
{
	(void)arg;
	if (dir == 0 && fr[1] == WIRE_HELLO)
		fr[len - 1] ^= 0x01; /* last digit of the serial */
	return len;
}

static void test_changed_hello(void **state)
{
	struct pair p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.mitm = mitm_hello;
	pair_run(&p, "12345678", "12345678");
	assert_int_equal(p.c.opened + p.v.opened, 0);
	assert_int_equal(p.c.code, PED_E_PASSWORD_INCORRECT);
	pair_free(&p);
}

static void test_password_rules(void **state)
{
	char pw[PAKE_PW_DIGITS + 1], other[PAKE_PW_DIGITS + 1];

	(void)state;
	assert_int_equal(pake_password_check("12345678", 8), 0);
	assert_int_equal(pake_password_check("1234567", 7), PED_E_INVAL);
	assert_int_equal(pake_password_check("123456789", 9), PED_E_INVAL);
	assert_int_equal(pake_password_check("1234567a", 8), PED_E_INVAL);
	assert_int_equal(pake_password_new(pw), 0);
	assert_int_equal(pake_password_check(pw, strlen(pw)), 0);
	assert_int_equal(pake_password_new(other), 0);
	assert_string_not_equal(pw, other); /* 1 in 10^8 */
}

/* The worked example of docs/PROTOCOL.md §4.6: every value from fixed
 * scalars, so an independent implementation can reproduce it. */
static void hexeq(const char *name, const uint8_t *got, size_t n, const char *want)
{
	char h[2 * 1024 + 1];

	assert_true(n <= 1024);
	hex_encode(got, n, h);
	if (getenv("PAKE_PRINT") != NULL)
		printf("%s = %s\n", name, h);
	else
		assert_string_equal(h, want);
}

#include "pake_example.h"

static void test_worked_example(void **state)
{
	uint8_t d2[1] = {2}, x[1] = {3}, y[1] = {5}, t[SESS_TRANSCRIPT_LEN], qs[ECP_PUB_LEN];
	uint8_t pa[PAKE_PT_LEN], pb[PAKE_PT_LEN];
	spake2_t *a = NULL, *b = NULL;
	ecp_key_t *ds = NULL;
	kas_keys_t ku, kv;

	(void)state;
	for (size_t i = 0; i < sizeof(t); i++)
		t[i] = (uint8_t)i; /* stands for the transcript hash T */
	assert_int_equal(ecp_from_private(d2, 1, &ds), 0);
	assert_int_equal(ecp_export_public(ds, qs), 0);
	assert_int_equal(pake_start(KAS_U, "12345678", 8, "154704", x, 1, &a, pa), 0);
	assert_int_equal(pake_start(KAS_V, "12345678", 8, "154704", y, 1, &b, pb), 0);
	hexeq("pA", pa, sizeof(pa), EX_PA);
	hexeq("pB", pb, sizeof(pb), EX_PB);
	assert_int_equal(pake_finish(&a, KAS_U, "154704", qs, "pedhost", pb, t, sizeof(t), &ku), 0);
	assert_int_equal(pake_finish(&b, KAS_V, "154704", qs, "pedhost", pa, t, sizeof(t), &kv), 0);
	/* the same from the document's formulas, through the generic SPAKE2:
	 * w = KDF(password, lv(label) || lv(serial)), A = str(serial) || Qs_U,
	 * B = str("pedhost"), AAD = T */
	{
		static const uint8_t fi[] = "\x00\x00\x00\x1bRemotePED-1 SPAKE2 password"
					    "\x00\x00\x00\x06" "154704";
		uint8_t w[PAKE_W_LEN], ida[1 + 6 + ECP_PUB_LEN], idb[8] = "\x07pedhost";
		struct spake2_keys sa, sb;
		spake2_t *ra = NULL, *rb = NULL;
		const uint8_t *kp, *tp;
		size_t kl, tl;
		uint8_t h[64];
		unsigned int hl = 0;

		assert_int_equal(kdf_onestep_sha512((const uint8_t *)"12345678", 8, fi,
						    sizeof(fi) - 1, w, sizeof(w)), 0);
		hexeq("w (74 bytes, before mod n)", w, sizeof(w), EX_W);
		ida[0] = 6;
		memcpy(ida + 1, "154704", 6);
		memcpy(ida + 7, qs, ECP_PUB_LEN);
		hexeq("A", ida, sizeof(ida), EX_IDA);
		assert_int_equal(spake2_new(SPAKE2_P521_SHA512, SPAKE2_A, w, sizeof(w), x, 1, &ra), 0);
		assert_int_equal(spake2_new(SPAKE2_P521_SHA512, SPAKE2_B, w, sizeof(w), y, 1, &rb), 0);
		assert_int_equal(spake2_finish(ra, ida, sizeof(ida), idb, sizeof(idb), pb,
					       sizeof(pb), t, sizeof(t), &sa), 0);
		assert_int_equal(spake2_finish(rb, ida, sizeof(ida), idb, sizeof(idb), pa,
					       sizeof(pa), t, sizeof(t), &sb), 0);
		assert_int_equal(spake2_debug_k_tt(ra, &kp, &kl, &tp, &tl), 0);
		hexeq("K", kp, kl, EX_K);
		assert_int_equal(EVP_Digest(tp, tl, h, &hl, EVP_sha512(), NULL), 1);
		hexeq("Hash(TT)", h, hl, EX_HTT);
		hexeq("KcA", sa.kc_a, sa.half_len, EX_KCA);
		hexeq("KcB", sa.kc_b, sa.half_len, EX_KCB);
		assert_memory_equal(sa.conf_a, ku.own_tag, KAS_TAG_LEN);
		assert_memory_equal(sb.conf_b, kv.own_tag, KAS_TAG_LEN);
		spake2_keys_wipe(&sa);
		spake2_keys_wipe(&sb);
		spake2_free(ra);
		spake2_free(rb);
	}
	hexeq("confA", ku.own_tag, KAS_TAG_LEN, EX_CONFA);
	hexeq("confB", kv.own_tag, KAS_TAG_LEN, EX_CONFB);
	hexeq("DEK_UV", ku.uv.dek, KAS_DEK_LEN, EX_DEK_UV);
	hexeq("DMK_UV", ku.uv.dmk, KAS_DMK_LEN, EX_DMK_UV);
	hexeq("CWK_UV", ku.uv.cwk, KAS_CWK_LEN, EX_CWK_UV);
	hexeq("DEK_VU", ku.vu.dek, KAS_DEK_LEN, EX_DEK_VU);
	hexeq("DMK_VU", ku.vu.dmk, KAS_DMK_LEN, EX_DMK_VU);
	hexeq("CWK_VU", ku.vu.cwk, KAS_CWK_LEN, EX_CWK_VU);
	assert_memory_equal(&ku.uv, &kv.uv, sizeof(ku.uv));
	assert_memory_equal(&ku.vu, &kv.vu, sizeof(ku.vu));
	assert_memory_equal(ku.peer_tag, kv.own_tag, KAS_TAG_LEN);
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	ecp_free(ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_right),
		cmocka_unit_test(test_password_wrong),
		cmocka_unit_test(test_mitm_guess),
		cmocka_unit_test(test_reflected_share),
		cmocka_unit_test(test_replayed_exchange),
		cmocka_unit_test(test_invalid_points),
		cmocka_unit_test(test_changed_hello),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test(test_worked_example),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
