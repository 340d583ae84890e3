/* pedhost.h - the host side of the PED link protocol (link.h) on top of a
 * transport (usbped.h): HELLO and version negotiation, STATUS, one PED
 * operation at a time with request ids, EVENTs, the RESULT decoded into a
 * struct, CANCEL, and a host-side deadline per operation so that a silent
 * PED cannot hang the host.
 *
 * Life cycle: pedhost_open() opens the transport and sends HELLO; on_up
 * reports the PED's identity, or on_down the failure (PED_E_PED_TIMEOUT if
 * nothing answered within the hello timeout, PED_E_VERSION, ...). When the
 * link drops, every pending operation completes with PED_E_UNPLUGGED, then
 * on_down(PED_E_UNPLUGGED) fires; pedhost_reopen() opens the transport again
 * (a USB transport with hot-plug also comes back by itself: on_up again).
 *
 * Deadlines: an operation's deadline is its PED timeout plus a margin, and
 * is pushed back by every EVENT (the PED is alive); on expiry the host sends
 * CANCEL and completes the operation with PED_E_PED_TIMEOUT. After
 * pedhost_cancel() the deadline becomes the margin alone.
 *
 * Callbacks may call any pedhost function, including pedhost_close(); none
 * runs after pedhost_close(). Structures passed to callbacks are valid for
 * the call only and are wiped afterwards (results carry shares). */
#ifndef PED_PEDHOST_H
#define PED_PEDHOST_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/shamir.h"
#include "usbped/link.h"

#define PEDHOST_HELLO_TIMEOUT_MS 5000u
#define PEDHOST_MARGIN_MS 5000u
#define PEDHOST_MAX_OPS 4 /* outstanding request ids (normally one) */
#define PEDHOST_STR 256   /* a link str (u8 length) and its NUL */
#define PEDHOST_MAX_KEYS 16
#define PEDHOST_OTP_MAX 64
#define PEDHOST_KEX_CONTEXT_LEN 64 /* SHA-512 of the KEX_OFFER payload */

typedef struct pedhost pedhost_t;

typedef struct pedhost_opts {
	const char *spec;          /* transport spec (usbped.h) */
	unsigned write_delay_us;   /* -pedwritelay, 0..10000 */
	const char *host_name;     /* sent in HELLO; NULL: "pedhost" */
	uint32_t hello_timeout_ms; /* 0: PEDHOST_HELLO_TIMEOUT_MS */
	uint32_t margin_ms;        /* 0: PEDHOST_MARGIN_MS */
} pedhost_opts_t;

typedef struct pedhost_info {
	uint8_t version; /* negotiated */
	char firmware[PEDHOST_STR];
	char serial[PEDHOST_STR];
	char model[PEDHOST_STR];
} pedhost_info_t;

typedef struct pedhost_status {
	uint8_t mode; /* enum link_mode */
	uint8_t key_present;
	uint8_t busy;
	char firmware[PEDHOST_STR];
	uint8_t rpk_count; /* as reported; at most PEDHOST_MAX_KEYS serials kept */
	char rpk_serial[PEDHOST_MAX_KEYS][PEDHOST_STR];
} pedhost_status_t;

typedef struct pedhost_event {
	uint8_t kind; /* enum link_event */
	uint8_t nlines;
	char lines[8][PEDHOST_STR]; /* PROMPT */
	uint8_t k, m, n;            /* KEYS_READ (k, m), KEY_WRITTEN (k, n), NEED_SHARES (m, n) */
	char serial[PEDHOST_STR];   /* KEY_WRITTEN */
} pedhost_event_t;

typedef struct pedhost_share {
	char serial[PEDHOST_STR];
	uint8_t wrap; /* 0 plain, 1 KWP-wrapped (link.h); always 0 on a secure
		       * link: pedhost unwraps before on_result */
	uint16_t len;
	uint8_t data[SHAMIR_ENCODED_MAX]; /* an encoded share (shamir.h) */
} pedhost_share_t;

typedef struct pedhost_result {
	uint8_t op;  /* the request type (enum link_type) */
	int status;  /* 0 or a negative PED_E_* code */
	char message[PEDHOST_STR]; /* from an ERROR frame, else "" */
	/* READ_KEYSET, READ_RPK, CREATE_KEYSET: */
	uint8_t reused, m, n, keys_written;
	uint8_t keyset[LINK_KEYSET_ID_LEN];
	uint8_t count;
	pedhost_share_t shares[PEDHOST_MAX_KEYS];
	/* OTP: */
	uint8_t otp_wrap;
	size_t otp_len;
	uint8_t otp[PEDHOST_OTP_MAX];
} pedhost_result_t;

typedef struct pedhost_cbs {
	void (*on_up)(void *arg, const pedhost_info_t *info);
	/* The link is down or HELLO failed (err < 0). */
	void (*on_down)(void *arg, int err);
	/* Answer to pedhost_status(): err 0 and st, or err < 0 and st NULL. */
	void (*on_status)(void *arg, int err, const pedhost_status_t *st);
	void (*on_event)(void *arg, uint16_t id, const pedhost_event_t *ev);
	/* Exactly once per operation started. */
	void (*on_result)(void *arg, uint16_t id, const pedhost_result_t *res);
} pedhost_cbs_t;

/* Opens the transport and sends HELLO. Synchronous failures are those of
 * usbped_open (PED_E_NOT_FOUND "no PED found", PED_E_INVAL, ...). */
int pedhost_open(uv_loop_t *loop, const pedhost_opts_t *opts, const pedhost_cbs_t *cbs,
		 void *arg, pedhost_t **out);
