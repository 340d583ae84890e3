/* pedlink - drive a PED over the link protocol from the command line (tests).
 *
 *   pedlink -ped SPEC [-timeout MS] [-margin MS] [-pedwritelay US] [-v]
 *           [-secure [-tampertag]] COMMAND
 *     hello | status | forget | otp [-digits N]
 *     read <blue|red|orange|black|white> [-keyset HEX]
 *     create <colour> -label L [-reuse]
 *     cancel-after <ms> <command...>      CANCEL after a delay
 *     busy-test [colour]                  a second request while one runs
 *
 * Output, one line each: "event prompt: a|b", "event keys-read k/m",
 * "event key-written k/n serial", "event need-shares m/n", command results
 * ("keyset <hex> m M n N", "fingerprint <16 hex>", ...), then "result OK"
 * or "result <ERROR_NAME>"; exit 0 for OK, 1 otherwise. The fingerprint is
 * the first 16 hex digits of SHA-256 of the secret: shares and secrets are
 * never printed.
 *
 * -secure first runs the Local PED's One-Pass key agreement (pedhost_secure)
 * as the HSM side with a static P-521 key pedlink makes for the run, prints
 * "secured" after KEX_DONE 0, then runs COMMAND over the secured link (CSPs
 * wrapped under the CWKs). -tampertag flips a bit of the KEX_CONFIRM tag
 * (tests: the PED must answer KEY_CONFIRMATION_FAILED). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <uv.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/shamir.h"
#include "usbped/link.h"
#include "usbped/pedhost.h"

#define SECRET_LEN 32

enum cmd { C_NONE, C_HELLO, C_STATUS, C_READ, C_CREATE, C_FORGET, C_OTP, C_BUSY };

struct job {
	enum cmd cmd;
	uint8_t key_type;
	int have_keyset;
	uint8_t keyset[LINK_KEYSET_ID_LEN];
	const char *label;
	int reuse;
	unsigned digits;
	uint32_t timeout_ms;
	long cancel_ms; /* -1: none */

	uv_loop_t loop;
	uv_timer_t cancel_timer;
	pedhost_t *h;
	uint16_t id, id2;
	int started, done, rc;
	int second_status, first_done, second_done;
	uint8_t secret[SECRET_LEN];
	int have_secret;
	int secure, tamper_tag;
	ecp_key_t *hsm_static; /* -secure: the HSM side's static key (party V) */
};

static const struct {
	const char *name;
	uint8_t type;
} colours[] = {
	{"blue", LINK_KEY_BLUE},     {"red", LINK_KEY_RED},     {"orange", LINK_KEY_ORANGE},
	{"black", LINK_KEY_BLACK},   {"gray", LINK_KEY_BLACK},  {"white", LINK_KEY_WHITE},
};

static int colour_of(const char *s, uint8_t *type)
{
	for (size_t i = 0; s != NULL && i < sizeof(colours) / sizeof(colours[0]); i++)
		if (strcmp(s, colours[i].name) == 0) {
			*type = colours[i].type;
			return 0;
		}
	return -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pedlink -ped SPEC [-timeout MS] [-margin MS] [-pedwritelay US] [-v]\n"
		"               [-secure [-tampertag]] COMMAND\n"
		"  hello | status | forget | otp [-digits N]\n"
		"  read <blue|red|orange|black|white> [-keyset HEX]\n"
		"  create <colour> -label L [-reuse]\n"
		"  cancel-after <ms> <command...>\n"
		"  busy-test [colour]\n");
}

