/* remote.c - a slot's Remote PED session (see remote.h). */
#include "remote.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "session/pake.h"
#include "session/session.h"
#include "session/tlslink.h"
#include "common/sys.h"

#define WRAP_MAX (SHAMIR_ENCODED_MAX + 16)
#define MARGIN_MS 5000u

enum rstate { R_RESOLVE, R_CONNECT, R_HELLO, R_ORANGE, R_OPEN, R_CLOSING };

struct remote {
	uv_loop_t *loop;
	hsm_t *hsm;
	struct remote_opts o;
	struct remote_cbs cbs;
	void *arg;
	char host[256];
	char client[WIRE_STR_MAX + 1];
	char serial[WIRE_STR_MAX + 1];
	char where[300];
	char portstr[8];
	char link[64];         /* PED-initiated: the link's name (o.link_name) */
	char password[PAKE_PW_DIGITS + 1]; /* password mode: until PAKE_A is made */
	int password_mode;

	uv_tcp_t tcp;
	uv_timer_t deadline;   /* handshake / orange key / write / ping timeout */
	uv_timer_t ping;       /* ping interval */
	uv_timer_t idle;       /* idle timeout */
	uv_getaddrinfo_t gai;
	uv_connect_t creq;
	struct addrinfo *ai, *next;
	int gai_pending, tcp_open, tcp_closing, handles, notified, finished;
	unsigned writes;

	sess_t *s;
	enum rstate st;
	struct wire_hello_ack ack;
	int ped_attached;
	char ped_firmware[WIRE_STR_MAX + 1];
	time_t t_connect, t_open, t_last;
	uint64_t ping_nonce;
	int ping_out;

	/* resumption (docs/PROTOCOL.md Part 6) */
	struct sess_resume rsm;  /* the open session's state for a resume */
	int has_rsm, no_resume;  /* no_resume: the PED was unplugged meanwhile */
	int resuming;            /* the link broke: reconnecting to resume */
	uv_timer_t retry;        /* the back-off between attempts */
	uint64_t lost_at;        /* uv_now at the loss */
	unsigned attempt, resumes;
	uint64_t last_resume_ms; /* how long the last resume took */

	/* the running PED operation */
	int op_running;
	uint64_t op_until;       /* uv_now past which a result is not awaited */
	uint16_t op_id, next_id;
	uint8_t op_type;
	struct pedport_owner owner;

	int err;
	char msg[300];
};

static void flush(remote_t *r);
static void finish(remote_t *r, int err, const char *fmt, ...) PED_PRINTF(3, 4);
static void link_lost(remote_t *r, int err, const char *fmt, ...) PED_PRINTF(3, 4);
static void schedule_retry(remote_t *r);
static void resumed(remote_t *r);
static int resume_failed(remote_t *r, const struct sess_event *ev);

/* ---- teardown ---- */

static void maybe_free(remote_t *r)
{
	if (r->handles > 0 || r->gai_pending || r->tcp_closing)
		return;
	if (r->ai != NULL)
		uv_freeaddrinfo(r->ai);
	if (!r->notified && r->cbs.on_connected != NULL)
		r->cbs.on_connected(r->arg, r->err != 0 ? r->err : PED_E_DISCONNECTED, r->msg);
	r->notified = 1;
	if (r->cbs.on_closed != NULL)
		r->cbs.on_closed(r->arg, r->err, r->msg);
	sess_free(r->s);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

static void handle_closed(uv_handle_t *h)
{
	remote_t *r = h->data;

	r->handles--;
	maybe_free(r);
}

static void try_next(remote_t *r);

/* A failed connect attempt's socket is closed before the next is made. */
static void tcp_closed(uv_handle_t *h)
{
	remote_t *r = h->data;

	r->tcp_closing = 0;
	if (r->finished)
		maybe_free(r); /* close_handles counted the socket as closed */
	else if (r->resuming)
		schedule_retry(r);
	else
		try_next(r);
}

static void close_handles(remote_t *r)
{
	if (r->gai_pending)
		uv_cancel((uv_req_t *)&r->gai);
	uv_close((uv_handle_t *)&r->deadline, handle_closed);
	uv_close((uv_handle_t *)&r->ping, handle_closed);
	uv_close((uv_handle_t *)&r->idle, handle_closed);
	uv_close((uv_handle_t *)&r->retry, handle_closed);
	if (r->tcp_open) {
		r->tcp_open = 0;
		uv_close((uv_handle_t *)&r->tcp, handle_closed);
	} else {
		r->handles--;
	}
}

static void end_op(remote_t *r, int err)
{
	pedhost_result_t *res;
	struct pedport_owner o = r->owner;

	if (!r->op_running)
		return;
	r->op_running = 0;
	memset(&r->owner, 0, sizeof(r->owner));
	if ((res = calloc(1, sizeof(*res))) == NULL)
		return;
	res->op = r->op_type;
	res->status = err;
	if (r->finished) /* the session ended: say why and with whom */
		snprintf(res->message, sizeof(res->message), "%.*s", (int)sizeof(res->message) - 1,
			 r->msg);
	if (o.on_result != NULL)
		o.on_result(o.arg, res);
	free(res);
}

static void on_linger(uv_timer_t *t)
{
	close_handles(t->data);
}

static void finish(remote_t *r, int err, const char *fmt, ...)
{
	va_list ap;

	if (r->finished)
		return;
	r->finished = 1;
	r->err = err;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
		va_end(ap);
	}
	r->st = R_CLOSING;
	r->resuming = 0;
	resume_wipe(&r->rsm);
	r->has_rsm = 0;
	uv_timer_stop(&r->retry);
	OPENSSL_cleanse(r->password, sizeof(r->password));
	hsm_pake_abort(r->hsm); /* one attempt per ped connect -password */
	uv_timer_stop(&r->ping);
	uv_timer_stop(&r->idle);
	end_op(r, err != 0 ? err : PED_E_DISCONNECTED);
	if (!r->notified && err != 0) {
		r->notified = 1;
		if (r->cbs.on_connected != NULL)
			r->cbs.on_connected(r->arg, err, r->msg);
	}
	/* let the last frames (ERROR, DISCONNECT) go out, bounded */
	flush(r);
	/* then, off any handshake's path, the next connect's ephemeral */
	(void)hsm_chan_prepare(r->hsm);
	if (r->writes > 0 && r->tcp_open) {
		uv_timer_start(&r->deadline, on_linger, 1000, 0);
		return;
	}
	uv_timer_stop(&r->deadline);
	close_handles(r);
}

