/* server.c - pedserver's server port: accepts pedclient connections and
 * serves the session protocol (session/wire.h, session/session.h). A HELLO
 * with purpose PROBE gets a HELLO_ACK describing this server and its PED
 * and the connection closes. A HELLO with purpose SESSION is handed, bytes
 * and all, to a sess_t (the state machine); this file owns its I/O, its
 * deadlines and the PED (pedatt) on its behalf:
 *   HELLO      -> busy (the slot is held, or another handshake is reading
 *                 the orange key) or accept: HELLO_ACK + KEX_SHARE with the
 *                 ephemeral key made ahead (the next one is made once that
 *                 is written)
 *   KEX_INIT   -> READ_RPK on the PED (the PED prompts for the orange key),
 *                 recombine RPV || d_PED, sess_server_keys, wipe
 *   OPEN       -> the slot is taken; PED requests from the client are relayed
 *                 (relay.c), one at a time, with the PED's events and result
 *   PAKE_A     -> (password mode, PROTOCOL.md Part 4) OTP on the PED: the key
 *                 holder types the one-time password the HSM showed;
 *                 sess_server_password, wipe
 *   CLOSED     -> the slot is free; a pending PED operation is cancelled
 * Anything malformed gets a logged reason and the connection is closed; the
 * server keeps serving.
 *
 * Each connection embeds its handles (socket, three timers) and is freed in
 * the last close callback; they are initialised as they become needed: the
 * socket at accept, `timer` once the source is admitted, `ping` and `idle`
 * when the session opens. The timer `timer` is the handshake deadline of
 * the step that waits on the client (HandshakeTimeout, or the socket read
 * timeout if shorter, for the HELLO), the ping deadline once the session is
 * open, and the write deadline while the last bytes drain. The wait for the
 * orange key is bounded by the PED operation timeout (pedhost), not by the
 * handshake deadline. `ping` sends a ping every PingInterval; `idle` ends
 * the session after IdleTimeout without a user operation (pings do not
 * count). Until the HELLO is parsed the frame header is checked before the
 * payload is read, so no more than one bounded buffer is used per
 * connection; a session's bytes then go to sess_feed in chunks of that
 * buffer. */
#include "pedserver/pedserver.h"
#include "pedserver/admit.h"
#include "pedserver/allow.h"
#include "pedserver/penalty.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/atomic.h"
#include "common/audit.h"
#include "common/buf.h"
#include "common/daemon.h"
#include "common/err.h"
#include "common/log.h"
#include "session/pake.h"
#include "session/tlslink.h"
#include "session/wire.h"
#include "common/sys.h"

#define MAX_LISTEN 3
#define ADDR_MAX 64
#define BACKLOG 511
#define PROOF_CACHE 16
#define HOST_KEY_FILE "server.key"
/* The kernel filter is rebuilt at most this often while sources are being
 * blocked (between two, a blocked source is refused at accept). */
#define PENALTY_REFRESH_MS 100

/* One queued write: the bytes are copied out of the session's queue. */
struct wreq {
	uv_write_t w;
	struct conn *c;
	size_t len;
	uint8_t data[];
};

struct conn {
	server_t *srv;
	uv_tcp_t tcp;
	uv_timer_t timer, ping, idle;
	uv_write_t wr;
	uint8_t in[WIRE_HDR_LEN + WIRE_MAX_HELLO];
	size_t inlen;
	pbuf_t out;
	char peer[ADDR_MAX + 8], ip[ADDR_MAX];
	unsigned open_handles;
	bool has_timer;      /* `timer` initialised: only once admitted */
	bool session_timers; /* `ping` and `idle` initialised: only once open */
	bool closing, answered;
	bool pre;            /* counted by admission: not (yet) an open session */
	struct conn *pre_next, *pre_prev; /* the server's pre-session list, while pre */
	uint8_t key[ADMIT_KEY_LEN]; /* its source */
	uint8_t addr[PENALTY_ADDR_LEN]; /* its address (penalties), if has_addr */
	bool has_addr;
	unsigned slot;              /* its source's admission entry, while pre */
	/* a session (HELLO purpose SESSION) */
	sess_t *sess;
	struct wire_hello hello;
	bool draining;       /* the session is over: close once written */
	unsigned writes;     /* uv_writes in flight */
	bool reading_rpk;    /* the handshake's PED operation under way: READ_RPK,
			      * OTP in password mode, or ALLOW_HSM (allow_ask) */
	bool allow_ask;      /* the PED asks the key holder to allow this HSM */
	bool proved;         /* the HSM proved its static key (or the session is open) */
	bool have_qs;
	uint8_t qs[ECP_PUB_LEN];     /* its static key (KEX_INIT or PAKE_A) */
	uint64_t ped_start;          /* uv_now when the handshake's PED wait began */
	uint16_t rpk_id;
	bool op;             /* a relayed PED operation under way */
	uint8_t op_type;
	uint8_t op_key_type; /* CREATE_KEYSET, READ_KEYSET: the key type */
	uint16_t op_cid, op_pid; /* the client's request id, pedhost's */
	char op_title[WIRE_STR_MAX + 1]; /* its title on the PED: the audit's role */
	bool ping_out;
	uint64_t ping_nonce;
	bool no_resume;      /* the PED was unplugged in this session: no resume */
	bool suspended;      /* its link broke; the server holds it for a resume */
	time_t t_hello, t_open, t_last;
	int trail_code; /* how the session ended, for the audit trail */
	char since[32];
	struct conn *prev, *next;
};

struct server {
	uv_loop_t *loop;
	pedatt_t *ped;
	uv_tcp_t listener[MAX_LISTEN];
	unsigned nlisten, open_handles;
	char addrs[2 * ADDR_MAX + 4];
	struct conn *conns;
	unsigned nconns;
	unsigned npre, max_pre;  /* pre-session connections, and their cap */
	struct conn *pre, *pre_last; /* the pre-session connections, oldest first */
	admit_t *admit;
	penalty_t *pen;              /* per-source penalties (penalty.h) */
	uv_timer_t pen_timer;        /* rebuilds the kernel filter: changes, expiries */
	uint64_t pen_attached;       /* uv_now of the last rebuild */
	bool pen_force;              /* rebuild even if no source changed (reload) */
	bool pen_nofilter;           /* the system has no kernel filter: said once */
	bool pen_ready;              /* pen_timer initialised */
	struct penalty_cfg pen_cfg;
	struct penalty_prefix pen_list[PENALTY_SOURCES];
	struct sys_syn_rule pen_rules[PENALTY_EXEMPT_MAX + PENALTY_SOURCES];
	unsigned read_ms, write_ms, handshake_ms, ping_ms, ping_timeout_ms, idle_ms, ped_op_ms;
	struct conn *holder; /* the open session: the slot */
	struct conn *hs;     /* a handshake past KEX_INIT (the PED reads its key) */
	struct resv resv;    /* the PED reserved for a resuming HSM (resume.c) */
	uv_timer_t resv_timer;
	unsigned resume_ms;
	char hostname[WIRE_STR_MAX + 1];
	ecp_key_t *next_ephem; /* the next handshake's ephemeral, made ahead */
	ecp_key_t *host;       /* the host key (Qh_V of KEX_SHARE): key proofs */
	uint8_t host_pub[ECP_PUB_LEN];
	struct {               /* Kp per HSM static key, the newest PROOF_CACHE */
		uint8_t qs[ECP_PUB_LEN];
		uint8_t kp[SESS_PROOF_KEY_LEN];
	} proof[PROOF_CACHE];
	unsigned proof_n;
	struct server_stats stats;
	allow_t *allow;               /* the HSM allowlist (allow.h) */
	enum allow_policy policy;     /* HsmPolicy */
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

/* ---- connections ---- */

static void maybe_done(server_t *s)
{
	if (s->closing && s->open_handles == 0 && s->conns == NULL) {
		if (s->done != NULL)
			s->done(s->done_arg);
		ecp_free(s->next_ephem);
		ecp_free(s->host);
		admit_free(s->admit);
		penalty_free(s->pen);
		allow_free(s->allow);
		OPENSSL_cleanse(s->proof, sizeof(s->proof));
		free(s);
	}
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	server_t *s = c->srv;

	if (--c->open_handles > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	pbuf_release(&c->out);
	sess_free(c->sess);
	OPENSSL_cleanse(c->in, sizeof(c->in));
	free(c);
	maybe_done(s);
}

static void release_slot(struct conn *c);
static void hold_for_resume(struct conn *c);
static bool reserved_for_other(const struct conn *c);
static void send_link(struct conn *c, const uint8_t *body, size_t len);
static void link_status(struct conn *c, uint16_t cid, int status);

/* c is no longer a pre-session connection (it opened, or it closes). */
static void leave_pre(struct conn *c)
{
	if (!c->pre)
		return;
	c->pre = false;
	if (c->pre_prev != NULL)
		c->pre_prev->pre_next = c->pre_next;
	else
		c->srv->pre = c->pre_next;
	if (c->pre_next != NULL)
		c->pre_next->pre_prev = c->pre_prev;
	else
		c->srv->pre_last = c->pre_prev;
	c->srv->npre--;
	admit_leave(c->srv->admit, c->key);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	leave_pre(c);
	release_slot(c);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	if (c->has_timer)
		uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	if (c->session_timers) {
		uv_close((uv_handle_t *)&c->ping, conn_handle_closed);
		uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
	}
}

static unsigned hello_ms(const server_t *s)
{
	return s->read_ms < s->handshake_ms ? s->read_ms : s->handshake_ms;
}

static void on_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	if (status < 0 && status != UV_ECANCELED)
		log_limited(LOG_LVL_WARNING, "write failed", c->ip,
			    "client %s: write failed: %s", c->peer, uv_strerror(status));
	conn_close(c);
}

/* ---- penalties (penalty.h): the kernel filter of blocked sources ---- */

static void pen_arm(server_t *s, uint64_t delay);

/* Rebuilds the listeners' filters from the exempt list (accepted first: an
 * exempt HSM inside a blocked IPv6 /64 still gets in) and the blocked
 * sources, if they changed; then waits for the next expiry. */
static void on_pen_timer(uv_timer_t *t)
{
	server_t *s = t->data;
	uint64_t now = uv_now(s->loop);
	size_t n = 0, nb;
	int64_t next;
	int r = 0;

	if (penalty_changed(s->pen, now) || s->pen_force) {
		s->pen_force = false;
		s->pen_attached = now;
		nb = penalty_blocked_list(s->pen, now, s->pen_list, PENALTY_SOURCES);
		s->stats.penalised = (unsigned)nb;
		for (size_t i = 0; nb > 0 && i < s->pen_cfg.nexempt; i++) {
			memcpy(s->pen_rules[n].addr, s->pen_cfg.exempt[i].addr, PENALTY_ADDR_LEN);
			s->pen_rules[n].bits = s->pen_cfg.exempt[i].bits;
			s->pen_rules[n++].drop = false;
		}
		for (size_t i = 0; i < nb; i++) {
			memcpy(s->pen_rules[n].addr, s->pen_list[i].addr, PENALTY_ADDR_LEN);
			s->pen_rules[n].bits = s->pen_list[i].bits;
			s->pen_rules[n++].drop = true;
		}
		for (unsigned i = 0; i < s->nlisten && !s->pen_nofilter; i++) {
			if ((r = sys_syn_filter(&s->listener[i], s->pen_rules, n)) == PED_E_NO_SOCKET_FILTER) {
				log_info("no kernel filter of new connections on this system: penalised "
					 "sources are refused at accept");
				s->pen_nofilter = true;
			} else if (r < 0) {
				log_limited(LOG_LVL_WARNING, "socket filter", "", "cannot filter "
					    "penalised sources in the kernel: %s; they are refused at accept",
					    strerror(errno));
			} else if ((size_t)r < n) {
				log_limited(LOG_LVL_WARNING, "socket filter", "", "the kernel filter holds "
					    "%d of %zu penalised sources; the rest are refused at accept",
					    r - (int)(n - nb), nb);
			}
		}
		s->stats.penalty_filter = !s->pen_nofilter && r >= 0;
	}
	if ((next = penalty_next_expiry(s->pen, now)) >= 0)
		pen_arm(s, (uint64_t)next);
}

/* Runs on_pen_timer within delay ms (sooner if it was due sooner). */
static void pen_arm(server_t *s, uint64_t delay)
{
	if (s->closing)
		return;
	if (uv_is_active((uv_handle_t *)&s->pen_timer) && uv_timer_get_due_in(&s->pen_timer) <= delay)
		return;
	uv_timer_start(&s->pen_timer, on_pen_timer, delay, 0);
}

static const char *const pen_reason[PENALTY_KINDS] = {
	[PENALTY_NO_HELLO] = "connections closed before their HELLO",
	[PENALTY_EVICTED] = "silent connections evicted",
	[PENALTY_HELLO_TIMEOUT] = "HELLO deadlines missed",
	[PENALTY_REFUSED] = "connections refused for the source's rate or cap",
};

/* c's source did something penalty.h counts. */
static void penalise(struct conn *c, enum penalty_kind kind)
{
	server_t *s = c->srv;
	uint64_t now = uv_now(s->loop), since;

	if (!c->has_addr)
		return;
	switch (penalty_add(s->pen, c->addr, kind, now)) {
	case PENALTY_ACTIVATED:
		s->stats.penalties++;
		s->stats.penalised++;
		log_limited(LOG_LVL_WARNING, "penalised", c->ip, "client %s: source penalised for "
			    "%llu s (%s); its new connections are dropped until then", c->ip,
			    (unsigned long long)(penalty_left(s->pen, c->addr, now) / 1000),
			    pen_reason[kind]);
		audit_refusal("PENALISED", c->ip);
		since = now - s->pen_attached;
		pen_arm(s, since >= PENALTY_REFRESH_MS ? 0 : PENALTY_REFRESH_MS - since);
		break;
	case PENALTY_FULL:
		log_limited(LOG_LVL_WARNING, "penalty table full", c->ip, "client %s: not penalised: "
			    "%u sources are penalised already", c->ip, PENALTY_SOURCES);
		break;
	default:
		break;
	}
}

/* c ended before its HELLO (it sent none, or not all of it). */
static bool no_hello(const struct conn *c)
{
	return c->sess == NULL && !c->answered;
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->answered)
		log_limited(LOG_LVL_WARNING, "write timed out", c->ip,
			    "client %s: write timed out; closing", c->peer);
	else
		log_limited(LOG_LVL_WARNING, "no complete HELLO", c->ip, "client %s: no complete "
			    "HELLO within %u ms; closing", c->peer, hello_ms(c->srv));
	if (!c->answered)
		penalise(c, PENALTY_HELLO_TIMEOUT);
	audit_refusal(c->answered ? "WRITE_TIMEOUT" : "HELLO_TIMEOUT", c->ip);
	c->srv->stats.refused++;
	conn_close(c);
}