static void fingerprint(const uint8_t *secret, size_t len)
{
	uint8_t md[32];
	unsigned mdlen = 0;
	char hex[65];

	if (EVP_Digest(secret, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		printf("fingerprint error\n");
		return;
	}
	hex_encode(md, 8, hex);
	printf("fingerprint %s\n", hex);
	OPENSSL_cleanse(md, sizeof(md));
}

static void finish(struct job *j, int status)
{
	if (j->done)
		return;
	j->done = 1;
	j->rc = status == 0 ? 0 : 1;
	printf("result %s\n", ped_errname(status));
	uv_timer_stop(&j->cancel_timer);
	pedhost_close(j->h, NULL, NULL);
	j->h = NULL;
}

static void cancel_cb(uv_timer_t *t)
{
	struct job *j = t->data;
	int r;

	if (j->done || j->h == NULL)
		return;
	r = pedhost_cancel(j->h, j->id);
	printf("cancel %s\n", r == 0 ? "sent" : ped_errname(r));
}

static int second_request(struct job *j)
{
	uint8_t mem[64];
	static const uint8_t any[LINK_KEYSET_ID_LEN];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	if (pbuf_put_u8(&b, j->key_type) < 0 || pbuf_put_u32(&b, j->timeout_ms) < 0 ||
	    link_put_str(&b, "second") < 0 || pbuf_put_bytes(&b, any, sizeof(any)) < 0)
		return PED_E_INTERNAL;
	return pedhost_request(j->h, LINK_READ_KEYSET, mem, b.len, j->timeout_ms, &j->id2);
}

static void start(struct job *j)
{
	int r = 0;

	switch (j->cmd) {
	case C_STATUS:
		r = pedhost_status(j->h);
		break;
	case C_READ:
		if (j->key_type == LINK_KEY_ORANGE)
			r = pedhost_read_rpk(j->h, j->timeout_ms, "pedlink", &j->id);
		else
			r = pedhost_read_keyset(j->h, j->key_type, j->timeout_ms, "pedlink",
						j->have_keyset ? j->keyset : NULL, &j->id);
		break;
	case C_BUSY:
		r = pedhost_read_keyset(j->h, j->key_type, j->timeout_ms, "pedlink", NULL, &j->id);
		break;
	case C_CREATE:
		r = pedhost_create_keyset(j->h, j->key_type, j->timeout_ms, "pedlink", j->label,
					  j->reuse, &j->id);
		break;
	case C_FORGET:
		r = pedhost_forget_rpk(j->h, &j->id);
		break;
	case C_OTP:
		r = pedhost_otp(j->h, j->timeout_ms, "pedlink", (uint8_t)j->digits, &j->id);
		break;
	default:
		r = PED_E_INTERNAL;
		break;
	}
	if (r < 0) {
		finish(j, r);
		return;
	}
	j->started = 1;
	if (j->cancel_ms >= 0 && j->cmd != C_STATUS)
		uv_timer_start(&j->cancel_timer, cancel_cb, (uint64_t)j->cancel_ms, 0);
}

/* Party V of One-Pass C(1e,1s): what an HSM does with its static key. */
static int derive_v(void *arg, const uint8_t qe_u[ECP_PUB_LEN],
		    const uint8_t nonce_v[KAS_NONCE_LEN],
		    const uint8_t context[PEDHOST_KEX_CONTEXT_LEN], kas_keys_t *keys)
{
	struct job *j = arg;
	ecp_key_t *qe = NULL;
	struct kas_params kp = {0};
	int r;

	if ((r = ecp_import_public(qe_u, ECP_PUB_LEN, &qe)) < 0)
		return r;
	kp.scheme = KAS_ONE_PASS;
	kp.role = KAS_V;
	kp.own_static = j->hsm_static;
	kp.peer_ephem = qe;
	kp.nonce_v = nonce_v;
	kp.context = context;
	kp.context_len = PEDHOST_KEX_CONTEXT_LEN;
	r = kas_derive(&kp, keys);
	if (r == 0 && j->tamper_tag)
		keys->own_tag[0] ^= 0x01;
	ecp_free(qe);
	return r;
}

static void secure_done(void *arg, int err)
{
	struct job *j = arg;

	if (err < 0) {
		printf("secure %s\n", ped_errname(err));
		finish(j, err);
		return;
	}
	printf("secured\n");
	if (j->cmd == C_HELLO)
		finish(j, 0);
	else if (!j->started)
		start(j);
}

static void on_up(void *arg, const pedhost_info_t *info)
{
	struct job *j = arg;
	uint8_t qs[ECP_PUB_LEN];
	int r;

	printf("hello version %u firmware %s serial %s model %s\n", info->version, info->firmware,
	       info->serial, info->model);
	if (j->secure && !j->started) {
		if ((r = ecp_export_public(j->hsm_static, qs)) < 0 ||
		    (r = pedhost_secure(j->h, qs, derive_v, j, secure_done)) < 0) {
			printf("secure %s\n", ped_errname(r));
			finish(j, r);
		}
		return;
	}
	if (j->cmd == C_HELLO)
		finish(j, 0);
	else if (!j->started)
		start(j);
}

static void on_down(void *arg, int err)
{
	struct job *j = arg;

	if (!j->done)
		finish(j, err);
}

static const char *mode_name(uint8_t m)
{
	switch (m) {
	case LINK_MODE_LOCAL: return "local";
	case LINK_MODE_REMOTE: return "remote";
	case LINK_MODE_ADMIN: return "admin";
	case LINK_MODE_MENU: return "menu";
	default: return "unknown";
	}
}

static void on_status(void *arg, int err, const pedhost_status_t *st)
{
	struct job *j = arg;

	if (err == 0) {
		printf("status mode %s key %u busy %u firmware %s rpk %u", mode_name(st->mode),
		       st->key_present, st->busy, st->firmware, st->rpk_count);
		for (unsigned i = 0; i < st->rpk_count && i < PEDHOST_MAX_KEYS; i++)
			printf(" %s", st->rpk_serial[i]);
		printf("\n");
	}
	finish(j, err);
}

static void need_shares(struct job *j, uint16_t id, unsigned m, unsigned n)
{
	shamir_share_t shares[SHAMIR_MAX_N];
	uint8_t keyset[LINK_KEYSET_ID_LEN];
	int r = PED_E_RANGE;

	if (m < 1 || m > n || n > SHAMIR_MAX_N)
		goto out;
	r = PED_E_CRYPTO;
	if (RAND_bytes(j->secret, sizeof(j->secret)) != 1 ||
	    RAND_bytes(keyset, sizeof(keyset)) != 1)
		goto out;
	j->have_secret = 1;
	if ((r = shamir_split(j->secret, sizeof(j->secret), m, n, shares)) < 0)
		goto out;
	r = pedhost_send_shares(j->h, id, keyset, shares, n);
out:
	OPENSSL_cleanse(shares, sizeof(shares));
	if (r < 0) {
		printf("shares %s\n", ped_errname(r));
		pedhost_cancel(j->h, id);
	}
}

static void on_event(void *arg, uint16_t id, const pedhost_event_t *ev)
{
	struct job *j = arg;

	switch (ev->kind) {
	case LINK_EV_PROMPT: {
		int first = 1;
		printf("event prompt: ");
		for (unsigned i = 0; i < ev->nlines; i++) {
			size_t len = strlen(ev->lines[i]);
			while (len > 0 && ev->lines[i][len - 1] == ' ')
				len--;
			if (len == 0)
				continue;
			printf("%s%.*s", first ? "" : "|", (int)len, ev->lines[i]);
			first = 0;
		}
		printf("\n");
		break;
	}
	case LINK_EV_KEYS_READ:
		printf("event keys-read %u/%u\n", ev->k, ev->m);
		break;
	case LINK_EV_KEY_WRITTEN:
		printf("event key-written %u/%u %s\n", ev->k, ev->n, ev->serial);
		break;
	case LINK_EV_NEED_SHARES:
		printf("event need-shares %u/%u\n", ev->m, ev->n);
		if (id == j->id)
			need_shares(j, id, ev->m, ev->n);
		break;
	default:
		break;
	}
	if (j->cmd == C_BUSY && id == j->id && j->id2 == 0) {
		int r = second_request(j);
		if (r < 0) {
			printf("second request %s\n", ped_errname(r));
			finish(j, r);
		}
	}
}

/* Recombines the shares of a result and prints the fingerprint. */
static void combine(const pedhost_result_t *res)
{
	shamir_share_t shares[PEDHOST_MAX_KEYS];
	uint8_t secret[SHAMIR_MAX_SECRET];
	unsigned k = 0;
	pbuf_t b;
	int r = 0;

	printf("keys");
	for (unsigned i = 0; i < res->count; i++)
		printf(" %s", res->shares[i].serial);
	printf("\n");
	for (unsigned i = 0; i < res->count && r == 0; i++) {
		if (res->shares[i].wrap != 0) {
			r = PED_E_UNWRAP; /* no CWK on a bare link */
			break;
		}
		pbuf_from(&b, res->shares[i].data, res->shares[i].len);
		if ((r = shamir_share_decode(&b, &shares[k])) == 0)
			k++;
	}
	if (r == 0)
		r = shamir_combine(shares, k, secret, sizeof(secret));
	if (r == 0)
		fingerprint(secret, shares[0].len);
	else
		printf("fingerprint %s\n", ped_errname(r));
	OPENSSL_cleanse(shares, sizeof(shares));
	OPENSSL_cleanse(secret, sizeof(secret));
}

static void on_result(void *arg, uint16_t id, const pedhost_result_t *res)
{
	struct job *j = arg;
	char hex[2 * LINK_KEYSET_ID_LEN + 1];

	if (j->cmd == C_BUSY) {
		if (id == j->id2) {
			j->second_done = 1;
			j->second_status = res->status;
			printf("second result %s\n", ped_errname(res->status));
			/* Now end the first one from the host. */
			if (!j->first_done)
				pedhost_cancel(j->h, j->id);
		} else if (id == j->id) {
			j->first_done = 1;
			printf("first result %s\n", ped_errname(res->status));
		}
		if (j->first_done && (j->second_done || j->id2 == 0))
			finish(j, j->second_done && j->second_status == PED_E_PED_BUSY
					  ? 0 : (j->second_done ? j->second_status : PED_E_INTERNAL));
		return;
	}
	if (id != j->id)
		return;
	if (res->status == 0) {
		switch (j->cmd) {
		case C_READ:
			hex_encode(res->keyset, LINK_KEYSET_ID_LEN, hex);
			printf("keyset %s m %u n %u\n", hex, res->m, res->n);
			combine(res);
			break;
		case C_CREATE:
			hex_encode(res->keyset, LINK_KEYSET_ID_LEN, hex);
			printf("keyset %s m %u n %u\n", hex, res->m, res->n);
			printf("written %u%s\n", res->keys_written, res->reused ? " reused" : "");
			if (res->reused)
				combine(res);
			else if (j->have_secret)
				fingerprint(j->secret, sizeof(j->secret));
			break;
		case C_OTP:
			printf("otp %.*s\n", (int)res->otp_len, (const char *)res->otp);
			break;
		default:
			break;
		}
	} else if (res->message[0] != '\0') {
		printf("message %s\n", res->message);
	}
	finish(j, res->status);
}

/* Parses "COMMAND args..." from argv[i..]; returns 0 or -1. */
static int parse_command(struct job *j, int argc, char **argv, int i)
{
	if (i >= argc)
		return -1;
	const char *c = argv[i++];
	if (strcmp(c, "cancel-after") == 0) {
		char *end;
		if (i + 1 >= argc)
			return -1;
		j->cancel_ms = strtol(argv[i], &end, 10);
		if (*end != '\0' || j->cancel_ms < 0 || j->cancel_ms > 3600000)
			return -1;
		return parse_command(j, argc, argv, i + 1);
	}
	if (strcmp(c, "hello") == 0)
		j->cmd = C_HELLO;
	else if (strcmp(c, "status") == 0)
		j->cmd = C_STATUS;
	else if (strcmp(c, "forget") == 0)
		j->cmd = C_FORGET;
	else if (strcmp(c, "otp") == 0)
		j->cmd = C_OTP;
	else if (strcmp(c, "read") == 0 || strcmp(c, "create") == 0) {
		j->cmd = c[0] == 'r' ? C_READ : C_CREATE;
		if (i >= argc || colour_of(argv[i++], &j->key_type) < 0)
			return -1;
	} else if (strcmp(c, "busy-test") == 0) {
		j->cmd = C_BUSY;
		j->key_type = LINK_KEY_BLUE;
		if (i < argc && argv[i][0] != '-' && colour_of(argv[i++], &j->key_type) < 0)
			return -1;
	} else
		return -1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-keyset") == 0 && i + 1 < argc && j->cmd == C_READ) {
			if (hex_decode(argv[++i], j->keyset, sizeof(j->keyset)) != LINK_KEYSET_ID_LEN)
				return -1;
			j->have_keyset = 1;
		} else if (strcmp(argv[i], "-label") == 0 && i + 1 < argc && j->cmd == C_CREATE) {
			j->label = argv[++i];
		} else if (strcmp(argv[i], "-reuse") == 0 && j->cmd == C_CREATE) {
			j->reuse = 1;
		} else if (strcmp(argv[i], "-digits") == 0 && i + 1 < argc && j->cmd == C_OTP) {
			j->digits = (unsigned)atoi(argv[++i]);
			if (j->digits < 1 || j->digits > 32)
				return -1;
		} else {
			return -1;
		}
	}
	if (j->cmd == C_CREATE && j->label == NULL)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct job job;
	struct job *j = &job;
	pedhost_opts_t o = {0};
	static const pedhost_cbs_t cbs = {on_up, on_down, on_status, on_event, on_result};
	int i = 1, r, rc = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_set_ident("pedlink");
	log_set_level(LOG_LVL_WARNING);
	j->timeout_ms = LINK_DEFAULT_TIMEOUT_MS;
	j->cancel_ms = -1;
	j->digits = 8;
	j->rc = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-v") == 0) {
			log_set_level(LOG_LVL_TRACE);
			continue;
		}
		if (strcmp(a, "-secure") == 0) {
			j->secure = 1;
			continue;
		}
		if (strcmp(a, "-tampertag") == 0) {
			j->tamper_tag = 1;
			continue;
		}
		if (i + 1 >= argc)
			break;
		if (strcmp(a, "-ped") == 0)
			o.spec = argv[++i];
		else if (strcmp(a, "-timeout") == 0)
			j->timeout_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(a, "-margin") == 0)
			o.margin_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(a, "-hellotimeout") == 0)
			o.hello_timeout_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(a, "-pedwritelay") == 0)
			o.write_delay_us = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			break;
	}
	if (o.spec == NULL || parse_command(j, argc, argv, i) < 0 ||
	    (j->tamper_tag && !j->secure)) {
		usage();
		return 2;
	}
	if (j->secure && (r = ecp_generate(&j->hsm_static)) < 0) {
		printf("pedlink: cannot make a static key: %s\n", ped_strerror(r));
		return 2;
	}
	o.host_name = "pedlink";
	uv_loop_init(&j->loop);
	uv_timer_init(&j->loop, &j->cancel_timer);
	j->cancel_timer.data = j;
	r = pedhost_open(&j->loop, &o, &cbs, j, &j->h);
	if (r < 0) {
		if (r == PED_E_NOT_FOUND)
			printf("pedlink: no PED found at %s\n", o.spec);
		else
			printf("pedlink: cannot open %s: %s\n", o.spec, ped_strerror(r));
		j->done = 1;
		printf("result %s\n", ped_errname(r));
	}
	if (!j->done)
		uv_run(&j->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&j->cancel_timer, NULL);
	uv_run(&j->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&j->loop) != 0)
		fprintf(stderr, "pedlink: handles left open\n");
	else
		rc = j->rc;
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	ecp_free(j->hsm_static);
	return rc;
}