/* ---- writing ---- */

struct wreq {
	uv_write_t req;
	remote_t *r;
	size_t len;
	uint8_t data[];
};

static void on_deadline(uv_timer_t *t);

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	remote_t *r = w->r;

	OPENSSL_cleanse(w->data, w->len);
	free(w);
	r->writes--;
	if (r->finished) {
		if (r->writes == 0 && uv_is_active((uv_handle_t *)&r->deadline)) {
			uv_timer_stop(&r->deadline);
			close_handles(r);
		}
		return;
	}
	if (status == UV_ECANCELED && r->resuming)
		return; /* the broken connection's last writes */
	if (status < 0)
		link_lost(r, PED_E_IO, "connection to %s lost: %s", r->where, uv_strerror(status));
	else if (r->writes == 0 && r->st == R_OPEN && !r->ping_out && r->notified)
		uv_timer_stop(&r->deadline); /* else it is the pong or confirmation deadline */
}

static void flush(remote_t *r)
{
	const uint8_t *data;
	struct wreq *w;
	size_t len;
	uv_buf_t b;

	if (r->s == NULL || !r->tcp_open)
		return;
	sess_output(r->s, &data, &len);
	if (len == 0)
		return;
	if ((w = malloc(sizeof(*w) + len)) == NULL) {
		finish(r, PED_E_NOMEM, "out of memory");
		return;
	}
	w->r = r;
	w->len = len;
	memcpy(w->data, data, len);
	sess_output_done(r->s, len);
	b = uv_buf_init((char *)w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, on_written) != 0) {
		OPENSSL_cleanse(w->data, len);
		free(w);
		link_lost(r, PED_E_IO, "connection to %s lost", r->where);
		return;
	}
	r->writes++;
	/* a write that does not complete in time drops the session */
	if (r->st == R_OPEN && !r->finished && !uv_is_active((uv_handle_t *)&r->deadline))
		uv_timer_start(&r->deadline, on_deadline, r->o.write_timeout_ms, 0);
}

/* ---- timers ---- */

static void on_deadline(uv_timer_t *t)
{
	remote_t *r = t->data;

	switch (r->st) {
	case R_ORANGE:
		finish(r, PED_E_PED_TIMEOUT, "%s: the orange key was not presented in time",
		       r->where);
		break;
	case R_OPEN:
		if (!r->notified)
			finish(r, PED_E_HANDSHAKE_TIMEOUT,
			       "%s did not confirm the session within %u ms", r->where,
			       r->o.handshake_ms);
		else if (r->ping_out)
			link_lost(r, PED_E_PEER_TIMEOUT, "%s stopped answering (no pong within %u s)",
				  r->where, r->o.ping_timeout_ms / 1000);
		else
			link_lost(r, PED_E_IO, "%s: a write did not complete within %u s", r->where,
				  r->o.write_timeout_ms / 1000);
		break;
	default:
		if (r->resuming) { /* this attempt is over: the next one */
			link_lost(r, PED_E_HANDSHAKE_TIMEOUT, "%s did not answer the resume within "
				  "%u ms", r->where, r->o.handshake_ms);
			break;
		}
		finish(r, PED_E_HANDSHAKE_TIMEOUT, "%s did not complete the handshake within %u ms",
		       r->where, r->o.handshake_ms);
		break;
	}
}

static void on_ping(uv_timer_t *t)
{
	remote_t *r = t->data;

	if (r->st != R_OPEN || r->ping_out)
		return;
	if (RAND_bytes((unsigned char *)&r->ping_nonce, sizeof(r->ping_nonce)) != 1)
		r->ping_nonce++;
	if (sess_ping(r->s, r->ping_nonce) != 0) {
		finish(r, PED_E_IO, "%s: cannot send a ping", r->where);
		return;
	}
	r->ping_out = 1;
	flush(r);
	uv_timer_start(&r->deadline, on_deadline, r->o.ping_timeout_ms, 0);
}

static void on_idle(uv_timer_t *t)
{
	remote_t *r = t->data;

	if (r->op_running) {
		uv_timer_again(&r->idle);
		return;
	}
	log_info("remote PED session with %s idle for %u s: closing", r->where,
		 r->o.idle_timeout_ms / 1000);
	sess_disconnect(r->s, PED_E_IDLE_TIMEOUT, "idle timeout");
	finish(r, PED_E_IDLE_TIMEOUT, "the session with %s was idle for %u s", r->where,
	       r->o.idle_timeout_ms / 1000);
}

static void touch(remote_t *r)
{
	r->t_last = time(NULL);
	if (r->o.idle_timeout_ms > 0 && r->st == R_OPEN)
		uv_timer_start(&r->idle, on_idle, r->o.idle_timeout_ms, r->o.idle_timeout_ms);
}

/* ---- the PED link inside the session ---- */

