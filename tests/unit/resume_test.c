/* resume_test.c - session resumption (session/resume.c and its states in
 * session/session.c, docs/PROTOCOL.md Part 6): a full handshake in memory,
 * then resumes on "new connections" with the state each side exported;
 * single use, replay, a foreign or altered secret, another server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "session/resume.h"
#include "session/session.h"

static ecp_key_t *hsm_static, *hsm_ephem, *ped_static, *srv_host, *other_host;
static uint8_t qs_u[ECP_PUB_LEN], qe_u[ECP_PUB_LEN], qh_v[ECP_PUB_LEN], qh_other[ECP_PUB_LEN];
static uint8_t kp[SESS_PROOF_KEY_LEN], rpv[32];

struct side {
	sess_t *s;
	int opened, closed, code, resumes, msgs;
	uint8_t body[64];
	size_t body_len;
};

struct pair {
	struct side c, v;
	const struct sess_resume *store; /* the server's reservation, NULL: none */
	const uint8_t *host;             /* the server's host key (Qh_V) */
};

static void drain(struct pair *p, struct side *d)
{
	struct sess_event ev;
	struct wire_hello_ack a;

	for (;;) {
		assert_int_equal(sess_next(d->s, &ev), 0);
		switch (ev.type) {
		case SESS_EV_NONE:
			return;
		case SESS_EV_HELLO:
			memset(&a, 0, sizeof(a));
			strcpy(a.server_name, "pedhost");
			(void)sess_server_accept(d->s, &a, NULL, p->host);
			break;
		case SESS_EV_HELLO_ACK:
			if (sess_is_resume(d->s)) {
				(void)sess_client_resume(d->s);
			} else {
				uint8_t proof[SESS_PROOF_LEN];
				assert_int_equal(sess_proof(kp, ev.context, qe_u, proof), 0);
				assert_int_equal(sess_client_kex_init(d->s, qs_u, qe_u, proof), 0);
			}
			break;
		case SESS_EV_KEX_INIT:
			assert_int_equal(sess_server_check_proof(d->s, kp), 0);
			assert_int_equal(sess_server_keys(d->s, rpv, sizeof(rpv), ped_static), 0);
			break;
		case SESS_EV_DERIVE: {
			ecp_key_t *qe = NULL;
			kas_keys_t k;
			struct kas_params kp2 = {
				.scheme = KAS_FULL_UNIFIED, .role = KAS_U, .own_static = hsm_static,
				.own_ephem = hsm_ephem, .peer_static = ped_static, .secret = rpv,
				.secret_len = sizeof(rpv), .context = ev.context,
				.context_len = SESS_TRANSCRIPT_LEN,
			};
			assert_int_equal(ecp_import_public(ev.peer_ephem, ECP_PUB_LEN, &qe), 0);
			kp2.peer_ephem = qe;
			assert_int_equal(kas_derive(&kp2, &k), 0);
			assert_int_equal(sess_client_keys(d->s, &k), 0);
			ecp_free(qe);
			break;
		}
		case SESS_EV_RESUME:
			d->resumes++;
			(void)sess_server_resume(d->s, p->store != NULL &&
			    memcmp(p->store->rid, ev.rid, SESS_RID_LEN) == 0 ? p->store : NULL);
			break;
		case SESS_EV_OPEN:
			d->opened++;
			break;
		case SESS_EV_MESSAGE:
			d->msgs++;
			d->body_len = ev.body_len < sizeof(d->body) ? ev.body_len : sizeof(d->body);
			memcpy(d->body, ev.body, d->body_len);
			break;
		case SESS_EV_CLOSED:
			d->closed++;
			d->code = ev.code;
			break;
		default:
			break;
		}
	}
}

static int move(struct pair *p, struct side *from, struct side *to)
{
	const uint8_t *data;
	size_t len;

	sess_output(from->s, &data, &len);
	if (len == 0)
		return 0;
	assert_int_equal(sess_feed(to->s, data, len), 0);
	sess_output_done(from->s, len);
	drain(p, to);
	return 1;
}

static void pump(struct pair *p)
{
	drain(p, &p->c);
	drain(p, &p->v);
	while (move(p, &p->c, &p->v) | move(p, &p->v, &p->c))
		;
}