/* Sends one frame (already in c->out), then closes. */
static void send_and_close(struct conn *c)
{
	uv_buf_t b = uv_buf_init((char *)pbuf_ptr(&c->out), (unsigned)pbuf_avail(&c->out));
	int r;

	c->answered = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_timer_start(&c->timer, on_timer, c->srv->write_ms, 0);
	c->wr.data = c;
	if ((r = uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written)) != 0) {
		log_limited(LOG_LVL_WARNING, "cannot write", c->ip,
			    "client %s: cannot write: %s", c->peer, uv_strerror(r));
		conn_close(c);
	}
}

/* Answers ERROR code/message (logged with the reason) and closes. */
static void refuse(struct conn *c, int code, const char *fmt, ...)
	PED_PRINTF(3, 4);
static void refuse(struct conn *c, int code, const char *fmt, ...)
{
	struct wire_error e = {0};
	pbuf_t body;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	log_limited(LOG_LVL_WARNING, ped_errname(code), c->ip, "client %s: %s (%s); closing",
		    c->peer, e.message, ped_errname(code));
	audit_refusal(ped_errname(code), c->ip);
	c->srv->stats.refused++;
	e.code = (uint16_t)-code;
	pbuf_init(&body, WIRE_MAX_HELLO);
	if (wire_error_encode(&e, &body) != 0 ||
	    wire_frame(&c->out, WIRE_ERROR, pbuf_ptr(&body), pbuf_avail(&body)) != 0) {
		pbuf_release(&body);
		conn_close(c);
		return;
	}
	pbuf_release(&body);
	send_and_close(c);
}

static void answer_probe(struct conn *c, const struct wire_hello *h)
{
	server_t *s = c->srv;
	const pedhost_info_t *info = pedatt_info(s->ped);
	struct wire_hello_ack a = {0};
	pbuf_t body;

	a.version = WIRE_VERSION;
	snprintf(a.server_name, sizeof(a.server_name), "%s", s->hostname);
	snprintf(a.software, sizeof(a.software), "pedserver %s", PEDSERVER_VERSION);
	a.ped_attached = info != NULL;
	if (info != NULL) {
		snprintf(a.ped_firmware, sizeof(a.ped_firmware), "%s", info->firmware);
		snprintf(a.ped_protocol, sizeof(a.ped_protocol), "%u", info->version);
	}
	a.busy = 0;
	pbuf_init(&body, WIRE_MAX_HELLO);
	if (wire_hello_ack_encode(&a, &body) != 0 ||
	    wire_frame(&c->out, WIRE_HELLO_ACK, pbuf_ptr(&body), pbuf_avail(&body)) != 0) {
		pbuf_release(&body);
		refuse(c, PED_E_INTERNAL, "cannot encode the answer");
		return;
	}
	pbuf_release(&body);
	s->stats.probes++;
	log_info("client %s (%s): probe answered, PED %s", c->peer, h->client_name,
		 info != NULL ? "attached" : "not attached");
	send_and_close(c);
}

/* ---- sessions ---- */

static void sess_pump(struct conn *c);

static void utc_now(char *out, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, cap, "?");
}

static const char *hsm_name(const struct conn *c)
{
	return c->hello.hsm_serial[0] != '\0' ? c->hello.hsm_serial : "(no serial)";
}

/* "HSM <serial> at <addr> since <UTC>" */
static const char *what_key(const struct conn *c)
{
	return sess_is_password(c->sess) ? "one-time password" : "orange key";
}

/* An HSM is named only once it has proved its key: a serial in a HELLO is
 * a claim anyone can make. */
static void holder_text(const struct conn *c, char *out, size_t cap)
{
	if (c->proved)
		snprintf(out, cap, "HSM %.64s at %s since %s UTC", hsm_name(c), c->ip, c->since);
	else
		snprintf(out, cap, "a connection from %s in handshake", c->ip);
}

/* Frees the slot (or the handshake's claim on the PED) and cancels the PED
 * operation c has under way; its RESULT is then dropped. */
static void release_slot(struct conn *c)
{
	server_t *s = c->srv;
	pedhost_t *h = pedatt_host(s->ped);
	time_t now = time(NULL);

	if (c->reading_rpk && h != NULL)
		(void)pedhost_cancel(h, c->rpk_id);
	if (c->op && h != NULL)
		(void)pedhost_cancel(h, c->op_pid);
	c->reading_rpk = c->op = false;
	if (s->hs == c)
		s->hs = NULL;
	if (s->holder == c) {
		s->holder = NULL;
		/* a suspended session's time is counted when it finally ends */
		if (!c->suspended)
			s->stats.session_total_s += (uint64_t)(now - c->t_open);
		s->stats.session_idle_s += (uint64_t)(now - c->t_last);
		if (c->suspended) {
			log_session(LOG_LVL_WARNING, "client %s (HSM %s): link lost after %ld s; the "
				    "PED is reserved for it to resume for %u s", c->peer,
				    hsm_name(c), (long)(now - c->t_open), s->resume_ms / 1000);
			audit_event("session_suspended", "peer:s hsm:s window:l", c->peer,
				    hsm_name(c), (long long)(s->resume_ms / 1000));
		} else {
			log_session(LOG_LVL_INFO, "client %s (HSM %s): session closed after %ld s; "
				    "the PED is free", c->peer, hsm_name(c), (long)(now - c->t_open));
			trail_session_close(c->peer, hsm_name(c), c->trail_code, c->t_open);
		}
	}
	if (c->session_timers) {
		uv_timer_stop(&c->ping);
		uv_timer_stop(&c->idle);
	}
}

static void on_wreq(uv_write_t *w, int status)
{
	struct wreq *q = (struct wreq *)w;
	struct conn *c = q->c;

	OPENSSL_cleanse(q->data, q->len);
	free(q);
	c->writes--;
	if (status < 0 && status != UV_ECANCELED && !c->closing)
		log_limited(LOG_LVL_WARNING, "write failed", c->ip,
			    "client %s: write failed: %s", c->peer, uv_strerror(status));
	if (status < 0)
		hold_for_resume(c);
	if (status < 0 || (c->draining && c->writes == 0))
		conn_close(c);
}

/* Writes what the session queued. */
static void sess_flush(struct conn *c)
{
	const uint8_t *p;
	size_t n;
	struct wreq *q;
	uv_buf_t b;

	if (c->closing || c->sess == NULL)
		return;
	sess_output(c->sess, &p, &n);
	if (n > 0) {
		if ((q = malloc(sizeof(*q) + n)) == NULL) {
			conn_close(c);
			return;
		}
		q->c = c;
		q->len = n;
		memcpy(q->data, p, n);
		sess_output_done(c->sess, n);
		b = uv_buf_init((char *)q->data, (unsigned)n);
		if (uv_write(&q->w, (uv_stream_t *)&c->tcp, &b, 1, on_wreq) != 0) {
			OPENSSL_cleanse(q->data, n);
			free(q);
			conn_close(c);
			return;
		}
		c->writes++;
	}
	if (c->draining && c->writes == 0)
		conn_close(c);
}