static int get_share(remote_t *r, pbuf_t *b, pedhost_share_t *sh)
{
	uint8_t wrapped[WRAP_MAX];
	size_t len = 0, outlen = 0;
	uint8_t wrap;
	int e;

	if ((e = link_get_str(b, sh->serial, sizeof(sh->serial))) != 0 ||
	    (e = link_get_blob(b, &wrap, wrapped, sizeof(wrapped), &len)) != 0)
		return e;
	if (wrap != 1) /* a CSP must travel wrapped */
		e = PED_E_UNWRAP;
	else
		e = sess_unwrap(r->s, wrapped, len, sh->data, sizeof(sh->data), &outlen);
	OPENSSL_cleanse(wrapped, sizeof(wrapped));
	if (e != 0)
		return e;
	sh->wrap = 0;
	sh->len = (uint16_t)outlen;
	return 0;
}

static int decode_result(remote_t *r, pbuf_t *b, pedhost_result_t *res)
{
	uint16_t status;
	uint8_t count = 0;
	unsigned i;
	int e;

	if ((e = pbuf_get_u16(b, &status)) != 0)
		return e;
	res->status = -(int)status;
	if (status != 0)
		return pbuf_expect_end(b);
	if (res->op == LINK_CREATE_KEYSET) {
		if ((e = pbuf_get_u8(b, &res->reused)) != 0 || (e = pbuf_get_u8(b, &res->m)) != 0 ||
		    (e = pbuf_get_u8(b, &res->n)) != 0 ||
		    (e = pbuf_get_bytes(b, res->keyset, LINK_KEYSET_ID_LEN)) != 0 ||
		    (e = pbuf_get_u8(b, &res->keys_written)) != 0)
			return e;
		if (!res->reused)
			return pbuf_expect_end(b);
	} else {
		if ((e = pbuf_get_u8(b, &res->m)) != 0 || (e = pbuf_get_u8(b, &res->n)) != 0 ||
		    (e = pbuf_get_bytes(b, res->keyset, LINK_KEYSET_ID_LEN)) != 0)
			return e;
	}
	if ((e = pbuf_get_u8(b, &count)) != 0)
		return e;
	if (count > PEDHOST_MAX_KEYS)
		return PED_E_TOO_LONG;
	for (i = 0; i < count; i++)
		if ((e = get_share(r, b, &res->shares[i])) != 0)
			return e;
	res->count = count;
	return pbuf_expect_end(b);
}

static int decode_event(pbuf_t *b, pedhost_event_t *ev)
{
	uint8_t n;
	unsigned i;
	int e;

	if ((e = pbuf_get_u8(b, &ev->kind)) != 0)
		return e;
	switch (ev->kind) {
	case LINK_EV_PROMPT:
		if ((e = pbuf_get_u8(b, &n)) != 0)
			return e;
		if (n > 8)
			return PED_E_TOO_LONG;
		for (i = 0; i < n; i++)
			if ((e = link_get_str(b, ev->lines[i], sizeof(ev->lines[i]))) != 0)
				return e;
		ev->nlines = n;
		break;
	case LINK_EV_KEYS_READ:
		if ((e = pbuf_get_u8(b, &ev->k)) != 0 || (e = pbuf_get_u8(b, &ev->m)) != 0)
			return e;
		break;
	case LINK_EV_KEY_WRITTEN:
		if ((e = pbuf_get_u8(b, &ev->k)) != 0 || (e = pbuf_get_u8(b, &ev->n)) != 0 ||
		    (e = link_get_str(b, ev->serial, sizeof(ev->serial))) != 0)
			return e;
		break;
	case LINK_EV_NEED_SHARES:
		if ((e = pbuf_get_u8(b, &ev->m)) != 0 || (e = pbuf_get_u8(b, &ev->n)) != 0)
			return e;
		break;
	default:
		return PED_E_PARSE;
	}
	return pbuf_expect_end(b);
}

static void on_link(remote_t *r, const uint8_t *body, size_t len)
{
	pedhost_event_t ev;
	pedhost_result_t *res;
	uint8_t type;
	uint16_t id, status;
	pbuf_t b;
	int e;

	pbuf_from(&b, body, len);
	if (pbuf_get_u8(&b, &type) != 0 || pbuf_get_u16(&b, &id) != 0) {
		finish(r, PED_E_PARSE, "%s sent a malformed PED message", r->where);
		return;
	}
	if (!r->op_running || id != r->op_id)
		return; /* late answers of a cancelled operation */
	touch(r);
	switch (type) {
	case LINK_EVENT:
		memset(&ev, 0, sizeof(ev));
		if (decode_event(&b, &ev) != 0)
			return; /* an event we do not know: ignored */
		if (r->owner.on_event != NULL)
			r->owner.on_event(r->owner.arg, &ev);
		break;
	case LINK_RESULT:
	case LINK_ERROR:
		if ((res = calloc(1, sizeof(*res))) == NULL) {
			end_op(r, PED_E_NOMEM);
			return;
		}
		res->op = r->op_type;
		if (type == LINK_ERROR) {
			e = pbuf_get_u16(&b, &status);
			if (e == 0)
				e = link_get_str(&b, res->message, sizeof(res->message));
			res->status = e == 0 ? -(int)status : PED_E_PARSE;
			if (res->status == 0)
				res->status = PED_E_BAD_REQUEST;
		} else if ((e = decode_result(r, &b, res)) != 0) {
			OPENSSL_cleanse(res, sizeof(*res));
			res->op = r->op_type;
			res->status = e;
			snprintf(res->message, sizeof(res->message),
				 "malformed PED result from %.100s: %s", r->where, ped_strerror(e));
		}
		{
			struct pedport_owner o = r->owner;
			r->op_running = 0;
			memset(&r->owner, 0, sizeof(r->owner));
			if (o.on_result != NULL)
				o.on_result(o.arg, res);
		}
		OPENSSL_cleanse(res, sizeof(*res));
		free(res);
		break;
	default:
		break;
	}
}