static void full(struct pair *p)
{
	memset(p, 0, sizeof(*p));
	p->host = qh_v;
	assert_int_equal(sess_client_new("hsmhost", "154704", &p->c.s), 0);
	assert_int_equal(sess_server_new(&p->v.s), 0);
	pump(p);
	assert_int_equal(p->c.opened + p->v.opened, 2);
}

static void resume(struct pair *p, const struct sess_resume *client_st,
		   const struct sess_resume *server_st, const uint8_t *host)
{
	memset(p, 0, sizeof(*p));
	p->store = server_st;
	p->host = host;
	assert_int_equal(sess_client_new_resume("hsmhost", "154704", client_st, &p->c.s), 0);
	assert_int_equal(sess_server_new(&p->v.s), 0);
	pump(p);
}

static void pair_free(struct pair *p)
{
	sess_free(p->c.s);
	sess_free(p->v.s);
}

/* The two exports agree; the record layer of a resumed session works. */
static void test_resume_and_ratchet(void **state)
{
	(void)state;
	struct pair p, q, r;
	struct sess_resume c0, v0, c1, v1, c2, v2;
	const uint8_t ping[] = {1, 0, 7, 'x'};

	full(&p);
	assert_int_equal(sess_resume_export(p.c.s, &c0), 0);
	assert_int_equal(sess_resume_export(p.v.s, &v0), 0);
	assert_memory_equal(&c0, &v0, sizeof(c0));
	assert_memory_equal(c0.qs_u, qs_u, ECP_PUB_LEN);
	assert_memory_equal(c0.qh_v, qh_v, ECP_PUB_LEN);
	/* the link breaks: the old session is gone on both sides */
	pair_free(&p);

	resume(&q, &c0, &v0, qh_v);
	assert_int_equal(q.v.resumes, 1);
	assert_int_equal(q.c.opened + q.v.opened, 2);
	assert_int_equal(q.c.closed + q.v.closed, 0);
	assert_int_equal(sess_send(q.c.s, SESS_MSG_LINK, ping, sizeof(ping)), 0);
	pump(&q);
	assert_int_equal(q.v.msgs, 1);
	assert_memory_equal(q.v.body, ping, sizeof(ping));
	/* the next secret: shared, and not the old one */
	assert_int_equal(sess_resume_export(q.c.s, &c1), 0);
	assert_int_equal(sess_resume_export(q.v.s, &v1), 0);
	assert_memory_equal(&c1, &v1, sizeof(c1));
	assert_memory_not_equal(c1.rs, c0.rs, SESS_RS_LEN);
	assert_memory_not_equal(c1.rid, c0.rid, SESS_RID_LEN);
	pair_free(&q);

	/* and again: each resume ratchets */
	resume(&r, &c1, &v1, qh_v);
	assert_int_equal(r.c.opened + r.v.opened, 2);
	assert_int_equal(sess_resume_export(r.c.s, &c2), 0);
	assert_int_equal(sess_resume_export(r.v.s, &v2), 0);
	assert_memory_equal(&c2, &v2, sizeof(c2));
	assert_memory_not_equal(c2.rs, c1.rs, SESS_RS_LEN);
	pair_free(&r);
}

/* A replayed (used) secret: the server holds only the newer one. */
static void test_replay_refused(void **state)
{
	(void)state;
	struct pair p, q, r;
	struct sess_resume c0, v0, v1;

	full(&p);
	assert_int_equal(sess_resume_export(p.c.s, &c0), 0);
	assert_int_equal(sess_resume_export(p.v.s, &v0), 0);
	pair_free(&p);
	resume(&q, &c0, &v0, qh_v);
	assert_int_equal(q.c.opened + q.v.opened, 2);
	assert_int_equal(sess_resume_export(q.v.s, &v1), 0);
	pair_free(&q);

	resume(&r, &c0, &v1, qh_v);
	assert_int_equal(r.v.resumes, 1);
	assert_int_equal(r.c.opened + r.v.opened, 0);
	assert_int_equal(r.v.code, PED_E_RESUME_UNKNOWN);
	assert_int_equal(r.c.code, PED_E_RESUME_UNKNOWN); /* from V's ERROR */
	pair_free(&r);
	/* nothing kept: a resume with no state at all */
	resume(&r, &c0, NULL, qh_v);
	assert_int_equal(r.v.code, PED_E_RESUME_UNKNOWN);
	pair_free(&r);
}

