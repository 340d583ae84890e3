/* pake.c - the password mode's key schedule (see pake.h). */
#include "pake.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/kdf.h"

int pake_password_check(const char *pw, size_t len)
{
	if (pw == NULL || len != PAKE_PW_DIGITS)
		return PED_E_INVAL;
	for (size_t i = 0; i < len; i++)
		if (pw[i] < '0' || pw[i] > '9')
			return PED_E_INVAL;
	return 0;
}

int pake_password_new(char out[static PAKE_PW_DIGITS + 1])
{
	uint8_t b;
	size_t i = 0;

	while (i < PAKE_PW_DIGITS) {
		if (RAND_priv_bytes(&b, 1) != 1)
			return PED_E_CRYPTO;
		if (b < 250) /* 250 = 25 x 10: no bias */
			out[i++] = (char)('0' + b % 10);
	}
	out[i] = '\0';
	OPENSSL_cleanse(&b, sizeof(b));
	return 0;
}

static int put_lv(pbuf_t *b, const void *p, size_t n)
{
	int r = pbuf_put_u32(b, (uint32_t)n);
	return r != 0 ? r : pbuf_put_bytes(b, p, n);
}

static int make_w(const char *pw, size_t pw_len, const char *serial, uint8_t w[PAKE_W_LEN])
{
	uint8_t mem[8 + sizeof(PAKE_W_LABEL) + WIRE_STR_MAX];
	pbuf_t fi;
	int r;

	if ((r = pake_password_check(pw, pw_len)) != 0 || serial == NULL ||
	    strlen(serial) > WIRE_STR_MAX)
		return PED_E_INVAL;
	pbuf_over(&fi, mem, sizeof(mem));
	if ((r = put_lv(&fi, PAKE_W_LABEL, sizeof(PAKE_W_LABEL) - 1)) != 0 ||
	    (r = put_lv(&fi, serial, strlen(serial))) != 0)
		return r;
	return kdf_onestep_sha512((const uint8_t *)pw, pw_len, fi.data, fi.len, w, PAKE_W_LEN);
}

int pake_start(enum kas_role role, const char *pw, size_t pw_len, const char *hsm_serial,
	       const uint8_t *test_scalar, size_t test_scalar_len, spake2_t **s,
	       uint8_t msg[static PAKE_PT_LEN])
{
	uint8_t w[PAKE_W_LEN];
	size_t n = 0;
	int r;

	if (s == NULL)
		return PED_E_INVAL;
	*s = NULL;
	if ((r = make_w(pw, pw_len, hsm_serial, w)) == 0 &&
	    (r = spake2_new(PAKE_SUITE, role == KAS_U ? SPAKE2_A : SPAKE2_B, w, sizeof(w),
			    test_scalar, test_scalar_len, s)) == 0 &&
	    (r = spake2_msg(*s, msg, PAKE_PT_LEN, &n)) == 0 && n != PAKE_PT_LEN)
		r = PED_E_INTERNAL;
	OPENSSL_cleanse(w, sizeof(w));
	if (r != 0) {
		spake2_free(*s);
		*s = NULL;
	}
	return r;
}

/* A = str(hsm_serial) || Qs_U; B = str(server_name). */
static int ids(const char *serial, const uint8_t *qs_u, const char *server, pbuf_t *a,
	       pbuf_t *b)
{
	int r;

	if (serial == NULL || server == NULL)
		return PED_E_INVAL;
	if ((r = wire_put_str(a, serial)) != 0 || (r = pbuf_put_bytes(a, qs_u, ECP_PUB_LEN)) != 0 ||
	    (r = wire_put_str(b, server)) != 0)
		return r;
	return 0;
}

int pake_finish(spake2_t **s, enum kas_role role, const char *hsm_serial,
		const uint8_t qs_u[static ECP_PUB_LEN], const char *server_name,
		const uint8_t peer[static PAKE_PT_LEN], const uint8_t *t, size_t t_len,
		kas_keys_t *out)
{
	uint8_t amem[1 + WIRE_STR_MAX + ECP_PUB_LEN], bmem[1 + WIRE_STR_MAX], own[PAKE_PT_LEN];
	struct spake2_keys sk;
	struct kas_fixed f;
	pbuf_t a, b;
	size_t n = 0;
	int r = PED_E_INVAL;

	memset(&sk, 0, sizeof(sk));
	if (out != NULL)
		kas_keys_wipe(out);
	if (s == NULL || *s == NULL || out == NULL || (role != KAS_U && role != KAS_V))
		goto out;
	pbuf_over(&a, amem, sizeof(amem));
	pbuf_over(&b, bmem, sizeof(bmem));
	if ((r = ids(hsm_serial, qs_u, server_name, &a, &b)) != 0 ||
	    (r = spake2_msg(*s, own, sizeof(own), &n)) != 0 ||
	    (r = spake2_finish(*s, a.data, a.len, b.data, b.len, peer, PAKE_PT_LEN, t, t_len,
			       &sk)) != 0)
		goto out;
	f = (struct kas_fixed){
		.alg = PAKE_ALG,
		.id_u = a.data, .id_u_len = a.len, .e_u = role == KAS_U ? own : peer,
		.e_u_len = PAKE_PT_LEN,
		.id_v = b.data, .id_v_len = b.len, .e_v = role == KAS_U ? peer : own,
		.e_v_len = PAKE_PT_LEN,
		.context = t, .context_len = t_len,
	};
	if ((r = kas_schedule(sk.ke, sk.half_len, &f, KAS_SPAKE2, role, out)) != 0)
		goto out;
	memcpy(out->own_tag, role == KAS_U ? sk.conf_a : sk.conf_b, KAS_TAG_LEN);
	memcpy(out->peer_tag, role == KAS_U ? sk.conf_b : sk.conf_a, KAS_TAG_LEN);
	out->has_own_tag = out->has_peer_tag = 1;
out:
	spake2_keys_wipe(&sk);
	if (s != NULL) {
		spake2_free(*s);
		*s = NULL;
	}
	if (r != 0 && out != NULL)
		kas_keys_wipe(out);
	return r;
}