/* Ends the session with code (sess_disconnect: ERROR or DISCONNECT for the
 * client), then processes the CLOSED event. */
static void sess_end(struct conn *c, int code, const char *reason)
{
	sess_disconnect(c->sess, code, reason);
	sess_pump(c);
}

static void on_hs_deadline(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (sess_state(c->sess) == SESS_ST_OPEN) { /* the ping deadline */
		log_warning("client %s (HSM %s): no answer to a ping within %u s; dropping the "
			    "session (PEER_TIMEOUT)", c->peer, hsm_name(c),
			    c->srv->ping_timeout_ms / 1000);
		hold_for_resume(c); /* the link is gone, not the HSM: no DISCONNECT */
		if (c->suspended)
			conn_close(c);
		else
			sess_end(c, PED_E_PEER_TIMEOUT, "no answer to pings");
		return;
	}
	if (c->draining) {
		log_limited(LOG_LVL_WARNING, "write timed out", c->ip,
			    "client %s: write timed out; closing", c->peer);
		conn_close(c);
		return;
	}
	log_limited(LOG_LVL_WARNING, "handshake timeout", c->ip, "client %s (HSM %s): handshake "
		    "step not completed within %u ms (HANDSHAKE_TIMEOUT); closing", c->peer,
		    hsm_name(c), c->srv->handshake_ms);
	audit_refusal("HANDSHAKE_TIMEOUT", c->ip);
	c->srv->stats.refused++;
	sess_end(c, PED_E_HANDSHAKE_TIMEOUT, "handshake deadline passed");
}

static void arm_deadline(struct conn *c, unsigned ms)
{
	uv_timer_start(&c->timer, on_hs_deadline, ms, 0);
}

static void on_ping(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (sess_state(c->sess) != SESS_ST_OPEN || c->ping_out)
		return;
	if (RAND_bytes((uint8_t *)&c->ping_nonce, sizeof(c->ping_nonce)) != 1)
		c->ping_nonce++;
	if (sess_ping(c->sess, c->ping_nonce) != 0)
		return;
	c->ping_out = true;
	arm_deadline(c, c->srv->ping_timeout_ms);
	sess_flush(c);
}

static void on_idle(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->op) { /* a PED operation counts as use while it runs */
		uv_timer_start(&c->idle, on_idle, c->srv->idle_ms, 0);
		return;
	}
	log_info("client %s (HSM %s): session idle for %u s; closing (IDLE_TIMEOUT)", c->peer,
		 hsm_name(c), c->srv->idle_ms / 1000);
	sess_end(c, PED_E_IDLE_TIMEOUT, "idle timeout");
}

/* A user operation: the idle clock starts again. */
static void touch(struct conn *c)
{
	c->t_last = time(NULL);
	if (c->srv->idle_ms > 0 && c->session_timers && sess_state(c->sess) == SESS_ST_OPEN)
		uv_timer_start(&c->idle, on_idle, c->srv->idle_ms, 0);
}

static void fill_ack(server_t *s, struct wire_hello_ack *a)
{
	const pedhost_info_t *info = pedatt_info(s->ped);

	memset(a, 0, sizeof(*a));
	a->version = WIRE_VERSION;
	snprintf(a->server_name, sizeof(a->server_name), "%s", s->hostname);
	snprintf(a->software, sizeof(a->software), "pedserver %s", PEDSERVER_VERSION);
	a->ped_attached = info != NULL;
	if (info != NULL) {
		snprintf(a->ped_firmware, sizeof(a->ped_firmware), "%s", info->firmware);
		snprintf(a->ped_protocol, sizeof(a->ped_protocol), "%u", info->version);
	}
}

/* The slot's holder, or the handshake reading the orange key. */
static const struct conn *busy_with(const server_t *s)
{
	return s->holder != NULL ? s->holder : s->hs;
}

/* Makes the next handshake's ephemeral key while no handshake waits on it
 * (at start, and once a KEX_SHARE went out): a key generation less on the
 * handshake's path. If it fails, sess_server_accept makes its own. */
static void make_next_ephemeral(server_t *s)
{
	int r;

	if (!s->closing && s->next_ephem == NULL && (r = ecp_generate(&s->next_ephem)) != 0)
		log_warning("cannot make an ephemeral key ahead: %s", ped_errname(r));
}

static void ev_hello(struct conn *c, const struct sess_event *ev)
{
	server_t *s = c->srv;
	const struct conn *h = busy_with(s);
	struct wire_hello_ack a;
	int r;

	c->hello = ev->hello;
	fill_ack(s, &a);
	if (h != NULL || reserved_for_other(c)) {
		a.busy = 1;
		if (h != NULL)
			holder_text(h, a.holder, sizeof(a.holder));
		else
			resv_holder_text(&s->resv, a.holder, sizeof(a.holder));
		log_limited(LOG_LVL_WARNING, "busy", c->ip, "client %s (claims HSM %s): refused, "
			    "the PED serves %s (SERVER_BUSY)", c->peer, hsm_name(c), a.holder);
		audit_refusal("SERVER_BUSY", c->ip);
		s->stats.busy++;
		sess_server_busy(c->sess, &a);
		return;
	}
	log_info("client %s (%s, HSM %s): session hello accepted", c->peer,
		 c->hello.client_name, hsm_name(c));
	r = sess_server_accept(c->sess, &a, s->next_ephem, s->host_pub);
	s->next_ephem = NULL; /* taken; sess_pump makes the next once written */
	if (r == 0)
		arm_deadline(c, s->handshake_ms);
}

/* ---- resumption (docs/PROTOCOL.md Part 6; the reservation is resume.c) ---- */

/* The PED is reserved for a resuming HSM, and c is neither its resume nor a
 * new orange-key session of that same HSM (say pedclient restarted; its key
 * proof then comes before anything is dropped). */
static bool reserved_for_other(const struct conn *c)
{
	const struct resv *v = &c->srv->resv;

	return v->on && c->hello.purpose != WIRE_PURPOSE_RESUME &&
	       !(c->hello.purpose == WIRE_PURPOSE_SESSION && strcmp(c->hello.hsm_serial, v->hsm) == 0);
}

static void on_resv_expired(uv_timer_t *t)
{
	server_t *s = t->data;
	struct resv *v = &s->resv;
	pedhost_t *h = pedatt_host(s->ped);

	if (!v->on)
		return;
	if (v->op && v->result == NULL && h != NULL)
		(void)pedhost_cancel(h, v->op_pid); /* the PED goes back to idle */
	log_warning("client %s (HSM %s): did not resume within %u s (RESUME_WINDOW_EXPIRED)%s; "
		    "the PED is free", v->peer, v->hsm, s->resume_ms / 1000,
		    v->op ? v->result != NULL ? "; the PED operation's result is dropped"
					      : "; the PED operation is cancelled" : "");
	trail_session_close(v->peer, v->hsm, PED_E_RESUME_EXPIRED, v->t_open);
	s->stats.resume_expired++;
	s->stats.session_total_s += (uint64_t)(time(NULL) - v->t_open);
	resv_drop(v);
}

/* Drops the reservation (a reason to log, or NULL), cancelling its operation. */
static void resv_end(server_t *s, const char *why)
{
	struct resv *v = &s->resv;
	pedhost_t *h = pedatt_host(s->ped);

	if (!v->on)
		return;
	if (v->op && v->result == NULL && h != NULL)
		(void)pedhost_cancel(h, v->op_pid);
	if (why != NULL) {
		log_warning("HSM %s: the PED is no longer reserved for its resume: %s", v->hsm, why);
		trail_session_close(v->peer, v->hsm, PED_E_DISCONNECTED, v->t_open);
		s->stats.session_total_s += (uint64_t)(time(NULL) - v->t_open);
	}
	uv_timer_stop(&s->resv_timer);
	resv_drop(v);
}

/* c's open session lost its link (EOF, reset, write failure, pings): keep
 * its resumption state and PED operation for ResumeWindow, unless resuming
 * is off or the PED was unplugged meanwhile. release_slot then logs it. */
static void hold_for_resume(struct conn *c)
{
	server_t *s = c->srv;
	struct resv *v = &s->resv;
	struct sess_resume st;

	if (s->holder != c || c->suspended || c->draining || s->resume_ms == 0 || c->no_resume ||
	    s->closing || sess_state(c->sess) != SESS_ST_OPEN ||
	    sess_resume_export(c->sess, &st) != 0)
		return;
	resv_hold(v, &st, s->resume_ms / 1000);
	resume_wipe(&st);
	snprintf(v->hsm, sizeof(v->hsm), "%s", c->hello.hsm_serial);
	snprintf(v->client, sizeof(v->client), "%s", c->hello.client_name);
	snprintf(v->peer, sizeof(v->peer), "%s", c->peer);
	snprintf(v->ip, sizeof(v->ip), "%s", c->ip);
	snprintf(v->since, sizeof(v->since), "%s", c->since);
	v->t_open = c->t_open;
	v->password = sess_is_password(c->sess);
	if (c->op) { /* the PED operation goes on: its result waits for the resume */
		v->op = true;
		v->op_type = c->op_type;
		v->op_key_type = c->op_key_type;
		v->op_cid = c->op_cid;
		v->op_pid = c->op_pid;
		memcpy(v->op_title, c->op_title, sizeof(v->op_title));
		c->op = false;
	}
	c->suspended = true;
	c->trail_code = PED_E_DISCONNECTED;
	uv_timer_start(&s->resv_timer, on_resv_expired, s->resume_ms, 0);
}

/* RESUME_INIT named a secret: the reserved one, or none (refused, counted;
 * the reservation is not touched). */
static void ev_resume(struct conn *c, const struct sess_event *ev)
{
	server_t *s = c->srv;

	if (resv_match(&s->resv, ev->rid) && s->holder == NULL) {
		(void)sess_server_resume(c->sess, &s->resv.st);
		arm_deadline(c, s->handshake_ms);
		return;
	}
	log_limited(LOG_LVL_WARNING, "resume refused", c->ip, "client %s (HSM %s): resume "
		    "refused: no session holds that secret (stale, replayed or foreign) "
		    "(RESUME_UNKNOWN)", c->peer, hsm_name(c));
	audit_refusal("RESUME_UNKNOWN", c->ip);
	s->stats.resume_refused++;
	s->stats.refused++;
	(void)sess_server_resume(c->sess, NULL);
}

/* A resume opened: c takes the reserved session's place, its operation and,
 * if the PED answered meanwhile, the result (delivered now, once). */