/* Someone who has the rid (it crossed the network) but not the secret. */
static void test_foreign_secret(void **state)
{
	(void)state;
	struct pair p, q;
	struct sess_resume c0, v0, forged;

	full(&p);
	assert_int_equal(sess_resume_export(p.c.s, &c0), 0);
	assert_int_equal(sess_resume_export(p.v.s, &v0), 0);
	pair_free(&p);
	forged = c0;
	forged.rs[0] ^= 1; /* the right name, a wrong secret */
	resume(&q, &forged, &v0, qh_v);
	assert_int_equal(q.c.opened + q.v.opened, 0);
	assert_int_equal(q.c.code, PED_E_RESUME_REFUSED);
	assert_int_equal(q.v.code, PED_E_RESUME_REFUSED);
	pair_free(&q);
	/* the reservation is unaffected: the real client still resumes */
	resume(&q, &c0, &v0, qh_v);
	assert_int_equal(q.c.opened + q.v.opened, 2);
	pair_free(&q);
}

/* Another pedserver (another host key) answers the resume. */
static void test_wrong_server(void **state)
{
	(void)state;
	struct pair p, q;
	struct sess_resume c0, v0;

	full(&p);
	assert_int_equal(sess_resume_export(p.c.s, &c0), 0);
	assert_int_equal(sess_resume_export(p.v.s, &v0), 0);
	pair_free(&p);
	resume(&q, &c0, &v0, qh_other);
	assert_int_equal(q.c.code, PED_E_RESUME_WRONG_SERVER);
	assert_int_equal(q.c.opened + q.v.opened, 0);
	assert_int_equal(q.v.resumes, 0); /* nothing named to it */
	pair_free(&q);
}

/* A password-mode session or an unopened one has nothing to export. */
static void test_no_state(void **state)
{
	(void)state;
	sess_t *s = NULL;
	struct sess_resume st;

	assert_int_equal(sess_client_new("h", "1", &s), 0);
	assert_int_equal(sess_resume_export(s, &st), PED_E_NOT_FOUND);
	assert_int_equal(sess_client_resume(s), PED_E_INVAL); /* not a resume */
	sess_free(s);
	assert_int_equal(sess_client_new_resume("h", "1", NULL, &s), PED_E_INVAL);
}

/* The reconnect back-off: doubling from 200 ms to 3.2 s, equal jitter. */
static void test_backoff(void **state)
{
	(void)state;
	unsigned a, d;

	for (a = 0; a < 12; a++) {
		d = RESUME_BACKOFF_MIN_MS << (a < 4 ? a : 4);
		assert_int_equal(resume_backoff_ms(a, 0), d / 2);          /* the least */
		assert_int_equal(resume_backoff_ms(a, d / 2), d);          /* the most */
		assert_int_equal(resume_backoff_ms(a, d / 2 + 1), d / 2);  /* wraps */
		assert_true(resume_backoff_ms(a, 0xffffffffu) <= RESUME_BACKOFF_MAX_MS);
	}
	assert_int_equal(resume_backoff_ms(1000000, 7), RESUME_BACKOFF_MAX_MS / 2 + 7);
}

static int setup(void **state)
{
	(void)state;
	ecp_key_t *qs = NULL;
	int r;

	if (ecp_generate(&hsm_static) != 0 || ecp_generate(&hsm_ephem) != 0 ||
	    ecp_generate(&ped_static) != 0 || ecp_generate(&srv_host) != 0 ||
	    ecp_generate(&other_host) != 0 || ecp_export_public(srv_host, qh_v) != 0 ||
	    ecp_export_public(other_host, qh_other) != 0 ||
	    ecp_export_public(hsm_static, qs_u) != 0 || ecp_export_public(hsm_ephem, qe_u) != 0 ||
	    RAND_bytes(rpv, sizeof(rpv)) != 1)
		return -1;
	r = ecp_import_public(qs_u, ECP_PUB_LEN, &qs) != 0 ||
	    sess_proof_key(srv_host, qs, qs_u, qh_v, kp) != 0;
	ecp_free(qs);
	return r ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	ecp_free(hsm_static);
	ecp_free(hsm_ephem);
	ecp_free(ped_static);
	ecp_free(srv_host);
	ecp_free(other_host);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume_and_ratchet),
		cmocka_unit_test(test_replay_refused),
		cmocka_unit_test(test_foreign_secret),
		cmocka_unit_test(test_wrong_server),
		cmocka_unit_test(test_no_state),
		cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