/* ---- the handshake ---- */

/* KEX_INIT or PAKE_A is queued: the key holder now walks to the PED (the
 * PED's timeout bounds the wait), the console says so, the frame goes out. */
static void await_ped(remote_t *r)
{
	r->st = R_ORANGE;
	uv_timer_start(&r->deadline, on_deadline,
		       (r->o.ped_timeout_ms ? r->o.ped_timeout_ms : LINK_DEFAULT_TIMEOUT_MS) +
			       MARGIN_MS,
		       0);
	if (r->cbs.on_attend != NULL)
		r->cbs.on_attend(r->arg);
	flush(r);
}

static int do_kex_init(remote_t *r, const struct sess_event *ev)
{
	uint8_t qs[ECP_PUB_LEN], qe[ECP_PUB_LEN], proof[SESS_PROOF_LEN];
	int e;

	if ((e = hsm_static_public(r->hsm, qs)) != 0 || (e = hsm_chan_ephemeral(r->hsm, qe)) != 0 ||
	    (e = hsm_key_proof(r->hsm, ev->peer_static, ev->context, qe, proof)) != 0)
		return e;
	if ((e = sess_client_kex_init(r->s, qs, qe, proof)) != 0)
		return e;
	/* KEX_INIT out now: the server reads the orange key while the HSM
	 * derives (SESS_EV_DERIVE, next) */
	await_ped(r);
	return 0;
}

/* Password mode: the HSM's SPAKE2 share; the key holder now types the
 * password on the PED (bounded by the PED's timeout). */
static int do_pake(remote_t *r)
{
	uint8_t qs[ECP_PUB_LEN], pa[ECP_PUB_LEN];
	int e;

	e = hsm_pake_begin(r->hsm, r->password, strlen(r->password), pa);
	OPENSSL_cleanse(r->password, sizeof(r->password));
	if (e != 0 || (e = hsm_static_public(r->hsm, qs)) != 0 ||
	    (e = sess_client_pake(r->s, qs, pa)) != 0)
		return e;
	await_ped(r);
	return 0;
}

static int do_keys(remote_t *r, const struct sess_event *ev)
{
	struct hsm_chan_params p;
	kas_keys_t keys;
	int e;

	if (r->password_mode) {
		e = hsm_pake_finish(r->hsm, sess_server_name(r->s), ev->peer_ephem, ev->context,
				    SESS_TRANSCRIPT_LEN, &keys);
		if (e == 0)
			e = sess_client_keys(r->s, &keys);
		OPENSSL_cleanse(&keys, sizeof(keys));
		return e;
	}
	memset(&p, 0, sizeof(p));
	p.scheme = KAS_FULL_UNIFIED;
	p.peer_ephem = ev->peer_ephem;
	p.peer_static = NULL; /* the PED-side key stored at RPV initialization */
	p.use_rpv = 1;
	p.context = ev->context;
	p.context_len = SESS_TRANSCRIPT_LEN;
	e = hsm_channel_keys(r->hsm, &p, &keys, NULL);
	if (e == 0)
		e = sess_client_keys(r->s, &keys);
	OPENSSL_cleanse(&keys, sizeof(keys));
	return e;
}

/* V's first record: V verified our key confirmation, the session is open */
static void confirmed(remote_t *r)
{
	if (r->notified)
		return;
	r->notified = 1;
	if (!r->ping_out)
		uv_timer_stop(&r->deadline);
	if (r->cbs.on_connected != NULL)
		r->cbs.on_connected(r->arg, 0, "");
}

static void pw_wrong(remote_t *r)
{
	finish(r, PED_E_PASSWORD_INCORRECT,
	       "the password entered on the PED at %s does not match; it is burned: run ped "
	       "connect -password again for a new one", r->where);
}