static void resumed(struct conn *c)
{
	server_t *s = c->srv;
	struct resv *v = &s->resv;
	uint8_t m[LINK_MAX_PAYLOAD + 3];
	size_t n = 0;
	int r;

	snprintf(c->hello.hsm_serial, sizeof(c->hello.hsm_serial), "%s", v->hsm);
	snprintf(c->hello.client_name, sizeof(c->hello.client_name), "%s", v->client);
	snprintf(c->since, sizeof(c->since), "%s", v->since);
	c->t_open = v->t_open;
	if (strcmp(c->ip, v->ip) != 0)
		log_warning("client %s (HSM %s): resuming from another address than %s (allowed: "
			    "the secret is bound to the session, not to the address)", c->peer,
			    v->hsm, v->ip);
	log_session_open(LOG_LVL_INFO, "client %s (HSM %s): session resumed after %ld s without "
			 "the orange key%s", c->peer, v->hsm, (long)(time(NULL) - v->t_lost),
			 v->op ? v->result != NULL ? "; delivering the PED's result"
						   : "; the PED operation is still under way"
			       : "");
	audit_event("session_resumed", "peer:s hsm:s was:s seconds:l", c->peer, v->hsm, v->peer,
		    (long long)(time(NULL) - v->t_lost));
	s->stats.resumed++;
	if (v->op) {
		c->op = v->result == NULL;
		c->op_type = v->op_type;
		c->op_key_type = v->op_key_type;
		c->op_cid = v->op_cid;
		c->op_pid = v->op_pid;
		memcpy(c->op_title, v->op_title, sizeof(c->op_title));
		if (v->result != NULL) {
			r = relay_encode_result(c->sess, v->op_cid, v->result, m, sizeof(m), &n);
			if (r == 0)
				send_link(c, m, n);
			else
				link_status(c, v->op_cid, r);
			OPENSSL_cleanse(m, sizeof(m));
		}
	}
	v->op = false; /* c has it now: resv_end must not cancel it */
	resv_end(s, NULL);
}

/* Kp for an HSM's static key (cached: a known HSM costs one HMAC). */
static int proof_key(server_t *s, const uint8_t qs[ECP_PUB_LEN], uint8_t kp[SESS_PROOF_KEY_LEN])
{
	ecp_key_t *k = NULL;
	unsigned i, slot;
	int r;

	for (i = 0; i < s->proof_n && i < PROOF_CACHE; i++)
		if (memcmp(s->proof[i].qs, qs, ECP_PUB_LEN) == 0) {
			memcpy(kp, s->proof[i].kp, SESS_PROOF_KEY_LEN);
			return 0;
		}
	if ((r = ecp_import_public(qs, ECP_PUB_LEN, &k)) == 0 &&
	    (r = sess_proof_key(s->host, k, qs, s->host_pub, kp)) == 0) {
		slot = s->proof_n++ % PROOF_CACHE;
		memcpy(s->proof[slot].qs, qs, ECP_PUB_LEN);
		memcpy(s->proof[slot].kp, kp, SESS_PROOF_KEY_LEN);
	}
	ecp_free(k);
	return r;
}

/* KEX_INIT: the HSM proves its static key before anything touches the PED. */
static bool proof_passed(struct conn *c, const struct sess_event *ev)
{
	uint8_t kp[SESS_PROOF_KEY_LEN];
	int r;

	if ((r = proof_key(c->srv, ev->peer_static, kp)) == 0)
		r = sess_server_check_proof(c->sess, kp);
	OPENSSL_cleanse(kp, sizeof(kp));
	if (r != 0) {
		log_limited(LOG_LVL_WARNING, ped_errname(r), c->ip, "client %s (claims "
			    "HSM %s): refused before the PED: %s (%s)", c->peer, hsm_name(c),
			    ped_strerror(r), ped_errname(r));
		audit_refusal(ped_errname(r), c->ip);
		c->srv->stats.refused++;
		if (sess_state(c->sess) != SESS_ST_CLOSED)
			sess_disconnect(c->sess, r, ped_strerror(r));
		return false;
	}
	return true;
}

/* c's handshake cannot have the PED: another holds it (who) ... */
static void ped_taken(struct conn *c, const char *who)
{
	log_warning("client %s (HSM %s): the PED was taken meanwhile by %s (SERVER_BUSY)", c->peer,
		    hsm_name(c), who);
	c->srv->stats.busy++;
	sess_end(c, PED_E_SERVER_BUSY, who);
}

/* ... or none is connected. */
static void no_ped(struct conn *c)
{
	log_warning("client %s (HSM %s): no PED connected (CKR_PED_UNPLUGGED)", c->peer,
		    hsm_name(c));
	sess_end(c, PED_E_UNPLUGGED, "no PED is connected to the server");
}

/* KEX_INIT (orange key) or PAKE_A (password): the PED's part of the
 * handshake. */
static void ev_kex_init(struct conn *c)
{
	server_t *s = c->srv;
	const struct conn *h = busy_with(s);
	pedhost_t *ped = pedatt_host(s->ped);
	uint8_t mem[64];
	char who[WIRE_STR_MAX + 1];
	pbuf_t b;
	int r;

	uint64_t spent = c->ped_start != 0 ? uv_now(s->loop) - c->ped_start : 0;
	uint32_t ms = spent + 1000 < s->ped_op_ms ? s->ped_op_ms - (uint32_t)spent : 1000;

	/* the PED's wait is bounded by its own timeout, which an ALLOW_HSM
	 * prompt before it shares (pedclient waits one PED timeout) */
	uv_timer_stop(&c->timer);
	if (h != NULL || reserved_for_other(c)) {
		if (h != NULL)
			holder_text(h, who, sizeof(who));
		else
			resv_holder_text(&s->resv, who, sizeof(who));
		ped_taken(c, who);
		return;
	}
	/* the HSM proved its key and starts afresh (its pedclient restarted):
	 * its reserved session will not resume, and its operation must leave
	 * the PED to this handshake */
	if (s->resv.on)
		resv_end(s, "the HSM started a new session");
	if (ped == NULL) {
		no_ped(c);
		return;
	}
	pbuf_over(&b, mem, sizeof(mem));
	if (sess_is_password(c->sess)) {
		if ((r = pbuf_put_u32(&b, ms)) == 0 &&
		    (r = link_put_str(&b, "COMPUTE SESSION KEY")) == 0 &&
		    (r = pbuf_put_u8(&b, PAKE_PW_DIGITS)) == 0)
			r = pedhost_request(ped, LINK_OTP, mem, b.len, ms, &c->rpk_id);
	} else if ((r = pbuf_put_u32(&b, ms)) == 0 &&
		   (r = link_put_str(&b, "Remote PED session")) == 0) {
		r = pedhost_request(ped, LINK_READ_RPK, mem, b.len, ms, &c->rpk_id);
	}
	if (r < 0) {
		log_warning("client %s (HSM %s): cannot ask the PED for the %s: %s", c->peer,
			    hsm_name(c), what_key(c), ped_errname(r));
		sess_end(c, r, sess_is_password(c->sess) ? "cannot ask for the password"
							  : "cannot read the orange key");
		return;
	}
	c->reading_rpk = true;
	s->hs = c;
	log_info("client %s (HSM %s): waiting for the %s on the PED", c->peer, hsm_name(c),
		 what_key(c));
}

/* An HSM that is not on the allowlist is refused before the PED. */
static void hsm_refuse(struct conn *c, int code, const char *fp)
{
	log_limited(LOG_LVL_WARNING, ped_errname(code), c->ip, "client %s (HSM %s, key %s): "
		    "refused before the PED (HsmPolicy %s): %s (%s)", c->peer, hsm_name(c), fp,
		    allow_policy_name(c->srv->policy), ped_strerror(code), ped_errname(code));
	audit_refusal(ped_errname(code), c->ip);
	c->srv->stats.refused++;
	sess_end(c, code, ped_strerror(code));
}

/* ALLOW_HSM: the key holder is asked on the PED (HsmPolicy prompt). */
static void hsm_ask(struct conn *c, const uint8_t fp[ALLOW_FP_LEN], const char *fptext)
{
	server_t *s = c->srv;
	const struct conn *h = busy_with(s);
	pedhost_t *ped = pedatt_host(s->ped);
	uint8_t mem[64 + ALLOW_FP_LEN];
	char who[WIRE_STR_MAX + 1];
	pbuf_t b;
	int r;

	uv_timer_stop(&c->timer);
	if (h != NULL) {
		holder_text(h, who, sizeof(who));
		ped_taken(c, who);
		return;
	}
	if (ped == NULL) {
		no_ped(c);
		return;
	}
	pbuf_over(&b, mem, sizeof(mem));
	if ((r = pbuf_put_u32(&b, s->ped_op_ms)) != 0 ||
	    (r = link_put_str(&b, c->hello.hsm_serial)) != 0 ||
	    (r = pbuf_put_bytes(&b, fp, ALLOW_FP_LEN)) != 0 ||
	    (r = pedhost_request(ped, LINK_ALLOW_HSM, mem, b.len, s->ped_op_ms, &c->rpk_id)) != 0) {
		log_warning("client %s (HSM %s): cannot ask the PED to allow it: %s", c->peer,
			    hsm_name(c), ped_errname(r));
		sess_end(c, r, "cannot ask the PED");
		return;
	}
	c->reading_rpk = c->allow_ask = true;
	c->ped_start = uv_now(s->loop);
	s->hs = c;
	log_info("client %s (HSM %s): not on the allowlist; asking the key holder on the PED to "
		 "allow key %s", c->peer, hsm_name(c), fptext);
}

/* After the key proof: whether this HSM may make the PED ask for its orange
 * key (HsmPolicy, allow.h); then on to the orange key. */
static void hsm_admission(struct conn *c)
{
	server_t *s = c->srv;
	uint8_t fp[ALLOW_FP_LEN];
	char fptext[ALLOW_FP_TEXT], serial[ALLOW_STR_MAX + 1];
	int r;

	if (s->policy == ALLOW_ANY) {
		ev_kex_init(c);
		return;
	}
	if ((r = allow_fingerprint(c->qs, fp)) != 0) {
		sess_end(c, r, ped_strerror(r));
		return;
	}
	if (allow_find(s->allow, fp) != NULL) {
		ev_kex_init(c);
		return;
	}
	allow_fp_text(fp, fptext);
	if (s->policy == ALLOW_PROMPT) {
		hsm_ask(c, fp, fptext);
		return;
	}
	if (s->policy == ALLOW_TOFU && allow_count(s->allow) == 0) {
		allow_word_clean(c->hello.hsm_serial, serial);
		if ((r = allow_add(s->allow, fp, serial, "", "tofu")) == 0) {
			ev_kex_init(c);
			return;
		}
		hsm_refuse(c, r, fptext);
		return;
	}
	hsm_refuse(c, PED_E_HSM_NOT_ALLOWED, fptext);
}

/* The PED answered ALLOW_HSM: YES records the HSM and the handshake goes
 * on to the orange key; NO, a timeout or a cancel ends it. */
