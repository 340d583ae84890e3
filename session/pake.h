/* pake.h - the one-time password mode of the session protocol
 * (docs/PROTOCOL.md, Part 4): SPAKE2 (crypto/spake2.h, P-521/SHA-512) keyed
 * by an 8-digit password that the HSM shows and the key holder types on the
 * PED. Both sides use these functions: the HSM (party U, SPAKE2's A) and
 * pedserver (party V, SPAKE2's B).
 *
 *   w    = OS2IP(KDF(password, lv("RemotePED-1 SPAKE2 password") ||
 *                lv(hsm_serial), 74 bytes)) mod n           (kdf.h)
 *   A    = str(hsm_serial) || Qs_U          (the HSM: serial, static key)
 *   B    = str(server_name)                 (the PED host, from HELLO_ACK)
 *   AAD  = T, the handshake transcript hash (HELLO, HELLO_ACK, PAKE_A)
 *   keys = kas_schedule(Z = Ke, FixedInfo(PAKE_ALG, ID_U = A, EphemData_U
 *          = pA, ID_V = B, EphemData_V = pB, SuppPubInfo = T, no
 *          SuppPrivInfo)); tags: U sends confA, V sends confB. */
#ifndef PED_PAKE_H
#define PED_PAKE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/spake2.h"
#include "session/wire.h"

#define PAKE_SUITE SPAKE2_P521_SHA512
#define PAKE_PW_DIGITS 8
#define PAKE_W_LEN 74 /* 66 + 8: reduced mod n with a negligible bias */
#define PAKE_PT_LEN ECP_PUB_LEN
#define PAKE_CONF_LEN KAS_TAG_LEN
#define PAKE_ALG "RemotePED-1 SPAKE2 P-521 SHA-512 AES-256-CTR HMAC-SHA-512 AES-256-KWP"
#define PAKE_W_LABEL "RemotePED-1 SPAKE2 password"

/* 0 if pw is exactly PAKE_PW_DIGITS ASCII digits, else PED_E_INVAL. */
int pake_password_check(const char *pw, size_t len);
/* Draws a password (uniform 8 digits) into out (PAKE_PW_DIGITS + NUL). */
int pake_password_new(char out[static PAKE_PW_DIGITS + 1]);
/* Starts one side: w from the password and hsm_serial, a fresh scalar (or
 * the test's), this side's share (pA for U, pB for V) into msg. */
int pake_start(enum kas_role role, const char *pw, size_t pw_len, const char *hsm_serial,
	       const uint8_t *test_scalar, size_t test_scalar_len, spake2_t **s,
	       uint8_t msg[static PAKE_PT_LEN]);
/* Finishes with the peer's share: the channel keys with own_tag / peer_tag
 * set (U: confA / confB; V: confB / confA). T is the 64-byte transcript
 * hash. Frees *s. PED_E_BAD_KEY for an invalid or reflected share. */
int pake_finish(spake2_t **s, enum kas_role role, const char *hsm_serial,
		const uint8_t qs_u[static ECP_PUB_LEN], const char *server_name,
		const uint8_t peer[static PAKE_PT_LEN], const uint8_t *t, size_t t_len,
		kas_keys_t *out);

#endif