static void on_event(remote_t *r, const struct sess_event *ev)
{
	int e;

	switch (ev->type) {
	case SESS_EV_HELLO_ACK:
		r->ack = ev->ack;
		r->ped_attached = ev->ack.ped_attached;
		snprintf(r->ped_firmware, sizeof(r->ped_firmware), "%s", ev->ack.ped_firmware);
		if (ev->ack.busy)
			return; /* ERROR SERVER_BUSY and CLOSED follow */
		if (r->resuming) { /* no orange key: RESUME_INIT, then KEX_REPLY */
			if ((e = sess_client_resume(r->s)) != 0 && sess_state(r->s) != SESS_ST_CLOSED)
				finish(r, e, "%s: resume: %s", r->where, ped_strerror(e));
			break;
		}
		if ((e = r->password_mode ? do_pake(r) : do_kex_init(r, ev)) != 0)
			finish(r, e, "%s: key exchange: %s", r->where, ped_strerror(e));
		break;
	case SESS_EV_DERIVE:
		/* KEX_REPLY (MacTag_V) then opens the session or says RPV_MISMATCH;
		 * in password mode confB was checked here already */
		if ((e = do_keys(r, ev)) == PED_E_PASSWORD_INCORRECT)
			pw_wrong(r);
		else if (e != 0)
			finish(r, e, "%s: key exchange: %s", r->where, ped_strerror(e));
		break;
	case SESS_EV_OPEN:
		/* open on our side once KEX_CONFIRM is out; the console hears of it
		 * with V's first record (V sends PED_STATE as it opens), so a
		 * KEX_CONFIRM that V rejects is reported as that failure */
		r->st = R_OPEN;
		if (!r->no_resume && sess_resume_export(r->s, &r->rsm) == 0)
			r->has_rsm = 1;
		if (r->resuming) {
			resumed(r);
		} else {
			r->t_open = time(NULL);
			uv_timer_start(&r->deadline, on_deadline, r->o.handshake_ms, 0);
		}
		uv_timer_start(&r->ping, on_ping, r->o.ping_interval_ms, r->o.ping_interval_ms);
		touch(r);
		break;
	case SESS_EV_MESSAGE:
		confirmed(r);
		if (ev->msg_type == SESS_MSG_LINK) {
			on_link(r, ev->body, ev->body_len);
		} else if (ev->msg_type == SESS_MSG_PED_STATE) {
			pbuf_t b;
			uint8_t att;
			char fw[WIRE_STR_MAX + 1];
			pbuf_from(&b, ev->body, ev->body_len);
			if (pbuf_get_u8(&b, &att) == 0 && wire_get_str(&b, fw) == 0) {
				r->ped_attached = att;
				snprintf(r->ped_firmware, sizeof(r->ped_firmware), "%s", fw);
				if (!att) {
					end_op(r, PED_E_UNPLUGGED);
					/* the PED forgot the orange key: no resume */
					r->no_resume = 1;
					r->has_rsm = 0;
					resume_wipe(&r->rsm);
				}
			}
		}
		break;
	case SESS_EV_PONG:
		confirmed(r);
		if (ev->nonce == r->ping_nonce && r->ping_out) {
			r->ping_out = 0;
			if (r->writes == 0)
				uv_timer_stop(&r->deadline);
		}
		break;
	case SESS_EV_CLOSED:
		if (r->resuming && resume_failed(r, ev))
			break;
		if (ev->code == PED_E_SERVER_BUSY)
			finish(r, PED_E_SERVER_BUSY, "the PED server %s is serving another HSM%s%s",
			       r->where, r->ack.holder[0] ? ": " : "", r->ack.holder);
		else if (ev->code == PED_E_PASSWORD_INCORRECT)
			pw_wrong(r);
		else if (ev->code == PED_E_RPV_MISMATCH || ev->code == PED_E_KC_FAILED)
			finish(r, PED_E_RPV_MISMATCH,
			       "the orange key presented at %s does not belong to this HSM "
			       "(wrong RPV or PED key)", r->where);
		else if (ev->code == 0)
			finish(r, PED_E_DISCONNECTED, "%s closed the session%s%s", r->where,
			       ev->reason[0] ? ": " : "", ev->reason);
		else
			finish(r, ev->code, "%s: %s%s%s", r->where, ped_strerror(ev->code),
			       ev->reason[0] ? ": " : "", ev->reason);
		break;
	default:
		break;
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char rbuf[16384];
	(void)h;
	(void)hint;
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	remote_t *r = st->data;
	struct sess_event ev;
	int e;

	if (r->finished)
		return;
	if (nread < 0) {
		link_lost(r, r->st == R_OPEN ? PED_E_DISCONNECTED : PED_E_IO,
			  "%s closed the connection%s", r->where,
			  r->st == R_OPEN ? "" : " during the handshake");
		return;
	}
	if (nread == 0)
		return;
	e = sess_feed(r->s, (const uint8_t *)buf->base, (size_t)nread);
	OPENSSL_cleanse(buf->base, (size_t)nread);
	while (!r->finished && r->tcp_open) { /* a link_lost closes the socket */
		memset(&ev, 0, sizeof(ev));
		if (sess_next(r->s, &ev) != 0 && ev.type == SESS_EV_NONE)
			break;
		if (ev.type == SESS_EV_NONE)
			break;
		on_event(r, &ev);
		flush(r);
	}
	if (r->finished || !r->tcp_open)
		return;
	if (e != 0)
		finish(r, e, "%s: %s", r->where, ped_strerror(e));
	if (!r->finished && sess_state(r->s) == SESS_ST_CLOSED)
		finish(r, PED_E_DISCONNECTED, "%s: session closed", r->where);
	flush(r);
}

/* ---- resumption (docs/PROTOCOL.md Part 6) ---- */

static void say(remote_t *r, const char *fmt, ...) PED_PRINTF(2, 3);
static void say(remote_t *r, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->cbs.on_link != NULL)
		r->cbs.on_link(r->arg, msg);
}

/* The connection broke (or a resume attempt failed): resume if the session
 * can, else end it with err. The running PED operation stays pending: its
 * result comes after the resume (the server keeps it), or it ends with the
 * session. */
static void link_lost(remote_t *r, int err, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	if (r->finished || (r->resuming && !r->tcp_open))
		return; /* the loss is being handled */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a PED-initiated link (Part 5) is dialled by pedserver, not by us: no
	 * resume over it yet */
	if (!r->resuming && (r->o.resume_window_ms == 0 || !r->has_rsm || r->st != R_OPEN ||
			     !r->notified || r->o.link_name != NULL || r->ai == NULL)) {
		finish(r, err, "%s", msg);
		return;
	}
	if (!r->resuming) {
		r->resuming = 1;
		r->lost_at = uv_now(r->loop);
		r->attempt = 0;
		log_warning("remote PED session with %s: network lost (%s): resuming, for up to %u s",
			    r->where, ped_errname(err), r->o.resume_window_ms / 1000);
		say(r, "Network lost to %s (%s): resuming...", r->where, msg);
	} else {
		log_info("remote PED session with %s: resume attempt %u failed: %s", r->where,
			 r->attempt, msg);
	}
	uv_timer_stop(&r->deadline);
	uv_timer_stop(&r->ping);
	uv_timer_stop(&r->idle);
	r->ping_out = 0;
	r->st = R_CONNECT;
	sess_free(r->s);
	r->s = NULL;
	if (r->tcp_open) { /* tcp_closed schedules the next attempt */
		r->tcp_open = 0;
		r->tcp_closing = 1;
		uv_close((uv_handle_t *)&r->tcp, tcp_closed);
	} else if (!r->tcp_closing) {
		schedule_retry(r);
	}
}