static void allow_result(struct conn *c, const pedhost_result_t *res)
{
	server_t *s = c->srv;
	uint8_t fp[ALLOW_FP_LEN];
	char fptext[ALLOW_FP_TEXT] = "?", serial[ALLOW_STR_MAX + 1];
	int r = res->status;

	c->reading_rpk = c->allow_ask = false;
	if (s->hs == c)
		s->hs = NULL;
	if (allow_fingerprint(c->qs, fp) == 0)
		allow_fp_text(fp, fptext);
	audit_event("hsm_prompt", "peer:s hsm:s fingerprint:s result:s", c->peer, hsm_name(c),
		    fptext, ped_errname(r));
	if (r != 0) {
		log_warning("client %s (HSM %s): not allowed on the PED: %s (%s)", c->peer,
			    hsm_name(c), ped_strerror(r), ped_errname(r));
		sess_end(c, r, ped_strerror(r));
		return;
	}
	allow_word_clean(c->hello.hsm_serial, serial);
	if ((r = allow_add(s->allow, fp, serial, "", "ped")) != 0 && r != PED_E_EXISTS)
		log_warning("client %s (HSM %s): allowed on the PED but not recorded: %s", c->peer,
			    hsm_name(c), ped_errname(r));
	ev_kex_init(c);
	sess_pump(c);
}

/* The PED answered OTP for c's password-mode handshake: the digits go into
 * SPAKE2 and are wiped. */
static void otp_result(struct conn *c, const pedhost_result_t *res)
{
	char pw[PEDHOST_OTP_MAX + 1];
	int r = res->status;

	if (r == 0 && (res->otp_wrap != 0 || res->otp_len != PAKE_PW_DIGITS))
		r = PED_E_PARSE;
	if (r != 0) {
		log_warning("client %s (HSM %s): no password from the PED: %s (%s)", c->peer,
			    hsm_name(c), ped_strerror(r), ped_errname(r));
		sess_disconnect(c->sess, r, ped_strerror(r));
		return;
	}
	memcpy(pw, res->otp, res->otp_len);
	pw[res->otp_len] = '\0';
	r = sess_server_password(c->sess, pw, res->otp_len);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (r == 0)
		arm_deadline(c, c->srv->handshake_ms);
	else
		log_warning("client %s (HSM %s): password-mode handshake: %s", c->peer,
			    hsm_name(c), ped_errname(r));
}

/* The PED answered READ_RPK (or OTP) for c's handshake. */
static void rpk_result(struct conn *c, const pedhost_result_t *res)
{
	uint8_t secret[RELAY_RPK_SECRET_LEN];
	ecp_key_t *ped_static = NULL;
	int r = res->status;

	c->reading_rpk = false;
	if (sess_is_password(c->sess)) {
		otp_result(c, res);
		sess_pump(c);
		return;
	}
	if (r != 0) {
		log_warning("client %s (HSM %s): the orange key was not read: %s (%s)", c->peer,
			    hsm_name(c), ped_strerror(r), ped_errname(r));
		goto out;
	}
	if ((r = relay_rpk_secret(res, secret)) < 0) {
		log_warning("client %s (HSM %s): the orange key's secret is unusable: %s",
			    c->peer, hsm_name(c), ped_errname(r));
		goto out;
	}
	if (ecp_from_private(secret + RELAY_RPV_LEN, ECP_PRIV_LEN, &ped_static) < 0) {
		r = PED_E_PIN_INCORRECT; /* a wrong PIN gives a random scalar */
		log_warning("client %s (HSM %s): the orange key's PED key is invalid "
			    "(wrong PIN?) (%s)", c->peer, hsm_name(c), ped_errname(r));
		goto out;
	}
	r = sess_server_keys(c->sess, secret, RELAY_RPV_LEN, ped_static);
	if (r == 0)
		arm_deadline(c, c->srv->handshake_ms);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	ecp_free(ped_static);
	if (r != 0 && sess_state(c->sess) != SESS_ST_CLOSED)
		sess_disconnect(c->sess, r, ped_strerror(r));
	sess_pump(c);
}

/* A password session (Part 4) opened: the key holder typed the one-time
 * password the HSM showed, which is consent to this HSM; under HsmPolicy
 * prompt or tofu its key is recorded (list: the operator's list only). */
static void password_record(struct conn *c)
{
	server_t *s = c->srv;
	uint8_t fp[ALLOW_FP_LEN];
	char serial[ALLOW_STR_MAX + 1];
	int r;

	if (s->policy != ALLOW_PROMPT && s->policy != ALLOW_TOFU)
		return;
	allow_word_clean(c->hello.hsm_serial, serial);
	if ((r = allow_fingerprint(c->qs, fp)) == 0 && allow_find(s->allow, fp) == NULL &&
	    (r = allow_add(s->allow, fp, serial, "", "password")) != 0)
		log_warning("client %s (HSM %s): not recorded on the allowlist: %s", c->peer,
			    hsm_name(c), ped_errname(r));
}

static void ev_open(struct conn *c)
{
	server_t *s = c->srv;
	const pedhost_info_t *info = pedatt_info(s->ped);
	uint8_t st[2 + WIRE_STR_MAX];
	pbuf_t b;
	bool resume = sess_is_resume(c->sess);

	uv_timer_stop(&c->timer);
	if (s->hs == c)
		s->hs = NULL;
	if (resume && (!s->resv.on || s->holder != NULL)) {
		/* the window passed, or another attempt resumed first */
		log_limited(LOG_LVL_WARNING, "resume refused", c->ip, "client %s (HSM %s): resume "
			    "confirmed too late: the session is no longer reserved (RESUME_UNKNOWN)",
			    c->peer, hsm_name(c));
		s->stats.resume_refused++;
		sess_end(c, PED_E_RESUME_UNKNOWN, "the session is no longer reserved");
		return;
	}
	leave_pre(c);
	s->holder = c;
	c->proved = true; /* a resume's identities are bound to its secret (Part 6) */
	if (sess_is_password(c->sess) && c->have_qs)
		password_record(c);
	c->t_open = c->t_last = time(NULL);
	utc_now(c->since, sizeof(c->since));
	c->trail_code = PED_E_DISCONNECTED;
	if (!resume) {
		/* the same HSM opened a new session: its old one will not resume */
		resv_end(s, s->resv.on ? "the HSM opened a new session" : NULL);
		s->stats.sessions++;
		log_session_open(LOG_LVL_INFO, "client %s (%s, HSM %s): key confirmation passed; "
				 "session open, the PED is held", c->peer, c->hello.client_name,
				 hsm_name(c));
		trail_session_open(c->peer, c->hello.client_name, hsm_name(c),
				   sess_is_password(c->sess), info != NULL ? info->firmware : NULL);
	}
	/* the session's own timers, made only now: a connection that never
	 * opens (most of a flood) costs a socket and one timer */
	uv_timer_init(s->loop, &c->ping);
	uv_timer_init(s->loop, &c->idle);
	c->ping.data = c->idle.data = c;
	c->open_handles += 2;
	c->session_timers = true;
	uv_timer_start(&c->ping, on_ping, s->ping_ms, s->ping_ms);
	touch(c);
	/* tell the client where the PED stands now */
	pbuf_over(&b, st, sizeof(st));
	if (pbuf_put_u8(&b, info != NULL) == 0 &&
	    link_put_str(&b, info != NULL ? info->firmware : "") == 0)
		(void)sess_send(c->sess, SESS_MSG_PED_STATE, st, b.len);
	if (resume) /* after PED_STATE: the kept PED result, if any */
		resumed(c);
}

static void ev_closed(struct conn *c, const struct sess_event *ev)
{
	if (ev->code == PED_E_RPV_MISMATCH) {
		pedhost_t *h = pedatt_host(c->srv->ped);
		uint16_t id;

		log_warning("client %s (HSM %s): key confirmation failed: the orange key does not "
			    "match this HSM (RPV_MISMATCH)", c->peer, hsm_name(c));
		/* the PED must not offer that key again */
		if (h != NULL)
			(void)pedhost_request(h, LINK_FORGET_RPK, NULL, 0, c->srv->ped_op_ms, &id);
	} else if (ev->code == PED_E_RESUME_REFUSED) {
		log_limited(LOG_LVL_WARNING, "resume refused", c->ip, "client %s (HSM %s): resume "
			    "refused: key confirmation failed (RESUME_REFUSED); the reservation "
			    "stands", c->peer, hsm_name(c));
		audit_refusal("RESUME_REFUSED", c->ip);
		c->srv->stats.resume_refused++;
	} else if (ev->code == PED_E_PASSWORD_INCORRECT) {
		log_warning("client %s (HSM %s): the one-time password typed on the PED does not "
			    "match the HSM's (PASSWORD_INCORRECT)", c->peer, hsm_name(c));
	} else if (ev->code != 0) {
		log_warning("client %s (HSM %s): session ended: %s (%s)%s%s", c->peer, hsm_name(c),
			    ped_strerror(ev->code), ped_errname(ev->code),
			    ev->reason[0] ? ": " : "", ev->reason);
	} else {
		log_info("client %s (HSM %s): session ended by the client", c->peer, hsm_name(c));
	}
	if (c->srv->holder != c)
		trail_session_close(c->peer, hsm_name(c), ev->code, 0);
	c->trail_code = ev->code;
	release_slot(c);
	c->draining = true;
	arm_deadline(c, c->srv->write_ms);
}

static void send_link(struct conn *c, const uint8_t *body, size_t len)
{
	int r;

	if ((r = sess_send(c->sess, SESS_MSG_LINK, body, len)) < 0)
		log_warning("client %s: cannot relay to the client: %s", c->peer, ped_errname(r));
}

/* A RESULT with only a status for the client's request id. */
static void link_status(struct conn *c, uint16_t cid, int status)
{
	uint8_t m[5] = {LINK_RESULT, (uint8_t)(cid >> 8), (uint8_t)cid,
			(uint8_t)((unsigned)-status >> 8), (uint8_t)-status};

	send_link(c, m, sizeof(m));
}

/* Offset of the u32 timeout in an operation's payload (link.h), or -1. */
static int timeout_at(uint8_t type)
{
	switch (type) {
	case LINK_READ_KEYSET:
	case LINK_CREATE_KEYSET:
		return 1;
	case LINK_READ_RPK:
	case LINK_OTP:
		return 0;
	case LINK_FORGET_RPK:
		return -2; /* no timeout field */
	default:
		return -1;
	}
}

/* The title of a relayed request (the str after its u32 timeout at `at`),
 * printable ASCII, for the audit trail; "" if there is none. */
