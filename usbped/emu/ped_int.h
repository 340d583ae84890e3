/* ped_int.h - what the parts of the emulated PED share: its state (struct
 * ped) and the internal calls between the state machine (ped.c), the
 * screens (ped_screen.c), the key store (ped_keys.c) and the link side
 * (ped_link.c). Nothing outside usbped/emu/ped*.c includes this. */
#ifndef PED_EMU_PED_INT_H
#define PED_EMU_PED_INT_H

#include "usbped/emu/ped.h"
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "common/err.h"
#include "common/hex.h"
#include "common/sys.h"
#include "common/log.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/kwp.h"
#include "crypto/shamir.h"
#include "usbped/pedkey.h"

#define LOG_KEEP 7
#define ENTRY_MAX PEDKEY_PIN_MAX
#define OTP_MAX_DIGITS 16
#define TITLE_MAX 256 /* a str field holds at most 255 bytes */
#define LIST_MAX 1024
#define KEX_OFFER_LEN (ECP_PUB_LEN + KAS_NONCE_LEN)
#define WRAPPED_MAX KWP_WRAPPED_LEN(SHAMIR_ENCODED_MAX)

enum screen {
	S_IDLE,
	S_MENU,
	S_RPK_WARN,
	S_LOG,
	S_ADMIN,
	S_ADM_KEY,
	S_ADM_IDENT,
	S_SELFTEST,
	S_DONE,
	S_RD_INSERT,
	S_RD_PIN,
	S_CR_REUSE,
	S_CR_M,
	S_CR_N,
	S_CR_WAIT,
	S_W_INSERT,
	S_W_WARN1,
	S_W_WARN2,
	S_CR_PIN1,
	S_CR_PIN2,
	S_CR_DUPQ,
	S_OTP,
	S_ALLOW,
};

enum flow { F_NONE, F_READ, F_RPK, F_CREATE, F_OTP, F_ALLOW, F_ADM_DUP };

struct got {
	char serial[PEDKEY_SERIAL_MAX + 1];
	shamir_share_t s;
};

struct ped {
	uv_loop_t *loop;
	uv_timer_t timer;
	ped_io_t io;
	char *keydir;
	enum link_mode mode, prev_mode;
	enum screen scr, back;
	const char *msg;
	bool prompt_pending;
	bool link_up;
	bool slot_full;
	char slot[PED_KEYNAME_MAX + 1];
	char lcd[PED_LCD_LINES][PED_LCD_COLS + 1];
	char log[LOG_KEEP][PED_LCD_COLS + 1];
	unsigned nlog;
	char serial[20];
	char selftest_reader[PED_LCD_COLS + 1];

	/* Cached RPK (Remote mode only). */
	bool rpk_cached;
	uint8_t rpk_m, rpk_n;
	uint8_t rpk_keyset[LINK_KEYSET_ID_LEN];
	unsigned rpk_count;
	struct got rpk[SHAMIR_MAX_N];

	/* The running flow: a host operation or an Admin duplicate. */
	enum flow flow;
	bool linkop;
	uint16_t id;
	uint8_t key_type;
	char title[PED_LCD_COLS + 1];
	char label[PEDKEY_LABEL_MAX + 1];
	uint8_t want[LINK_KEYSET_ID_LEN];
	bool want_any;
	bool allow_reuse;
	uint8_t otp_digits;
	uint8_t allow_fp[LINK_FINGERPRINT_LEN]; /* ALLOW_HSM: the key shown */
	char allow_serial[PED_LCD_COLS + 1];
	uint8_t m, n;
	uint8_t keyset[LINK_KEYSET_ID_LEN];
	bool have_keyset;
	unsigned nread;
	struct got got[SHAMIR_MAX_N];
	bool reused;
	unsigned nshares;
	shamir_share_t shares[SHAMIR_MAX_N];
	unsigned set_no, idx, written;
	char set_serials[SHAMIR_MAX_N][PEDKEY_SERIAL_MAX + 1];
	unsigned nset;
	char entry[ENTRY_MAX + 1];
	size_t elen;
	char pin1[ENTRY_MAX + 1];
	pedkey_t key; /* the key being read, written or identified */
	char key_name[PED_KEYNAME_MAX + 1];
	pedkey_t src; /* Admin duplicate: the original */
	char src_pin[ENTRY_MAX + 1];

	/* Secure link: keys of a KEX_OFFER awaiting KEX_CONFIRM, then the CWKs. */
	bool kex_wait;
	uint16_t kex_id;
	kas_keys_t kex_keys;
	bool secure;
	uint8_t cwk_uv[KAS_CWK_LEN]; /* PED -> host */
	uint8_t cwk_vu[KAS_CWK_LEN]; /* host -> PED */
};

/* ped.c: state machine */
void ped_add_log(ped_t *p, const char *fmt, ...) PED_PRINTF(2, 3);
void ped_go(ped_t *p, enum screen s, const char *msg);
enum screen ped_idle_screen(const ped_t *p);
void ped_rpk_drop(ped_t *p);
void ped_unsecure(ped_t *p);
void ped_flow_reset(ped_t *p);
void ped_on_timeout(uv_timer_t *t);
void ped_refresh(ped_t *p);
bool ped_keyset_zero(const uint8_t id[LINK_KEYSET_ID_LEN]);

/* ped_screen.c: the LCD */
const char *ped_type_name(uint8_t t);
void ped_render(ped_t *p);

/* ped_keys.c: key files */
int ped_key_path(const ped_t *p, const char *name, char *out, size_t cap);
int ped_load_slot(ped_t *p, pedkey_t *k);

/* ped_link.c: frames to and from the host */
void ped_send_event(ped_t *p, const uint8_t *data, size_t len);
void ped_send_prompt(ped_t *p);
void ped_end_op(ped_t *p, int status);

#endif