static void on_retry(uv_timer_t *t)
{
	remote_t *r = t->data;

	if (r->finished || !r->resuming)
		return;
	r->attempt++;
	r->next = r->ai;
	uv_timer_start(&r->deadline, on_deadline, r->o.handshake_ms, 0);
	try_next(r);
}

/* The next attempt after a back-off with jitter, within the window. */
static void schedule_retry(remote_t *r)
{
	uint64_t spent = uv_now(r->loop) - r->lost_at, left;
	uint32_t rnd = 0;
	unsigned ms;

	if (spent >= r->o.resume_window_ms) {
		finish(r, PED_E_RESUME_EXPIRED, "the link to %s did not come back within %u s; the "
		       "session is over (ped connect again, with the orange key)", r->where,
		       r->o.resume_window_ms / 1000);
		return;
	}
	left = r->o.resume_window_ms - spent;
	/* the operation waits for its result within its own timeout only */
	if (r->op_running && uv_now(r->loop) >= r->op_until) {
		log_warning("remote PED session with %s: no result for the PED operation within its "
			    "timeout while resuming (PED_TIMEOUT)", r->where);
		end_op(r, PED_E_PED_TIMEOUT);
	}
	(void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
	ms = resume_backoff_ms(r->attempt, rnd);
	uv_timer_start(&r->retry, on_retry, ms < left ? ms : left, 0);
}

/* The resumed session is open. */
static void resumed(remote_t *r)
{
	r->resuming = 0;
	r->resumes++;
	r->last_resume_ms = uv_now(r->loop) - r->lost_at;
	uv_timer_stop(&r->deadline);
	log_info("remote PED session with %s resumed after %llu.%01llu s (attempt %u)%s", r->where,
		 (unsigned long long)(r->last_resume_ms / 1000),
		 (unsigned long long)(r->last_resume_ms % 1000 / 100), r->attempt,
		 r->op_running ? "; the PED operation's result is awaited" : "");
	say(r, "Resumed the session with %s after %llu.%01llu s.", r->where,
	    (unsigned long long)(r->last_resume_ms / 1000),
	    (unsigned long long)(r->last_resume_ms % 1000 / 100));
}

/* A resume attempt was refused: 1 if that ends the session (said), 0 to
 * try again (the server may be restarting its listener, say). */
static int resume_failed(remote_t *r, const struct sess_event *ev)
{
	switch (ev->code) {
	case PED_E_RESUME_UNKNOWN:
	case PED_E_RESUME_REFUSED:
	case PED_E_RESUME_WRONG_SERVER:
	case PED_E_SERVER_BUSY:
		finish(r, ev->code, "%s: the session cannot be resumed: %s%s%s (ped connect again, "
		       "with the orange key)", r->where, ped_strerror(ev->code),
		       ev->reason[0] ? ": " : "", ev->reason);
		return 1;
	default:
		link_lost(r, ev->code != 0 ? ev->code : PED_E_DISCONNECTED, "%s: %s", r->where,
			  ped_strerror(ev->code != 0 ? ev->code : PED_E_DISCONNECTED));
		return 1;
	}
}

/* ---- connecting ---- */

static void connected(remote_t *r);

static void on_connect(uv_connect_t *req, int status)
{
	remote_t *r = req->data;

	if (r->finished || status == UV_ECANCELED) /* ECANCELED: the socket is closing */
		return;
	if (status < 0) {
		if (r->next != NULL || r->resuming) { /* the next address, or a later attempt */
			r->tcp_open = 0;
			r->tcp_closing = 1;
			uv_close((uv_handle_t *)&r->tcp, tcp_closed);
			return;
		}
		finish(r, PED_E_IO, "cannot connect to %s: %s", r->where, uv_strerror(status));
		return;
	}
	connected(r);
}

/* The TCP connection (or the PED-initiated link) is there: say HELLO. */
static void connected(remote_t *r)
{
	int e;

	r->st = R_HELLO;
	r->t_connect = time(NULL);
	sess_free(r->s); /* a failed resume attempt's */
	r->s = NULL;
	e = r->resuming ? sess_client_new_resume(r->client, r->serial, &r->rsm, &r->s)
	    : r->password_mode ? sess_client_new_password(r->client, r->serial, &r->s)
			       : sess_client_new(r->client, r->serial, &r->s);
	if (e != 0) {
		finish(r, e, "cannot start a session: %s", ped_strerror(e));
		return;
	}
	if (uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) != 0) {
		finish(r, PED_E_IO, "cannot read from %s", r->where);
		return;
	}
	flush(r);
}

static void try_next(remote_t *r)
{
	struct addrinfo *a = r->next;

	r->next = a->ai_next;
	if (uv_tcp_init(r->loop, &r->tcp) != 0) {
		finish(r, PED_E_IO, "cannot create a socket");
		return;
	}
	r->tcp.data = r;
	r->tcp_open = 1;
	uv_tcp_nodelay(&r->tcp, 1);
	r->creq.data = r;
	r->st = R_CONNECT;
	if (uv_tcp_connect(&r->creq, &r->tcp, a->ai_addr, on_connect) != 0) {
		if (r->next != NULL || r->resuming) {
			r->tcp_open = 0;
			r->tcp_closing = 1;
			uv_close((uv_handle_t *)&r->tcp, tcp_closed);
			return;
		}
		finish(r, PED_E_IO, "cannot connect to %s", r->where);
	}
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	remote_t *r = req->data;

	r->gai_pending = 0;
	if (status == UV_ECANCELED || r->finished) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		if (r->finished)
			maybe_free(r);
		return;
	}
	if (status < 0 || res == NULL) {
		finish(r, PED_E_NOT_FOUND, "cannot resolve %s: %s", r->host, uv_strerror(status));
		return;
	}
	r->ai = r->next = res;
	try_next(r);
}