static void op_title(struct conn *c, const uint8_t *pl, size_t n, int at)
{
	size_t off = (size_t)at + 4, len, i;

	c->op_title[0] = '\0';
	if (at < 0 || off >= n || (len = pl[off]) > n - off - 1)
		return;
	if (len > sizeof(c->op_title) - 1)
		len = sizeof(c->op_title) - 1;
	for (i = 0; i < len; i++) {
		uint8_t ch = pl[off + 1 + i];
		c->op_title[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	c->op_title[len] = '\0';
}

/* A PED request from the client (SESS_MSG_LINK). */
static void client_link(struct conn *c, const uint8_t *body, size_t len)
{
	server_t *s = c->srv;
	pedhost_t *h = pedatt_host(s->ped);
	uint8_t pl[LINK_MAX_PAYLOAD], keyset[LINK_KEYSET_ID_LEN];
	shamir_share_t shares[SHAMIR_MAX_N];
	unsigned count = 0;
	uint32_t ms = s->ped_op_ms;
	uint8_t type;
	uint16_t cid;
	size_t n;
	int at, r;

	if (len < 3 || len - 3 > LINK_MAX_PAYLOAD) {
		log_warning("client %s: malformed PED message; closing", c->peer);
		sess_end(c, PED_E_PARSE, "malformed PED message");
		return;
	}
	type = body[0];
	cid = (uint16_t)(body[1] << 8 | body[2]);
	n = len - 3;
	touch(c);
	if (type == LINK_CANCEL) {
		if (c->op && cid == c->op_cid && h != NULL)
			(void)pedhost_cancel(h, c->op_pid);
		return;
	}
	if (type == LINK_SHARES) {
		if (!c->op || cid != c->op_cid || h == NULL) {
			link_status(c, cid, PED_E_BAD_REQUEST);
			return;
		}
		r = relay_decode_shares(c->sess, body + 3, n, keyset, shares, &count);
		if (r == 0)
			r = pedhost_send_shares(h, c->op_pid, keyset, shares, count);
		OPENSSL_cleanse(shares, sizeof(shares));
		if (r < 0) {
			log_warning("client %s: shares not relayed: %s; cancelling", c->peer,
				    ped_errname(r));
			(void)pedhost_cancel(h, c->op_pid);
		}
		return;
	}
	if ((at = timeout_at(type)) == -1) {
		log_warning("client %s: PED request type 0x%02x not relayed (BAD_REQUEST)",
			    c->peer, type);
		link_status(c, cid, PED_E_BAD_REQUEST);
		return;
	}
	if (c->op) {
		link_status(c, cid, PED_E_PED_BUSY);
		return;
	}
	if (h == NULL) {
		link_status(c, cid, PED_E_UNPLUGGED);
		return;
	}
	memcpy(pl, body + 3, n);
	if (at >= 0) {
		uint32_t want;

		if (n < (size_t)at + 4) {
			link_status(c, cid, PED_E_PARSE);
			return;
		}
		want = (uint32_t)pl[at] << 24 | (uint32_t)pl[at + 1] << 16 |
		       (uint32_t)pl[at + 2] << 8 | pl[at + 3];
		if (want > 0 && want < ms)
			ms = want;
		/* the server's PED operation timeout caps the client's */
		pl[at] = (uint8_t)(ms >> 24);
		pl[at + 1] = (uint8_t)(ms >> 16);
		pl[at + 2] = (uint8_t)(ms >> 8);
		pl[at + 3] = (uint8_t)ms;
	}
	op_title(c, pl, n, at);
	r = pedhost_request(h, type, pl, n, ms, &c->op_pid);
	c->op_key_type = (type == LINK_CREATE_KEYSET || type == LINK_READ_KEYSET) && n > 0 ? pl[0] : 0;
	OPENSSL_cleanse(pl, n);
	if (r < 0) {
		link_status(c, cid, r);
		return;
	}
	c->op = true;
	c->op_type = type;
	c->op_cid = cid;
	log_session(LOG_LVL_INFO, "client %s (HSM %s): relaying %s to the PED", c->peer,
		    hsm_name(c), link_type_name(type));
	trail_ped_request(c->peer, hsm_name(c), type, c->op_key_type, c->op_title);
}

static void sess_pump(struct conn *c)
{
	struct sess_event ev;

	while (!c->closing && sess_next(c->sess, &ev) == 0 && ev.type != SESS_EV_NONE) {
		switch (ev.type) {
		case SESS_EV_HELLO:
			ev_hello(c, &ev);
			break;
		case SESS_EV_KEX_INIT:
			if (proof_passed(c, &ev)) {
				c->proved = c->have_qs = true;
				memcpy(c->qs, ev.peer_static, ECP_PUB_LEN);
				hsm_admission(c);
			}
			break;
		case SESS_EV_PAKE_A:
			c->have_qs = true;
			memcpy(c->qs, ev.peer_static, ECP_PUB_LEN);
			c->ped_start = 0;
			ev_kex_init(c);
			break;
		case SESS_EV_RESUME:
			ev_resume(c, &ev);
			break;
		case SESS_EV_OPEN:
			ev_open(c);
			break;
		case SESS_EV_MESSAGE:
			if (ev.msg_type == SESS_MSG_LINK) {
				client_link(c, ev.body, ev.body_len);
			} else {
				log_limited(LOG_LVL_WARNING, "unexpected message", c->ip,
					    "client %s: unexpected message %u; closing", c->peer,
					    ev.msg_type);
				sess_disconnect(c->sess, PED_E_BAD_REQUEST, "unexpected message");
			}
			break;
		case SESS_EV_PONG:
			if (c->ping_out && ev.nonce == c->ping_nonce) {
				c->ping_out = false;
				uv_timer_stop(&c->timer);
			}
			break;
		case SESS_EV_CLOSED:
			ev_closed(c, &ev);
			break;
		default:
			break;
		}
	}
	sess_flush(c);
	make_next_ephemeral(c->srv);
}

/* The PED's side of the relay (pedatt_client). */
static struct conn *op_owner(server_t *s, uint16_t id)
{
	struct conn *c = s->holder;

	return c != NULL && c->op && c->op_pid == id ? c : NULL;
}

static void ped_event(void *arg, uint16_t id, const pedhost_event_t *ev)
{
	server_t *s = arg;
	struct conn *c = op_owner(s, id);
	uint8_t m[LINK_MAX_PAYLOAD];
	size_t n = 0;

	if (c == NULL)
		return; /* the handshake's orange-key prompts stay on the PED */
	if (ev->kind == LINK_EV_KEY_WRITTEN)
		trail_key_written(c->peer, hsm_name(c), ev);
	if (relay_encode_event(c->op_cid, ev, m, sizeof(m), &n) == 0) {
		send_link(c, m, n);
		sess_flush(c);
	}
}

static void ped_result(void *arg, uint16_t id, const pedhost_result_t *res)
{
	server_t *s = arg;
	struct conn *c = op_owner(s, id);
	uint8_t m[LINK_MAX_PAYLOAD + 3];
	size_t n = 0;
	int r;

	if (s->hs != NULL && s->hs->reading_rpk && s->hs->rpk_id == id) {
		if (s->hs->allow_ask)
			allow_result(s->hs, res);
		else
			rpk_result(s->hs, res);
		return;
	}
	if (c == NULL && s->resv.on && s->resv.op && s->resv.op_pid == id &&
	    s->resv.result == NULL) {
		/* the link is down: the result waits for the resume */
		log_session(LOG_LVL_INFO, "HSM %s: %s on the PED: %s; kept for the resume",
			    s->resv.hsm, link_type_name(res->op), ped_errname(res->status));
		trail_ped_result(s->resv.peer, s->resv.hsm, res, trail_role(s->resv.op_title));
		if (resv_keep_result(&s->resv, res) != 0)
			resv_end(s, "out of memory for the PED's result");
		return;
	}
	if (c == NULL)
		return; /* a cancelled operation of a session that is gone */
	c->op = false;
	touch(c);
	log_session(LOG_LVL_INFO, "client %s (HSM %s): %s on the PED: %s", c->peer, hsm_name(c),
		    link_type_name(res->op), ped_errname(res->status));
	trail_ped_result(c->peer, hsm_name(c), res, trail_role(c->op_title));
	if (res->op == LINK_CREATE_KEYSET && c->op_key_type == LINK_KEY_ORANGE) {
		/* orange keys were (re)written: a cached RPK may be stale now; the
		 * next session reads the orange key again */
		uint16_t fid;
		pedhost_t *h = pedatt_host(s->ped);

		if (h != NULL)
			(void)pedhost_request(h, LINK_FORGET_RPK, NULL, 0, s->ped_op_ms, &fid);
	}
	r = relay_encode_result(c->sess, c->op_cid, res, m, sizeof(m), &n);
	if (r == 0)
		send_link(c, m, n);
	else
		link_status(c, c->op_cid, r);
	OPENSSL_cleanse(m, sizeof(m));
	sess_flush(c);
}

static void ped_state(void *arg, bool up)
{
	server_t *s = arg;
	struct conn *c = s->holder;
	const pedhost_info_t *info = pedatt_info(s->ped);
	uint8_t st[2 + WIRE_STR_MAX];
	pbuf_t b;

	if (!up) /* the PED forgot its cached orange key: no resume without it */
		resv_end(s, "the PED was unplugged");
	if (c == NULL)
		return;
	if (!up)
		c->no_resume = true;
	log_info("client %s (HSM %s): telling it the PED is %s", c->peer, hsm_name(c),
		 up ? "connected" : "disconnected");
	pbuf_over(&b, st, sizeof(st));
	if (pbuf_put_u8(&b, up) == 0 &&
	    link_put_str(&b, up && info != NULL ? info->firmware : "") == 0)
		(void)sess_send(c->sess, SESS_MSG_PED_STATE, st, b.len);
	sess_flush(c);
}

static const struct pedatt_client ped_client = {ped_event, ped_result, ped_state};

/* A SESSION HELLO is in c->in: the session takes over the connection. */
static void start_session(struct conn *c, size_t frame_len)
{
	int r;

	if ((r = sess_server_new(&c->sess)) < 0) {
		refuse(c, r, "cannot start a session");
		return;
	}
	c->t_hello = time(NULL);
	utc_now(c->since, sizeof(c->since));
	uv_timer_stop(&c->timer);
	if ((r = sess_feed(c->sess, c->in, frame_len)) < 0)
		log_limited(LOG_LVL_WARNING, "session start failed", c->ip,
			    "client %s: %s", c->peer, ped_strerror(r));
	c->inlen = 0;
	sess_pump(c);
}

/* Bytes of an established session connection. */
static void session_read(struct conn *c, size_t n)
{
	int r;

	if (c->draining)
		return;
	r = sess_feed(c->sess, c->in, n);
	OPENSSL_cleanse(c->in, n);
	if (r < 0 && sess_state(c->sess) != SESS_ST_CLOSED)
		sess_disconnect(c->sess, r, ped_strerror(r));
	sess_pump(c);
}

/* A whole frame is in c->in: validate in a fixed order, answer. */
static void handle_frame(struct conn *c, uint8_t type, const uint8_t *p, size_t len)
{
	struct wire_hello h;
	int r;

	if (type != WIRE_HELLO) {
		refuse(c, PED_E_BAD_REQUEST, "expected HELLO, got message type 0x%02x", type);
		return;
	}
	if ((r = wire_hello_decode(p, len, &h)) != 0) {
		refuse(c, PED_E_PARSE, "malformed HELLO: %s", ped_strerror(r));
		return;
	}
	if (h.min_version > WIRE_VERSION || h.max_version < WIRE_VERSION) {
		refuse(c, PED_E_VERSION, "client speaks versions %u-%u, this server %u",
		       h.min_version, h.max_version, WIRE_VERSION);
		return;
	}
	if (h.purpose == WIRE_PURPOSE_PROBE) {
		answer_probe(c, &h);
	} else if (h.purpose == WIRE_PURPOSE_SESSION || h.purpose == WIRE_PURPOSE_PASSWORD ||
		   h.purpose == WIRE_PURPOSE_RESUME) {
		start_session(c, WIRE_HDR_LEN + len);
	} else {
		refuse(c, PED_E_BAD_REQUEST, "unknown HELLO purpose %u", h.purpose);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	buf->base = (char *)c->in + c->inlen;
	buf->len = sizeof(c->in) - c->inlen;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	uint8_t type;
	uint32_t len;
	int r;

	(void)buf;
	if (c->closing || c->answered)
		return;
	if (c->sess != NULL) {
		if (n < 0) {
			if (!c->draining && sess_state(c->sess) != SESS_ST_CLOSED)
				log_limited(LOG_LVL_WARNING, "connection lost", c->ip,
					    "client %s (HSM %s): connection lost (%s)%s", c->peer,
					    hsm_name(c), n == UV_EOF ? "closed" : uv_strerror((int)n),
					    sess_state(c->sess) == SESS_ST_OPEN ? "" : " during the handshake");
			hold_for_resume(c);
			conn_close(c);
		} else if (n > 0) {
			session_read(c, (size_t)n);
		}
		return;
	}
	if (n < 0) {
		if (n != UV_EOF)
			log_limited(LOG_LVL_WARNING, "read failed", c->ip,
				    "client %s: read failed: %s", c->peer, uv_strerror((int)n));
		else if (c->inlen > 0)
			log_limited(LOG_LVL_WARNING, "closed mid-message", c->ip,
				    "client %s: closed in the middle of a message", c->peer);
		penalise(c, PENALTY_NO_HELLO);
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	r = wire_header(c->in, c->inlen, WIRE_MAX_HELLO, &type, &len);
	/* the version byte comes first: answer a foreign one at once */
	if (r == PED_E_VERSION || (c->inlen > 0 && c->in[0] != WIRE_VERSION)) {
		refuse(c, PED_E_VERSION, "frame version %u, this server speaks %u", c->in[0],
		       WIRE_VERSION);
		return;
	}
	if (r == PED_E_INCOMPLETE)
		return;
	if (r == PED_E_TOO_LONG) {
		refuse(c, PED_E_TOO_LONG, "HELLO longer than %u bytes", WIRE_MAX_HELLO);
		return;
	}
	if (r != 0) {
		refuse(c, PED_E_PARSE, "bad frame header");
		return;
	}
	if (c->inlen < WIRE_HDR_LEN + (size_t)len)
		return;
	if (c->inlen > WIRE_HDR_LEN + (size_t)len) {
		refuse(c, PED_E_TRAILING, "bytes after the HELLO frame");
		return;
	}
	handle_frame(c, type, c->in + WIRE_HDR_LEN, len);
}

static void peer_name(uv_tcp_t *t, char *out, size_t cap, char *ip, size_t ipcap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char a[ADDR_MAX] = "?";
	int port = 0;

	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

		/* an IPv4 peer of the dual-stack listener (the default) is named
		 * as IPv4: 127.0.0.1, not ::ffff:127.0.0.1 */
		if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			uv_inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a, sizeof(a));
			port = ntohs(s6->sin6_port);
		} else if (ss.ss_family == AF_INET6) {
			uv_ip6_name(s6, a, sizeof(a));
			port = ntohs(s6->sin6_port);
			snprintf(out, cap, "[%s]:%d", a, port);
			snprintf(ip, ipcap, "%s", a);
			return;
		} else {
			uv_ip4_name((struct sockaddr_in *)&ss, a, sizeof(a));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
	}
	snprintf(out, cap, "%s:%d", a, port);
	snprintf(ip, ipcap, "%s", a);
}

/* Bytes from the peer not read yet: a HELLO may be waiting in the socket
 * while a burst of accepts runs first. */
static bool has_unread(struct conn *c)
{
	return sys_socket_unread((uv_handle_t *)&c->tcp);
}

/* The pre-session connection to evict for a newcomer: one that has sent
 * nothing (a real client sends its HELLO at once) before one that has; among
 * those, one from the source holding the most handshakes (a flood holds many
 * per source, a real HSM one), then the oldest. Never the open session nor
 * the handshake that is using the PED. */
#define QUIET_RANK (2u * ADMIT_SOURCES) /* above any per-source count */
static struct conn *eviction_victim(server_t *s, const struct conn *newcomer)
{
	struct conn *c, *best = NULL;
	unsigned rank, best_rank = 0;

	/* The pre-session list only (at most MaxPreSession + 1, oldest first):
	 * a flood leaves many closing connections in s->conns until the loop's
	 * close phase. */
	for (c = s->pre; c != NULL; c = c->pre_next) {
		if (c == newcomer || c->closing || c == s->hs || c == s->holder)
			continue;
		rank = admit_slot_count(s->admit, c->slot);
		/* quiet (nothing sent, nothing waiting) ranks before any that has
		 * spoken; the socket is asked (a syscall) only when that matters */
		if (c->sess == NULL && c->inlen == 0 && rank + QUIET_RANK > best_rank &&
		    !has_unread(c))
			rank += QUIET_RANK;
		if (rank > best_rank) { /* oldest first: a tie keeps the older */
			best = c;
			best_rank = rank;
		}
	}
	return best;
}

/* Admission of a new connection (pedserver/admit.h): the source's rate and
 * cap, then the global cap by eviction. false: c is being closed. */
static bool admitted(server_t *s, struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	enum admit_verdict v;
	struct conn *victim;

	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0 ||
	    admit_key((struct sockaddr *)&ss, c->key) != 0 ||
	    admit_addr((struct sockaddr *)&ss, c->addr) != 0) {
		conn_close(c);
		return false;
	}
	c->has_addr = true;
	if (penalty_blocked(s->pen, c->addr, uv_now(s->loop))) {
		/* the kernel filter would have dropped its SYN: it is being
		 * rebuilt, holds no more, or this system has none */
		s->stats.refused_penalty++;
		s->stats.refused++;
		log_limited(LOG_LVL_WARNING, "refused", c->ip, "client %s: refused: source "
			    "penalised (%llu s left); closing", c->ip,
			    (unsigned long long)(penalty_left(s->pen, c->addr, uv_now(s->loop)) / 1000));
		audit_refusal("SOURCE_PENALISED", c->ip);
		conn_close(c);
		return false;
	}
	if ((v = admit_enter(s->admit, c->key, uv_now(s->loop))) != ADMIT_OK) {
		if (v == ADMIT_RATE)
			s->stats.refused_rate++;
		else
			s->stats.refused_per_source++;
		s->stats.refused++;
		log_limited(LOG_LVL_WARNING, "refused", c->ip, "client %s: refused: %s; closing",
			    c->ip, v == ADMIT_RATE ? "too many new connections from this source"
					    : "too many handshakes at once from this source");
		audit_refusal(v == ADMIT_RATE ? "SOURCE_RATE" : "SOURCE_CAP", c->ip);
		penalise(c, PENALTY_REFUSED);
		conn_close(c);
		return false;
	}
	c->pre = true;
	c->slot = admit_slot(s->admit, c->key);
	c->pre_prev = s->pre_last;
	if (s->pre_last != NULL)
		s->pre_last->pre_next = c;
	else
		s->pre = c;
	s->pre_last = c;
	s->npre++;
	if (s->npre > s->max_pre && (victim = eviction_victim(s, c)) != NULL) {
		log_limited(LOG_LVL_WARNING, "evicted", victim->ip, "client %s: evicted for a new "
			    "connection (%u connections in their handshake); closing",
			    victim->peer, s->npre - 1);
		audit_refusal("EVICTED", victim->ip);
		s->stats.evicted++;
		if (no_hello(victim))
			penalise(victim, PENALTY_EVICTED);
		conn_close(victim);
	}
	return true;
}

/* Accepts one pending connection of listener l: the socket first, the
 * source's admission, and only then the rest of its state. */
static void accept_one(server_t *s, uv_stream_t *l)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return; /* libuv keeps the connection pending; it is retried */
	c->srv = s;
	pbuf_init(&c->out, WIRE_HDR_LEN + WIRE_MAX_HELLO); /* no allocation yet */
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	c->open_handles = 1;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	peer_name(&c->tcp, c->peer, sizeof(c->peer), c->ip, sizeof(c->ip));
	if (!admitted(s, c))
		return;
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->open_handles++;
	c->has_timer = true;
	log_trace("client %s: connected", c->peer);
	uv_timer_start(&c->timer, on_timer, hello_ms(s), 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connection(uv_stream_t *l, int status)
{
	server_t *s = l->data;

	if (status < 0) {
		log_warning("accept: %s", uv_strerror(status));
		return;
	}
	if (!s->closing)
		accept_one(s, l);
}

/* A PED-initiated link (outbound.c) that is up: its plaintext end fd
 * becomes a connection like an accepted one, except that admission and the
 * HELLO deadline do not apply (the link is authenticated and waits for the
 * HSM's ped connect). */
int server_adopt(server_t *s, int fd, const char *label)
{
	struct conn *c;

	if (s->closing || (c = calloc(1, sizeof(*c))) == NULL)
		return PED_E_NOMEM;
	c->srv = s;
	pbuf_init(&c->out, WIRE_HDR_LEN + WIRE_MAX_HELLO);
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer); /* the handshake steps' deadline */
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->has_timer = true;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	snprintf(c->peer, sizeof(c->peer), "%s", label);
	snprintf(c->ip, sizeof(c->ip), "%s", label);
	if (uv_tcp_open(&c->tcp, (uv_os_sock_t)fd) != 0) {
		tlslink_drop_fd(s->loop, fd);
		conn_close(c);
		return PED_E_IO;
	}
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	return 0;
}

/* ---- listeners ---- */

static void listener_closed(uv_handle_t *h)
{
	server_t *s = h->data;

	s->open_handles--;
	maybe_done(s);
}

static int listen_on(server_t *s, const char *addr, int port, bool v6only, char *err,
		     size_t errlen)
{
	struct sockaddr_storage ss;
	uv_tcp_t *t = &s->listener[s->nlisten];
	int r;

	if (strchr(addr, ':') != NULL)
		r = uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss);
	else
		r = uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss);
	if (r != 0) {
		snprintf(err, errlen, "-ip %s: not an IPv4 or IPv6 address", addr);
		return r;
	}
	uv_tcp_init(s->loop, t);
	t->data = s;
	s->nlisten++;
	s->open_handles++;
	r = uv_tcp_bind(t, (struct sockaddr *)&ss, v6only ? UV_TCP_IPV6ONLY : 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)t, BACKLOG, on_connection);
	if (r != 0) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port,
			 uv_strerror(r));
		return r;
	}
	snprintf(s->addrs + strlen(s->addrs), sizeof(s->addrs) - strlen(s->addrs), "%s%s",
		 s->addrs[0] != '\0' ? ", " : "", addr);
	return 0;
}