/* After on_down: closes the old transport, opens it again, sends HELLO. */
int pedhost_reopen(pedhost_t *h);
/* Whether HELLO succeeded and the link is up. */
int pedhost_is_up(const pedhost_t *h);
const pedhost_info_t *pedhost_info(const pedhost_t *h);

/* One status request at a time (PED_E_PED_BUSY otherwise). */
int pedhost_status(pedhost_t *h);

/* Operations: 0 and the request id in *id, PED_E_PED_BUSY while another
 * operation is pending, PED_E_UNPLUGGED when the link is not up.
 * keyset NULL: any keyset of that type. */
int pedhost_read_keyset(pedhost_t *h, uint8_t key_type, uint32_t timeout_ms, const char *title,
			const uint8_t *keyset, uint16_t *id);
int pedhost_create_keyset(pedhost_t *h, uint8_t key_type, uint32_t timeout_ms,
			  const char *title, const char *label, int allow_reuse, uint16_t *id);
int pedhost_read_rpk(pedhost_t *h, uint32_t timeout_ms, const char *title, uint16_t *id);
int pedhost_forget_rpk(pedhost_t *h, uint16_t *id);
int pedhost_otp(pedhost_t *h, uint32_t timeout_ms, const char *title, uint8_t digits,
		uint16_t *id);
/* Answers EVENT NEED_SHARES of operation id with count shares. */
int pedhost_send_shares(pedhost_t *h, uint16_t id, const uint8_t keyset[LINK_KEYSET_ID_LEN],
			const shamir_share_t *shares, unsigned count);
/* Asks the PED to cancel operation id (its RESULT still follows). */
int pedhost_cancel(pedhost_t *h, uint16_t id);
/* Sends any request frame without the one-operation rule (tests, e.g. to
 * see the PED answer PED_BUSY); its RESULT is decoded as for type. */
int pedhost_request(pedhost_t *h, uint8_t type, const uint8_t *payload, size_t len,
		    uint32_t timeout_ms, uint16_t *id);

/* ---- the Local PED's secure link (link.h KEX_*) ---------------------------
 *
 * One-Pass C(1e,1s) key agreement (crypto/kas.h): the PED is party U with an
 * ephemeral key, the HSM is party V with its static key Qs_V. pedhost_secure()
 * makes Nonce_V (32 random bytes) and sends KEX_OFFER(Qs_V || Nonce_V). On
 * KEX_ACCEPT(Qe_U) it calls derive(arg, qe_u, nonce_v, context, keys), where
 * context = SHA-512(KEX_OFFER payload) is the SuppPubInfo to use; the caller
 * derives as party V (kas_derive with KAS_ONE_PASS, KAS_V, its static key,
 * peer_ephem = Qe_U imported with ecp_import_public, nonce_v, context, no
 * secret) into *keys and returns 0 or a negative PED_E_* code. *keys belongs
 * to pedhost: it keeps the two CWKs and sends own_tag, and wipes *keys when
 * derive returns (the caller wipes anything else it derived).
 * pedhost then sends KEX_CONFIRM(keys->own_tag); on KEX_DONE 0 it installs
 * the CWKs and done(arg, 0) fires. From then on:
 *   - wrap = 1 blobs in RESULTs (shares, OTP digits) are unwrapped with CWK_UV
 *     before on_result, which sees plain data with wrap = 0, exactly as on an
 *     unsecured link; a blob that fails to unwrap, and a plain (wrap = 0) CSP
 *     (a secured PED never sends one), complete the operation with
 *     PED_E_UNWRAP and no data;
 *   - pedhost_send_shares() wraps every share with CWK_VU.
 * done(arg, err) fires exactly once per pedhost_secure() that returned 0:
 * 0, PED_E_KC_FAILED (KEX_DONE KEY_CONFIRMATION_FAILED: the PED dropped the
 * keys), the PED's ERROR status (e.g. PED_E_BAD_KEY, PED_E_PED_BUSY), derive's
 * error (no KEX_CONFIRM is sent; the PED's pending keys die with the next
 * KEX_OFFER, HELLO or link drop), PED_E_PARSE (malformed KEX_ACCEPT or
 * KEX_DONE), PED_E_PED_TIMEOUT (no answer within margin_ms per step), or
 * PED_E_UNPLUGGED (the link dropped). Any failure leaves the link unsecured.
 * The keys are wiped when the link drops, on every HELLO (pedhost_reopen(),
 * USB hot-plug), on pedhost_close(), and when a new pedhost_secure() starts;
 * the PED drops its keys on the same events (link down, HELLO, KEX_OFFER).
 * pedhost_secure() returns synchronously PED_E_UNPLUGGED (link not up),
 * PED_E_PED_BUSY (an operation or another key agreement is pending),
 * PED_E_INVAL, or the send error. It occupies the one-operation slot: no
 * other operation can start until done() fired. */
typedef int (*pedhost_derive_cb)(void *arg, const uint8_t qe_u[ECP_PUB_LEN],
				 const uint8_t nonce_v[KAS_NONCE_LEN],
				 const uint8_t context[PEDHOST_KEX_CONTEXT_LEN], kas_keys_t *keys);
typedef void (*pedhost_secure_done_cb)(void *arg, int err);

int pedhost_secure(pedhost_t *h, const uint8_t qs_v[ECP_PUB_LEN], pedhost_derive_cb derive,
		   void *cb_arg, pedhost_secure_done_cb done);
/* Whether the link is secured (KEX_DONE 0 seen and the link not dropped). */
int pedhost_is_secure(const pedhost_t *h);

/* Closes everything; on_closed(arg) (may be NULL) once the loop holds no
 * handle of ours. Pending operations get no callback. NULL is a no-op. */
void pedhost_close(pedhost_t *h, void (*on_closed)(void *arg), void *arg);

#endif