int remote_connect(uv_loop_t *loop, hsm_t *hsm, const struct remote_opts *o,
		   const struct remote_cbs *cbs, void *arg, remote_t **out)
{
	struct addrinfo hints;
	remote_t *r;

	*out = NULL;
	if (o->host == NULL || strlen(o->host) > 253 || o->port < 1 || o->port > 65535)
		return PED_E_INVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return PED_E_NOMEM;
	r->loop = loop;
	r->hsm = hsm;
	r->o = *o;
	if (r->o.handshake_ms == 0)
		r->o.handshake_ms = REMOTE_HANDSHAKE_MS;
	if (r->o.write_timeout_ms == 0)
		r->o.write_timeout_ms = 20000;
	if (r->o.ping_interval_ms == 0)
		r->o.ping_interval_ms = 60000;
	if (r->o.ping_timeout_ms == 0)
		r->o.ping_timeout_ms = 30000;
	r->cbs = *cbs;
	r->arg = arg;
	snprintf(r->host, sizeof(r->host), "%s", o->host);
	snprintf(r->client, sizeof(r->client), "%s", o->client_name);
	snprintf(r->serial, sizeof(r->serial), "%s", o->serial);
	snprintf(r->where, sizeof(r->where), "%s:%d", o->host, o->port);
	snprintf(r->portstr, sizeof(r->portstr), "%d", o->port);
	if (o->password != NULL) {
		if (pake_password_check(o->password, strlen(o->password)) != 0) {
			OPENSSL_cleanse(r, sizeof(*r));
			free(r);
			return PED_E_INVAL;
		}
		memcpy(r->password, o->password, PAKE_PW_DIGITS);
		r->password_mode = 1;
	}
	r->next_id = 1;
	uv_timer_init(loop, &r->deadline);
	uv_timer_init(loop, &r->ping);
	uv_timer_init(loop, &r->idle);
	uv_timer_init(loop, &r->retry);
	r->deadline.data = r->ping.data = r->idle.data = r->retry.data = r;
	r->handles = 5; /* four timers and the tcp handle (counted even if never opened) */
	r->gai.data = r;
	if (o->link_name != NULL) { /* PED-initiated: the link is there already */
		snprintf(r->link, sizeof(r->link), "%s", o->link_name);
		r->o.link_name = r->link;
		snprintf(r->where, sizeof(r->where), "PED-initiated link %s", o->link_name);
		uv_timer_start(&r->deadline, on_deadline, r->o.handshake_ms, 0);
		*out = r;
		if (uv_tcp_init(loop, &r->tcp) == 0) {
			r->tcp.data = r;
			r->tcp_open = 1;
			if (uv_tcp_open(&r->tcp, (uv_os_sock_t)o->link_fd) == 0) {
				connected(r);
				return 0;
			}
		}
		tlslink_drop_fd(loop, o->link_fd); /* not taken by r->tcp */
		finish(r, PED_E_IO, "cannot use the PED-initiated link %s", o->link_name);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	r->st = R_RESOLVE;
	uv_timer_start(&r->deadline, on_deadline, r->o.handshake_ms, 0);
	if (uv_getaddrinfo(loop, &r->gai, on_resolved, r->host, r->portstr, &hints) != 0) {
		uv_timer_stop(&r->deadline);
		r->finished = 1;
		r->notified = 1;
		memset(&r->cbs, 0, sizeof(r->cbs));
		close_handles(r);
		return PED_E_NOT_FOUND;
	}
	r->gai_pending = 1;
	*out = r;
	return 0;
}

int remote_is_resuming(const remote_t *r)
{
	return r != NULL && r->resuming && !r->finished;
}

int remote_is_password(const remote_t *r)
{
	return r != NULL && r->password_mode;
}

int remote_is_open(const remote_t *r)
{
	return r != NULL && r->st == R_OPEN && r->notified && !r->finished;
}

const char *remote_where(const remote_t *r)
{
	return r->where;
}

static int send_link(remote_t *r, uint8_t type, uint16_t id, const uint8_t *payload, size_t len)
{
	uint8_t body[LINK_MAX_PAYLOAD + 3];
	int e;

	if (len > LINK_MAX_PAYLOAD)
		return PED_E_TOO_LONG;
	body[0] = type;
	body[1] = (uint8_t)(id >> 8);
	body[2] = (uint8_t)id;
	if (len > 0) /* CANCEL, STATUS... have no payload (and may pass NULL) */
		memcpy(body + 3, payload, len);
	e = sess_send(r->s, SESS_MSG_LINK, body, len + 3);
	OPENSSL_cleanse(body, len + 3);
	if (e == 0) {
		flush(r);
		touch(r);
	}
	return e;
}

int remote_start(remote_t *r, const struct pedreq *q, const struct pedport_owner *owner)
{
	uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b;
	int e;

	if (remote_is_resuming(r))
		return PED_E_RESUMING;
	if (!remote_is_open(r))
		return PED_E_UNPLUGGED;
	if (r->op_running)
		return PED_E_PED_BUSY;
	if (!r->ped_attached)
		return PED_E_UNPLUGGED;
	pbuf_over(&b, mem, sizeof(mem));
	if ((e = pbuf_put_u8(&b, q->key_type)) != 0 || (e = pbuf_put_u32(&b, q->timeout_ms)) != 0 ||
	    (e = link_put_str(&b, q->title)) != 0)
		return e;
	if (q->op == LINK_READ_KEYSET) {
		static const uint8_t zero[LINK_KEYSET_ID_LEN];
		e = pbuf_put_bytes(&b, q->any_keyset ? zero : q->keyset, LINK_KEYSET_ID_LEN);
	} else {
		if ((e = link_put_str(&b, q->label)) == 0)
			e = pbuf_put_u8(&b, q->allow_reuse ? 1 : 0);
	}
	if (e != 0)
		return e;
	if (++r->next_id == 0)
		r->next_id = 1;
	r->op_id = r->next_id;
	r->op_type = q->op;
	r->owner = *owner;
	r->op_running = 1;
	r->op_until = uv_now(r->loop) +
		      (q->timeout_ms ? q->timeout_ms : LINK_DEFAULT_TIMEOUT_MS) + MARGIN_MS;
	if ((e = send_link(r, q->op, r->op_id, b.data, b.len)) != 0) {
		r->op_running = 0;
		memset(&r->owner, 0, sizeof(r->owner));
	}
	return e;
}

int remote_send_shares(remote_t *r, const uint8_t keyset[LINK_KEYSET_ID_LEN],
		       const shamir_share_t *shares, unsigned count)
{
	uint8_t mem[LINK_MAX_PAYLOAD], enc[SHAMIR_ENCODED_MAX], wrapped[WRAP_MAX];
	size_t wlen = 0;
	pbuf_t b, eb;
	unsigned i;
	int e;

	if (!remote_is_open(r) || !r->op_running)
		return PED_E_BAD_REQUEST;
	if (count == 0 || count > SHAMIR_MAX_N)
		return PED_E_RANGE;
	pbuf_over(&b, mem, sizeof(mem));
	if ((e = pbuf_put_bytes(&b, keyset, LINK_KEYSET_ID_LEN)) != 0 ||
	    (e = pbuf_put_u8(&b, (uint8_t)count)) != 0)
		goto out;
	for (i = 0; i < count; i++) {
		pbuf_over(&eb, enc, sizeof(enc));
		if ((e = shamir_share_encode(&shares[i], &eb)) != 0 ||
		    (e = sess_wrap(r->s, enc, eb.len, wrapped, sizeof(wrapped), &wlen)) != 0 ||
		    (e = link_put_blob(&b, 1, wrapped, wlen)) != 0)
			goto out;
	}
	e = send_link(r, LINK_SHARES, r->op_id, b.data, b.len);
out:
	OPENSSL_cleanse(mem, sizeof(mem));
	OPENSSL_cleanse(enc, sizeof(enc));
	OPENSSL_cleanse(wrapped, sizeof(wrapped));
	return e;
}

void remote_cancel(remote_t *r)
{
	if (remote_is_open(r) && r->op_running)
		send_link(r, LINK_CANCEL, r->op_id, NULL, 0);
}

void remote_disconnect(remote_t *r, const char *reason)
{
	if (r == NULL || r->finished)
		return;
	if (r->s != NULL && r->st == R_OPEN)
		sess_disconnect(r->s, 0, reason);
	finish(r, 0, "disconnected: %s", reason);
}

static void fmt_time(time_t t, char *out, size_t len)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(out, len, "-");
	else
		strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void remote_describe(const remote_t *r, void (*fn)(void *arg, const char *line), void *arg)
{
	static const char *const states[] = {
		[R_RESOLVE] = "resolving", [R_CONNECT] = "connecting", [R_HELLO] = "hello",
		[R_ORANGE] = "waiting for the orange key", [R_OPEN] = "open",
		[R_CLOSING] = "closing"};
	char line[1024], t1[40], t2[40];
	time_t now = time(NULL);

	snprintf(line, sizeof(line), "Remote PED server:  %s", r->where);
	fn(arg, line);
	snprintf(line, sizeof(line), "Mode:               %s", r->o.link_name != NULL
		 ? "PED-initiated (pedserver dialled in over TLS)" : "HSM-initiated");
	fn(arg, line);
	snprintf(line, sizeof(line), "Server:             %s (%s)",
		 r->ack.server_name[0] ? r->ack.server_name : "-",
		 r->ack.software[0] ? r->ack.software : "-");
	fn(arg, line);
	snprintf(line, sizeof(line), "PED:                %s%s%s%s",
		 r->ped_attached ? "attached" : "not attached",
		 r->ped_firmware[0] ? ", firmware " : "", r->ped_firmware,
		 r->ack.ped_protocol[0] ? "" : "");
	fn(arg, line);
	if (r->resuming)
		snprintf(line, sizeof(line), "Session:            network lost %llu s ago, resuming "
			 "(attempt %u, window %u s)",
			 (unsigned long long)((uv_now(r->loop) - r->lost_at) / 1000), r->attempt,
			 r->o.resume_window_ms / 1000);
	else
		snprintf(line, sizeof(line), "Session:            %s", states[r->st]);
	fn(arg, line);
	if (r->resumes > 0) {
		snprintf(line, sizeof(line), "Resumed:            %u time%s, the last after %llu.%01llu s",
			 r->resumes, r->resumes == 1 ? "" : "s",
			 (unsigned long long)(r->last_resume_ms / 1000),
			 (unsigned long long)(r->last_resume_ms % 1000 / 100));
		fn(arg, line);
	}
	fmt_time(r->t_open, t1, sizeof(t1));
	fmt_time(r->t_last, t2, sizeof(t2));
	snprintf(line, sizeof(line), "Connected since:    %s (%ld s)", t1,
		 r->t_open ? (long)(now - r->t_open) : 0L);
	fn(arg, line);
	snprintf(line, sizeof(line), "Last activity:      %s (idle %ld s, idle timeout %u s)", t2,
		 r->t_last ? (long)(now - r->t_last) : 0L, r->o.idle_timeout_ms / 1000);
	fn(arg, line);
}