struct allow *server_allow(const server_t *s)
{
	return s != NULL ? s->allow : NULL;
}

int server_policy(const server_t *s)
{
	return s != NULL ? (int)s->policy : ALLOW_PROMPT;
}

/* The penalty settings of cfg; a bad PenaltyExempt keeps the previous
 * settings: -1 with the reason in err (err NULL: logged). */
static int pen_config(server_t *s, const struct pedserver_cfg *cfg, char *err, size_t errlen)
{
	struct penalty_cfg pc = {
		.secs = {[PENALTY_NO_HELLO] = (unsigned)cfg->PenaltyNoHello,
			 [PENALTY_EVICTED] = (unsigned)cfg->PenaltyEvicted,
			 [PENALTY_HELLO_TIMEOUT] = (unsigned)cfg->PenaltyHelloTimeout,
			 [PENALTY_REFUSED] = (unsigned)cfg->PenaltyRefused},
		.min_s = (unsigned)cfg->PenaltyMin,
		.max_s = (unsigned)cfg->PenaltyMax};
	char e[200];
	int r;

	if ((r = penalty_exempt_parse(cfg->PenaltyExempt, &pc, e, sizeof(e))) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "PenaltyExempt: %s (%s)", e, ped_errname(r));
		else
			log_error("PenaltyExempt: %s (%s); the previous list stays", e, ped_errname(r));
		return -1;
	}
	s->pen_cfg = pc;
	penalty_set(s->pen, &pc);
	s->pen_force = true;
	if (s->pen_ready)
		pen_arm(s, 0);
	return 0;
}

void server_set_timeouts(server_t *s, const struct pedserver_cfg *cfg)
{
	s->read_ms = (unsigned)cfg->SocketReadTimeout * 1000u;
	s->write_ms = (unsigned)cfg->SocketWriteTimeout * 1000u;
	s->handshake_ms = (unsigned)cfg->HandshakeTimeout * 1000u;
	s->ping_ms = (unsigned)cfg->PingInterval * 1000u;
	s->ping_timeout_ms = (unsigned)cfg->PingTimeout * 1000u;
	s->idle_ms = (unsigned)cfg->IdleTimeout * 1000u;
	s->ped_op_ms = (unsigned)cfg->PedOperationTimeout * 1000u;
	s->resume_ms = (unsigned)cfg->ResumeWindow * 1000u;
	s->max_pre = (unsigned)cfg->MaxPreSession;
	if (allow_policy_parse(cfg->HsmPolicy, &s->policy) != 0)
		log_error("HsmPolicy = %s is not one of prompt, list, tofu, any; %s stays",
			  cfg->HsmPolicy, allow_policy_name(s->policy));
	admit_set(s->admit, &(struct admit_cfg){
				    .per_source = (unsigned)cfg->MaxPreSessionPerSource,
				    .rate = (unsigned)cfg->NewConnectionRate,
				    .burst = (unsigned)cfg->NewConnectionBurst});
	pen_config(s, cfg, NULL, 0);
}

/* The host key in STATEDIR/server.key (the raw private scalar, 0600), made
 * at the first start. It lets an HSM prove its own static key before the
 * PED is touched (PROTOCOL.md §3.4); it authenticates nothing else. */
static int host_key(server_t *s, char *err, size_t errlen)
{
	char path[4096];
	uint8_t d[ECP_PRIV_LEN];
	void *data = NULL;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/%s", daemon_statedir(), HOST_KEY_FILE);
	r = atomic_read_file(path, 4 * ECP_PRIV_LEN, &data, &len);
	if (r == 0) {
		r = len == ECP_PRIV_LEN ? ecp_from_private(data, len, &s->host) : PED_E_STATE_CORRUPT;
		OPENSSL_cleanse(data, len);
		free(data);
		if (r != 0) {
			snprintf(err, errlen, "%s: not a host key (%s); remove it to make a new one",
				 path, ped_errname(r));
			return -1;
		}
	} else if ((r = ecp_generate(&s->host)) != 0 || (r = ecp_export_private(s->host, d)) != 0 ||
		   (r = atomic_write_file(path, d, sizeof(d), 0600)) != 0) {
		OPENSSL_cleanse(d, sizeof(d));
		snprintf(err, errlen, "cannot make the host key %s: %s", path, ped_strerror(r));
		return -1;
	} else {
		log_info("host key made: %s", path);
	}
	OPENSSL_cleanse(d, sizeof(d));
	return ecp_export_public(s->host, s->host_pub) == 0 ? 0 : -1;
}

int server_listen(uv_loop_t *loop, const struct pedserver_cfg *cfg, pedatt_t *att,
		  server_t **out, char *err, size_t errlen)
{
	server_t *s;
	char e2[256];
	int r;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->loop = loop;
	s->ped = att;
	if (admit_new(&(struct admit_cfg){0}, &s->admit) != 0) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (penalty_new(&(struct penalty_cfg){0}, &s->pen) != 0 ||
	    pen_config(s, cfg, err, errlen) != 0) {
		if (s->pen == NULL)
			snprintf(err, errlen, "out of memory");
		penalty_free(s->pen);
		admit_free(s->admit);
		free(s);
		return -1;
	}
	if (allow_policy_parse(cfg->HsmPolicy, &s->policy) != 0) {
		snprintf(err, errlen, "HsmPolicy = %s is not one of prompt, list, tofu, any",
			 cfg->HsmPolicy);
		penalty_free(s->pen);
		admit_free(s->admit);
		free(s);
		return -1;
	}
	server_set_timeouts(s, cfg);
	if (host_key(s, err, errlen) != 0) {
		penalty_free(s->pen);
		admit_free(s->admit);
		free(s);
		return -1;
	}
	if ((r = allow_load(daemon_statedir(), &s->allow)) != 0) {
		snprintf(err, errlen, "cannot read the HSM allowlist %s/%s: %s", daemon_statedir(),
			 ALLOW_FILE, ped_strerror(r));
		ecp_free(s->host);
		penalty_free(s->pen);
		admit_free(s->admit);
		free(s);
		return -1;
	}
	uv_timer_init(loop, &s->resv_timer);
	s->resv_timer.data = s;
	s->open_handles++; /* closed by server_close, like the listeners */
	uv_timer_init(loop, &s->pen_timer);
	s->pen_timer.data = s;
	s->open_handles++;
	s->pen_ready = true;
	if (gethostname(s->hostname, sizeof(s->hostname) - 1) != 0)
		snprintf(s->hostname, sizeof(s->hostname), "unknown");
	for (char *q = s->hostname; *q != '\0'; q++)
		if (*q < 0x20 || *q > 0x7e)
			*q = '?';
	if (cfg->Ip[0] != '\0') {
		r = listen_on(s, cfg->Ip, cfg->Port, false, err, errlen);
	} else if (cfg->ExternalServer) {
		/* dual stack where the host has IPv6, else IPv4 only */
		r = listen_on(s, "::", cfg->Port, false, e2, sizeof(e2));
		if (r != 0 && r != UV_EADDRINUSE) { /* the failed handle closes with the rest */
			r = listen_on(s, "0.0.0.0", cfg->Port, false, err, errlen);
		} else if (r != 0) {
			snprintf(err, errlen, "%s", e2);
		}
	} else {
		r = listen_on(s, "127.0.0.1", cfg->Port, false, err, errlen);
		/* ::1 too, when the host has IPv6 */
		if (r == 0 && listen_on(s, "::1", cfg->Port, true, e2, sizeof(e2)) != 0)
			log_trace("not listening on ::1: %s", e2);
	}
	if (r != 0) {
		server_close(s, NULL, NULL);
		return -1;
	}
	pedatt_set_client(att, &ped_client, s);
	make_next_ephemeral(s);
	pen_arm(s, 0); /* the first filter (none): tells whether the system has one */
	*out = s;
	return 0;
}

const char *server_addresses(const server_t *s)
{
	return s != NULL ? s->addrs : "";
}

bool server_client(const server_t *s, struct server_client *out)
{
	const struct conn *c = s != NULL ? busy_with(s) : NULL;
	time_t now = time(NULL);

	memset(out, 0, sizeof(*out));
	if (c == NULL && s != NULL && s->resv.on) {
		snprintf(out->hsm_serial, sizeof(out->hsm_serial), "%s", s->resv.hsm);
		snprintf(out->name, sizeof(out->name), "%s", s->resv.client);
		snprintf(out->addr, sizeof(out->addr), "%s", s->resv.peer);
		snprintf(out->since, sizeof(out->since), "%s", s->resv.since);
		snprintf(out->resume, sizeof(out->resume), "link lost %ld s ago, reserved for its "
			 "resume %ld s more%s", (long)(now - s->resv.t_lost),
			 (long)(s->resv.until - now), s->resv.op ? s->resv.result != NULL
				 ? "; the PED's result waits" : "; a PED operation runs" : "");
		out->state = out->resume;
		out->conn_s = (uint64_t)(now - s->resv.t_open);
		return true;
	}
	if (c == NULL)
		return false;
	snprintf(out->hsm_serial, sizeof(out->hsm_serial), "%s", c->hello.hsm_serial);
	snprintf(out->name, sizeof(out->name), "%s", c->hello.client_name);
	snprintf(out->addr, sizeof(out->addr), "%s", c->peer);
	snprintf(out->since, sizeof(out->since), "%s", c->since);
	out->open = c == s->holder;
	if (out->open) {
		out->state = c->op ? "open, PED operation under way" : "open";
		out->conn_s = (uint64_t)(now - c->t_open);
		out->idle_s = c->op ? 0 : (uint64_t)(now - c->t_last);
	} else {
		out->state = c->reading_rpk ? (sess_is_password(c->sess)
						   ? "handshake: waiting for the one-time password"
						   : "handshake: waiting for the orange key")
					    : "handshake: waiting for key confirmation";
	}
	return true;
}

const struct server_stats *server_stats(const server_t *s)
{
	static const struct server_stats none;

	return s != NULL ? &s->stats : &none;
}

void server_close(server_t *s, void (*done)(void *arg), void *arg)
{
	struct conn *c;
	unsigned i;

	if (s == NULL || s->closing)
		return;
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	if (s->ped != NULL)
		pedatt_set_client(s->ped, NULL, NULL);
	resv_end(s, NULL); /* a restart forgets every resumption secret */
	uv_close((uv_handle_t *)&s->resv_timer, listener_closed);
	uv_close((uv_handle_t *)&s->pen_timer, listener_closed);
	for (i = 0; i < s->nlisten; i++)
		if (!uv_is_closing((uv_handle_t *)&s->listener[i]))
			uv_close((uv_handle_t *)&s->listener[i], listener_closed);
	for (c = s->conns; c != NULL; c = c->next)
		conn_close(c);
	maybe_done(s);
}
