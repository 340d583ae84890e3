/* ped.c - the emulated PED's state machine (see ped.h).
 *
 * The PED is always on one screen (enum screen). A keypad press or a host
 * frame moves it to another screen; after each event the LCD is re-rendered
 * from the state, observers are told when it changed, and during a host
 * operation an EVENT PROMPT carries the new screen to the host. Typing a
 * digit only echoes it (or a '*'), which is not a new screen: no PROMPT, so
 * the length of a PIN never leaves the PED.
 *
 * Keys during an operation: CLEAR clears an entry (PIN, M, N, password) and
 * cancels anywhere else; NO cancels where it is not the answer to a YES/NO
 * question; '<' is the backspace of an entry. Either cancel ends the
 * operation with USER_CANCELLED. Secrets (shares, PINs, the cached RPK)
 * are wiped as soon as they are not needed and never reach the LCD.
 *
 * Secure link (Local PED): KEX_OFFER / KEX_CONFIRM run the One-Pass key
 * agreement as party U (crypto/kas.h); once the host's tag checks, every CSP
 * blob goes out wrapped under CWK_UV and must come in wrapped under CWK_VU,
 * until the link drops, a HELLO or a new KEX_OFFER. */
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
};

enum flow { F_NONE, F_READ, F_RPK, F_CREATE, F_OTP, F_ADM_DUP };

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

static void refresh(ped_t *p);

static const char *const key_roles[] = {
	[LINK_KEY_BLANK] = "blank",
	[LINK_KEY_BLUE] = "SO / HSM Admin",
	[LINK_KEY_RED] = "Cloning Domain",
	[LINK_KEY_ORANGE] = "Remote PED Vector",
	[LINK_KEY_BLACK] = "Crypto Officer/User",
	[LINK_KEY_WHITE] = "Audit User",
};

/* What the overwrite warning says a key is for. */
static const char *const key_purpose[] = {
	[LINK_KEY_BLANK] = "blank",  [LINK_KEY_BLUE] = "SO",    [LINK_KEY_RED] = "Domain",
	[LINK_KEY_ORANGE] = "RPV",   [LINK_KEY_BLACK] = "User", [LINK_KEY_WHITE] = "Audit",
};

static const char *type_name(uint8_t t)
{
	const char *s = link_key_type_name(t);
	return s != NULL ? s : "?";
}

/* ---------------------------------------------------------------- utils */

static void lcd_set(ped_t *p, unsigned i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void lcd_set(ped_t *p, unsigned i, const char *fmt, ...)
{
	va_list ap;

	if (i >= PED_LCD_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(p->lcd[i], sizeof(p->lcd[i]), fmt, ap);
	va_end(ap);
}

static void add_log(ped_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_log(ped_t *p, const char *fmt, ...)
{
	va_list ap;
	unsigned i;

	for (i = LOG_KEEP - 1; i > 0; i--)
		memcpy(p->log[i], p->log[i - 1], sizeof(p->log[i]));
	va_start(ap, fmt);
	vsnprintf(p->log[0], sizeof(p->log[0]), fmt, ap);
	va_end(ap);
	if (p->nlog < LOG_KEEP)
		p->nlog++;
}

static void go(ped_t *p, enum screen s, const char *msg)
{
	p->scr = s;
	p->msg = msg;
	p->prompt_pending = true;
}

static void entry_clear(ped_t *p)
{
	OPENSSL_cleanse(p->entry, sizeof(p->entry));
	p->elen = 0;
}

static void stars(char *out, size_t cap, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = '*';
	out[i] = '\0';
}

static int key_path(const ped_t *p, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s.key", p->keydir, name);
	return n < 0 || (size_t)n >= cap ? PED_E_TOO_LONG : 0;
}

/* Loads the key in the slot into *k. */
static int load_slot(ped_t *p, pedkey_t *k)
{
	char path[4096];
	int r;

	memset(k, 0, sizeof(*k));
	if (!p->slot_full)
		return PED_E_NOT_FOUND;
	if ((r = key_path(p, p->slot, path, sizeof(path))) != 0)
		return r;
	return pedkey_load(path, k);
}

static enum screen idle_screen(const ped_t *p)
{
	switch (p->mode) {
	case LINK_MODE_ADMIN:
		return S_ADMIN;
	case LINK_MODE_MENU:
		return S_MENU;
	default:
		return S_IDLE;
	}
}

static void forget_rpk(ped_t *p)
{
	if (p->rpk_cached)
		add_log(p, "RPK invalidated");
	OPENSSL_cleanse(p->rpk, sizeof(p->rpk));
	OPENSSL_cleanse(p->rpk_keyset, sizeof(p->rpk_keyset));
	p->rpk_cached = false;
	p->rpk_count = 0;
	p->rpk_m = p->rpk_n = 0;
}

/* Drops the link keys, confirmed or pending. */
static void unsecure(ped_t *p)
{
	if (p->secure)
		log_info("link keys dropped");
	p->secure = false;
	p->kex_wait = false;
	p->kex_id = 0;
	kas_keys_wipe(&p->kex_keys);
	OPENSSL_cleanse(p->cwk_uv, sizeof(p->cwk_uv));
	OPENSSL_cleanse(p->cwk_vu, sizeof(p->cwk_vu));
}

/* Appends a CSP as a blob: wrapped under CWK_UV on a secured link. */
static int put_csp(const ped_t *p, pbuf_t *b, const uint8_t *data, size_t len)
{
	uint8_t w[WRAPPED_MAX];
	size_t wlen = 0;
	int r;

	if (!p->secure)
		return link_put_blob(b, 0, data, len);
	if ((r = kwp_wrap(p->cwk_uv, data, len, w, sizeof(w), &wlen)) == 0)
		r = link_put_blob(b, 1, w, wlen);
	OPENSSL_cleanse(w, sizeof(w));
	return r;
}

/* Forgets the running flow and every secret it held. */
static void flow_reset(ped_t *p)
{
	uv_timer_stop(&p->timer);
	p->flow = F_NONE;
	p->linkop = false;
	p->id = 0;
	p->m = p->n = 0;
	p->have_keyset = false;
	p->nread = p->nshares = p->set_no = p->idx = p->written = p->nset = 0;
	p->reused = false;
	OPENSSL_cleanse(p->got, sizeof(p->got));
	OPENSSL_cleanse(p->shares, sizeof(p->shares));
	OPENSSL_cleanse(p->pin1, sizeof(p->pin1));
	OPENSSL_cleanse(p->src_pin, sizeof(p->src_pin));
	entry_clear(p);
	pedkey_wipe(&p->key);
	pedkey_wipe(&p->src);
	memset(p->keyset, 0, sizeof(p->keyset));
}

/* ------------------------------------------------------------ link output */

static void send_frame(ped_t *p, uint8_t type, uint16_t id, const pbuf_t *b)
{
	if (p->link_up && p->io.send != NULL)
		p->io.send(p->io.arg, type, id, b->data, b->len);
}

static void send_error(ped_t *p, uint16_t id, int code, const char *text)
{
	uint8_t mem[300];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	if (pbuf_put_u16(&b, (uint16_t)-code) == 0 && link_put_str(&b, text) == 0)
		send_frame(p, LINK_ERROR, id, &b);
}

static void send_status_result(ped_t *p, uint16_t id, int code)
{
	uint8_t mem[2];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	if (pbuf_put_u16(&b, (uint16_t)-code) == 0)
		send_frame(p, LINK_RESULT, id, &b);
}

static void send_event(ped_t *p, const uint8_t *data, size_t len)
{
	pbuf_t b;

	pbuf_from(&b, data, len);
	if (p->linkop)
		send_frame(p, LINK_EVENT, p->id, &b);
}

static void send_prompt(ped_t *p)
{
	uint8_t mem[2 + PED_LCD_LINES * (PED_LCD_COLS + 1)];
	unsigned n = PED_LCD_LINES, i;
	pbuf_t b;

	while (n > 0 && p->lcd[n - 1][0] == '\0')
		n--;
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u8(&b, LINK_EV_PROMPT);
	pbuf_put_u8(&b, (uint8_t)n);
	/* An echoed entry ("****") stays on the PED: its length is a hint. */
	for (i = 0; i < n; i++)
		link_put_str(&b, strspn(p->lcd[i], "*") == strlen(p->lcd[i]) ? "" : p->lcd[i]);
	send_event(p, b.data, b.len);
}

/* Appends count x (str serial, blob share). */
static int put_shares(const ped_t *p, pbuf_t *b, const struct got *g, unsigned count)
{
	uint8_t enc[SHAMIR_ENCODED_MAX];
	pbuf_t e;
	unsigned i;
	int r = 0;

	if ((r = pbuf_put_u8(b, (uint8_t)count)) != 0)
		goto out;
	for (i = 0; i < count; i++) {
		pbuf_over(&e, enc, sizeof(enc));
		if ((r = shamir_share_encode(&g[i].s, &e)) != 0 ||
		    (r = link_put_str(b, g[i].serial)) != 0 ||
		    (r = put_csp(p, b, e.data, e.len)) != 0)
			goto out;
	}
out:
	OPENSSL_cleanse(enc, sizeof(enc));
	return r;
}

/* Ends the running host operation with a RESULT and returns to idle. A
 * status of 0 carries the payload the operation produces. */
static void end_op(ped_t *p, int status)
{
	static uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b;
	int r = 0;

	pbuf_over(&b, mem, sizeof(mem));
	if (!p->linkop)
		goto done;
	pbuf_put_u16(&b, 0);
	if (status == 0) {
		switch (p->flow) {
		case F_READ:
		case F_RPK:
			if ((r = pbuf_put_u8(&b, p->m)) != 0 || (r = pbuf_put_u8(&b, p->n)) != 0 ||
			    (r = pbuf_put_bytes(&b, p->keyset, LINK_KEYSET_ID_LEN)) != 0 ||
			    (r = put_shares(p, &b, p->got, p->nread)) != 0)
				break;
			break;
		case F_CREATE:
			if ((r = pbuf_put_u8(&b, p->reused)) != 0 || (r = pbuf_put_u8(&b, p->m)) != 0 ||
			    (r = pbuf_put_u8(&b, p->n)) != 0 ||
			    (r = pbuf_put_bytes(&b, p->keyset, LINK_KEYSET_ID_LEN)) != 0 ||
			    (r = pbuf_put_u8(&b, (uint8_t)(p->written > 255 ? 255 : p->written))) != 0)
				break;
			if (p->reused)
				r = put_shares(p, &b, p->got, p->nread);
			break;
		case F_OTP:
			r = put_csp(p, &b, (const uint8_t *)p->entry, p->elen);
			break;
		default:
			break;
		}
		if (r != 0)
			status = PED_E_TOO_LONG;
	}
	if (status != 0) {
		pbuf_over(&b, mem, sizeof(mem));
		pbuf_put_u16(&b, (uint16_t)-status);
	}
	log_info("%s #%u: %s", p->flow == F_CREATE ? "CREATE_KEYSET"
			       : p->flow == F_RPK  ? "READ_RPK"
			       : p->flow == F_OTP  ? "OTP"
						   : "READ_KEYSET",
		 p->id, status == 0 ? "OK" : ped_errname(status));
	if (status != 0)
		add_log(p, "%.20s", ped_errname(status));
	send_frame(p, LINK_RESULT, p->id, &b);
done:
	OPENSSL_cleanse(mem, sizeof(mem));
	flow_reset(p);
	go(p, idle_screen(p), NULL);
}

/* Ends an Admin-mode flow (no host involved). */
static void end_admin(ped_t *p, enum screen s, const char *msg)
{
	flow_reset(p);
	go(p, s, msg);
}

static void cancel_flow(ped_t *p)
{
	if (p->linkop)
		end_op(p, PED_E_USER_CANCELLED);
	else
		end_admin(p, S_ADM_KEY, NULL);
}

static void on_timeout(uv_timer_t *t)
{
	ped_t *p = t->data;

	if (p->linkop) {
		end_op(p, PED_E_PED_TIMEOUT);
		refresh(p);
	}
}

/* --------------------------------------------------------------- render */

static const char *mode_header(const ped_t *p)
{
	return p->mode == LINK_MODE_REMOTE ? "Remote PED mode" : "Local PED mode";
}

static void render_op_head(ped_t *p)
{
	if (p->flow == F_ADM_DUP) {
		lcd_set(p, 0, "PED Key mode");
		lcd_set(p, 1, "Duplicate");
	} else {
		lcd_set(p, 0, "%s", mode_header(p));
		lcd_set(p, 1, "%s", p->title);
	}
}

static void render_insert(ped_t *p, bool writing)
{
	unsigned done = writing ? p->idx : p->nread;
	unsigned total = writing ? (p->reused ? p->nread : p->nshares) : p->m;

	render_op_head(p);
	if (done > 0)
		lcd_set(p, 2, "Keys %s: %02u of %02u", writing ? "write" : "read", done, total);
	else if (writing && p->set_no > 0)
		lcd_set(p, 2, "Duplicate set %02u", p->set_no);
	if (p->flow == F_ADM_DUP && !writing) {
		lcd_set(p, 3, "Insert the PED Key");
		lcd_set(p, 4, "to copy.");
	} else if (p->flow == F_ADM_DUP) {
		lcd_set(p, 3, "Insert a blank or");
		lcd_set(p, 4, "reusable PED Key.");
	} else {
		lcd_set(p, 3, "Insert %s", done > 0 ? "another" : "a");
		lcd_set(p, 4, "%s", key_roles[p->key_type]);
		lcd_set(p, 5, "PED Key (%s)", type_name(p->key_type));
	}
	lcd_set(p, 6, "Press ENTER.");
}

static void render(ped_t *p)
{
	char st[PED_LCD_COLS + 1];
	char hexid[2 * LINK_KEYSET_ID_LEN + 1];
	unsigned i;

	memset(p->lcd, 0, sizeof(p->lcd));
	switch (p->scr) {
	case S_IDLE:
		lcd_set(p, 0, "%s", mode_header(p));
		lcd_set(p, 1, "Awaiting command...");
		if (p->mode == LINK_MODE_REMOTE && p->rpk_cached)
			lcd_set(p, 3, "RPK cached");
		if (p->msg != NULL)
			lcd_set(p, 5, "%s", p->msg);
		else if (p->secure)
			lcd_set(p, 5, "Link secured");
		lcd_set(p, 7, "< Menu    > Log");
		break;
	case S_MENU:
		lcd_set(p, 0, "Select Mode");
		lcd_set(p, 1, "4 Admin");
		lcd_set(p, 2, "7 Remote PED");
		lcd_set(p, 3, "0 Local PED-USB");
		lcd_set(p, 7, "Firmware %s", PED_FIRMWARE);
		break;
	case S_RPK_WARN:
		lcd_set(p, 1, "  ** WARNING **");
		lcd_set(p, 2, "Exiting now will");
		lcd_set(p, 3, "invalidate the RPK.");
		lcd_set(p, 4, "Confirm? YES/NO");
		break;
	case S_LOG:
		lcd_set(p, 0, "Recent actions:");
		for (i = 0; i < p->nlog && i + 1 < PED_LCD_LINES; i++)
			lcd_set(p, i + 1, "%s", p->log[i]);
		if (p->nlog == 0)
			lcd_set(p, 1, "(none)");
		break;
	case S_ADMIN:
		lcd_set(p, 0, "Admin mode...");
		lcd_set(p, 1, "1 PED Key");
		lcd_set(p, 2, "9 Self Test");
		lcd_set(p, 7, "< EXIT");
		break;
	case S_ADM_KEY:
		lcd_set(p, 0, "PED Key mode");
		lcd_set(p, 1, "3 Identify key");
		lcd_set(p, 2, "7 Duplicate");
		lcd_set(p, 6, "%s", p->msg ? p->msg : "");
		lcd_set(p, 7, "< EXIT");
		break;
	case S_ADM_IDENT:
		lcd_set(p, 0, "PED Key mode");
		if (p->msg != NULL) {
			lcd_set(p, 2, "%s", p->msg);
		} else {
			lcd_set(p, 1, "Type: %s", type_name(p->key.type));
			lcd_set(p, 2, "Label: %s", p->key.label);
			if (p->key.type != LINK_KEY_BLANK) {
				hex_encode(p->key.keyset, LINK_KEYSET_ID_LEN, hexid);
				lcd_set(p, 3, "M/N: %u of %u, #%u", p->key.m, p->key.n, p->key.x);
				lcd_set(p, 4, "Keyset: %.8s", hexid);
			}
			lcd_set(p, 5, "S/N %s", p->key.serial);
		}
		lcd_set(p, 7, "Press ENTER.");
		break;
	case S_SELFTEST:
		lcd_set(p, 0, "Self Test");
		lcd_set(p, 1, "Display......OK");
		lcd_set(p, 2, "Keypad.......OK");
		lcd_set(p, 3, "%s", p->selftest_reader);
		lcd_set(p, 5, "Self Test PASSED");
		lcd_set(p, 7, "Press ENTER.");
		break;
	case S_DONE:
		lcd_set(p, 0, "PED Key mode");
		lcd_set(p, 2, "%s", p->msg ? p->msg : "Done.");
		lcd_set(p, 7, "Press ENTER.");
		break;
	case S_RD_INSERT:
		render_insert(p, false);
		break;
	case S_RD_PIN:
		render_op_head(p);
		if (p->nread > 0)
			lcd_set(p, 2, "Keys read: %02u of %02u", p->nread, p->m);
		lcd_set(p, 3, "Enter PED PIN:");
		stars(st, sizeof(st), p->elen);
		lcd_set(p, 4, "%s", st);
		break;
	case S_CR_REUSE:
		render_op_head(p);
		lcd_set(p, 3, "Would you like to");
		lcd_set(p, 4, "reuse an existing");
		lcd_set(p, 5, "keyset? (Y/N)");
		break;
	case S_CR_M:
	case S_CR_N:
		render_op_head(p);
		if (p->scr == S_CR_M) {
			lcd_set(p, 3, "M value? (1-16)");
		} else {
			lcd_set(p, 2, "M = %02u", p->m);
			lcd_set(p, 3, "N value? (M-16)");
		}
		lcd_set(p, 5, ">%s", p->entry);
		break;
	case S_CR_WAIT:
		render_op_head(p);
		lcd_set(p, 3, "M of N: %02u of %02u", p->m, p->n);
		lcd_set(p, 4, "Generating keyset");
		lcd_set(p, 5, "Please wait...");
		break;
	case S_W_INSERT:
		render_insert(p, true);
		break;
	case S_W_WARN1:
		render_op_head(p);
		lcd_set(p, 2, "  ** WARNING **");
		if (p->key.type == LINK_KEY_BLANK) {
			lcd_set(p, 3, "This PED Key is");
			lcd_set(p, 4, "blank.");
		} else {
			lcd_set(p, 3, "This PED Key is for");
			lcd_set(p, 4, "%s (%s).", key_purpose[p->key.type], type_name(p->key.type));
		}
		lcd_set(p, 5, "Overwrite? YES/NO");
		break;
	case S_W_WARN2:
		render_op_head(p);
		lcd_set(p, 2, "  ** WARNING **");
		lcd_set(p, 3, "Are you sure you");
		lcd_set(p, 4, "want to overwrite");
		lcd_set(p, 5, "this PED key? YES/NO");
		break;
	case S_CR_PIN1:
	case S_CR_PIN2:
		render_op_head(p);
		lcd_set(p, 3, "Enter new PED PIN:");
		if (p->scr == S_CR_PIN1) {
			stars(st, sizeof(st), p->elen);
			lcd_set(p, 4, "%s", st);
		} else {
			stars(st, sizeof(st), strlen(p->pin1));
			lcd_set(p, 4, "%s", st);
			lcd_set(p, 5, "Confirm new PED PIN:");
			stars(st, sizeof(st), p->elen);
			lcd_set(p, 6, "%s", st);
		}
		break;
	case S_CR_DUPQ:
		render_op_head(p);
		if (p->set_no == 0) {
			lcd_set(p, 3, "Are you duplicating");
			lcd_set(p, 4, "this keyset? (Y/N)");
			if (p->reused)
				lcd_set(p, 5, "Need %02u keys!", p->nread);
		} else {
			lcd_set(p, 3, "Would you like to");
			lcd_set(p, 4, "make another");
			lcd_set(p, 5, "duplicate set? (Y/N)");
		}
		break;
	case S_OTP:
		render_op_head(p);
		lcd_set(p, 3, "Enter PED Password.");
		stars(st, sizeof(st), p->elen);
		lcd_set(p, 5, "%s", st);
		break;
	}
	/* Line 7 carries the latest message on operation screens. */
	if (p->msg != NULL && p->scr >= S_RD_INSERT)
		lcd_set(p, 7, "%s", p->msg);
}

/* Re-renders; tells observers and (during a host operation, on a new
 * screen) the host. */
static void refresh(ped_t *p)
{
	char old[PED_LCD_LINES][PED_LCD_COLS + 1];

	memcpy(old, p->lcd, sizeof(old));
	render(p);
	if (p->prompt_pending && p->linkop)
		send_prompt(p);
	p->prompt_pending = false;
	if (memcmp(old, p->lcd, sizeof(old)) != 0 && p->io.changed != NULL)
		p->io.changed(p->io.arg);
}

/* --------------------------------------------------------------- reading */

static bool keyset_zero(const uint8_t id[LINK_KEYSET_ID_LEN])
{
	static const uint8_t zero[LINK_KEYSET_ID_LEN];
	return memcmp(id, zero, LINK_KEYSET_ID_LEN) == 0;
}

static void read_done(ped_t *p)
{
	unsigned i;

	switch (p->flow) {
	case F_RPK:
		if (p->mode == LINK_MODE_REMOTE) {
			forget_rpk(p);
			p->rpk_cached = true;
			p->rpk_m = p->m;
			p->rpk_n = p->n;
			memcpy(p->rpk_keyset, p->keyset, LINK_KEYSET_ID_LEN);
			p->rpk_count = p->nread;
			for (i = 0; i < p->nread; i++)
				p->rpk[i] = p->got[i];
		}
		end_op(p, 0);
		break;
	case F_CREATE:
		p->reused = true;
		go(p, S_CR_DUPQ, NULL);
		break;
	case F_ADM_DUP:
		go(p, S_W_INSERT, NULL);
		break;
	default:
		end_op(p, 0);
		break;
	}
}

/* Takes the share of p->key (unmasked with pin). */
static void accept_key(ped_t *p, const char *pin)
{
	struct got *g;
	uint8_t ev[4];

	if (p->flow == F_ADM_DUP) {
		p->src = p->key;
		snprintf(p->src_pin, sizeof(p->src_pin), "%s", pin);
		pedkey_wipe(&p->key);
		entry_clear(p);
		read_done(p);
		return;
	}
	g = &p->got[p->nread];
	if (pedkey_get_share(&p->key, pin, &g->s) != 0) {
		entry_clear(p);
		pedkey_wipe(&p->key);
		go(p, S_RD_INSERT, "Key unreadable!");
		return;
	}
	snprintf(g->serial, sizeof(g->serial), "%s", p->key.serial);
	if (!p->have_keyset) {
		p->have_keyset = true;
		memcpy(p->keyset, p->key.keyset, LINK_KEYSET_ID_LEN);
		p->m = p->key.m;
		p->n = p->key.n;
	}
	p->nread++;
	add_log(p, "Read %s %.8s", type_name(p->key.type), p->key.serial);
	pedkey_wipe(&p->key);
	entry_clear(p);
	ev[0] = LINK_EV_KEYS_READ;
	ev[1] = (uint8_t)p->nread;
	ev[2] = p->m;
	send_event(p, ev, 3);
	if (p->nread >= p->m)
		read_done(p);
	else
		go(p, S_RD_INSERT, NULL);
}

/* ENTER on an "Insert a ... key" screen of a read. */
static void read_try_key(ped_t *p)
{
	static char wrong[PED_LCD_COLS + 1];
	pedkey_t *k = &p->key;
	unsigned i;
	int r;

	r = load_slot(p, k);
	if (r == PED_E_NOT_FOUND) {
		go(p, S_RD_INSERT, "No PED Key inserted!");
		return;
	}
	if (r != 0) {
		go(p, S_RD_INSERT, "Key unreadable!");
		goto fail;
	}
	if (k->type == LINK_KEY_BLANK) {
		go(p, S_RD_INSERT, "This key is blank!");
		goto fail;
	}
	if (p->flow != F_ADM_DUP) {
		if (k->type != p->key_type) {
			snprintf(wrong, sizeof(wrong), "Wrong key: %s", type_name(k->type));
			go(p, S_RD_INSERT, wrong);
			goto fail;
		}
		if ((!p->want_any && memcmp(k->keyset, p->want, LINK_KEYSET_ID_LEN) != 0) ||
		    (p->have_keyset &&
		     (memcmp(k->keyset, p->keyset, LINK_KEYSET_ID_LEN) != 0 || k->m != p->m))) {
			go(p, S_RD_INSERT, "Wrong keyset!");
			goto fail;
		}
		for (i = 0; i < p->nread; i++) {
			if (p->got[i].s.x == k->x) {
				go(p, S_RD_INSERT, "Key already read!");
				goto fail;
			}
		}
	}
	entry_clear(p);
	if (k->has_pin)
		go(p, S_RD_PIN, NULL);
	else
		accept_key(p, "");
	return;
fail:
	pedkey_wipe(k);
}

/* --------------------------------------------------------------- writing */

static unsigned write_count(const ped_t *p)
{
	return p->reused ? p->nread : p->nshares;
}

/* ENTER on an "Insert a blank or reusable key" screen. */
static void write_try_key(ped_t *p)
{
	unsigned i;
	int r;

	r = load_slot(p, &p->key);
	if (r == PED_E_NOT_FOUND) {
		go(p, S_W_INSERT, "No PED Key inserted!");
		return;
	}
	if (r != 0) {
		pedkey_wipe(&p->key);
		go(p, S_W_INSERT, "Key unreadable!");
		return;
	}
	for (i = 0; i < p->nset; i++) {
		if (strcmp(p->set_serials[i], p->key.serial) == 0) {
			pedkey_wipe(&p->key);
			go(p, S_W_INSERT, "Key already written!");
			return;
		}
	}
	if (p->flow == F_ADM_DUP && strcmp(p->key.serial, p->src.serial) == 0) {
		pedkey_wipe(&p->key);
		go(p, S_W_INSERT, "That is the original");
		return;
	}
	snprintf(p->key_name, sizeof(p->key_name), "%s", p->slot);
	go(p, S_W_WARN1, NULL);
}

/* Writes the share (or the Admin copy) onto the key that was inserted. */
static void write_key(ped_t *p, const char *pin)
{
	char path[4096];
	shamir_share_t s;
	uint8_t ev[3 + 1 + PEDKEY_SERIAL_MAX];
	pbuf_t b;
	const shamir_share_t *share;
	uint8_t type, n;
	const uint8_t *keyset;
	unsigned count = write_count(p);
	int r;

	memset(&s, 0, sizeof(s));
	if (!p->slot_full || strcmp(p->slot, p->key_name) != 0) {
		go(p, S_W_INSERT, "Key was removed!");
		goto out;
	}
	if (p->flow == F_ADM_DUP) {
		if (pedkey_get_share(&p->src, p->src_pin, &s) != 0) {
			go(p, S_W_INSERT, "Copy failed!");
			goto out;
		}
		share = &s;
		type = p->src.type;
		keyset = p->src.keyset;
		n = p->src.n;
		snprintf(p->key.label, sizeof(p->key.label), "%s", p->src.label);
	} else {
		share = p->reused ? &p->got[p->idx].s : &p->shares[p->idx];
		type = p->key_type;
		keyset = p->keyset;
		n = p->n;
		snprintf(p->key.label, sizeof(p->key.label), "%s", p->label);
	}
	if ((r = pedkey_set_share(&p->key, type, keyset, n, share, pin)) != 0 ||
	    (r = key_path(p, p->key_name, path, sizeof(path))) != 0 ||
	    (r = pedkey_save(path, &p->key)) != 0) {
		log_warning("writing key %s: %s", p->key_name, ped_errname(r));
		go(p, S_W_INSERT, "Write failed!");
		goto out;
	}
	add_log(p, "Wrote %s %.8s", type_name(type), p->key.serial);
	if (p->flow == F_ADM_DUP) {
		end_admin(p, S_DONE, "Copy written.");
		goto out;
	}
	p->written++;
	if (p->nset < SHAMIR_MAX_N)
		snprintf(p->set_serials[p->nset++], sizeof(p->set_serials[0]), "%s", p->key.serial);
	p->idx++;
	pbuf_over(&b, ev, sizeof(ev));
	pbuf_put_u8(&b, LINK_EV_KEY_WRITTEN);
	pbuf_put_u8(&b, (uint8_t)p->idx);
	pbuf_put_u8(&b, (uint8_t)count);
	link_put_str(&b, p->key.serial);
	send_event(p, b.data, b.len);
	if (p->idx >= count)
		go(p, S_CR_DUPQ, NULL);
	else
		go(p, S_W_INSERT, NULL);
out:
	pedkey_wipe(&p->key);
	shamir_share_wipe(&s);
}

static void after_warnings(ped_t *p)
{
	if (p->flow == F_ADM_DUP) {
		write_key(p, p->src_pin);
	} else {
		entry_clear(p);
		OPENSSL_cleanse(p->pin1, sizeof(p->pin1));
		go(p, S_CR_PIN1, NULL);
	}
}

/* --------------------------------------------------------------- keypad */

/* Digit entry shared by the PIN, M, N and password screens; true when the
 * key was consumed. */
static bool entry_key(ped_t *p, int key, size_t max)
{
	if (key >= '0' && key <= '9') {
		if (p->elen < max && p->elen < ENTRY_MAX) {
			p->entry[p->elen++] = (char)key;
			p->entry[p->elen] = '\0';
		}
		return true;
	}
	if (key == PED_KEY_BACK) {
		if (p->elen > 0)
			p->entry[--p->elen] = '\0';
		return true;
	}
	if (key == PED_KEY_CLEAR) {
		entry_clear(p);
		return true;
	}
	return false;
}

static int entry_value(const ped_t *p)
{
	return p->elen == 0 ? -1 : atoi(p->entry);
}

static void enter_menu(ped_t *p)
{
	if (p->mode != LINK_MODE_MENU)
		p->prev_mode = p->mode;
	p->mode = LINK_MODE_MENU;
	go(p, S_MENU, NULL);
}

static void set_mode_internal(ped_t *p, enum link_mode m)
{
	if (p->mode == LINK_MODE_REMOTE && m != LINK_MODE_REMOTE)
		forget_rpk(p);
	if (p->flow == F_ADM_DUP)
		flow_reset(p);
	if (p->mode != m && m != LINK_MODE_MENU)
		add_log(p, "Mode %s", ped_mode_name(m));
	p->mode = m;
	go(p, idle_screen(p), NULL);
}

static void start_identify(ped_t *p)
{
	int r = load_slot(p, &p->key);

	go(p, S_ADM_IDENT, r == PED_E_NOT_FOUND ? "No PED Key inserted!"
			   : r != 0		? "Key unreadable!"
						: NULL);
	if (r == 0)
		add_log(p, "Ident %s %.8s", type_name(p->key.type), p->key.serial);
}

static void start_selftest(ped_t *p)
{
	pedkey_t k;
	int r;

	if (!p->slot_full) {
		snprintf(p->selftest_reader, sizeof(p->selftest_reader), "Key reader...no key");
	} else {
		r = load_slot(p, &k);
		snprintf(p->selftest_reader, sizeof(p->selftest_reader), "Key reader...%s",
			 r == 0 ? "OK" : "bad key");
		pedkey_wipe(&k);
	}
	add_log(p, "Self test PASSED");
	go(p, S_SELFTEST, NULL);
}

static void press_idle(ped_t *p, int key)
{
	switch (p->scr) {
	case S_IDLE:
		if (key == PED_KEY_BACK && p->mode == LINK_MODE_REMOTE) {
			go(p, S_RPK_WARN, NULL);
		} else if (key == PED_KEY_BACK) {
			enter_menu(p);
		} else if (key == PED_KEY_LOG) {
			p->back = S_IDLE;
			go(p, S_LOG, NULL);
		}
		break;
	case S_RPK_WARN:
		if (key == PED_KEY_YES) {
			forget_rpk(p);
			enter_menu(p);
		} else if (key == PED_KEY_NO || key == PED_KEY_CLEAR || key == PED_KEY_BACK) {
			go(p, S_IDLE, NULL);
		}
		break;
	case S_MENU:
		if (key == '4')
			set_mode_internal(p, LINK_MODE_ADMIN);
		else if (key == '7')
			set_mode_internal(p, LINK_MODE_REMOTE);
		else if (key == '0')
			set_mode_internal(p, LINK_MODE_LOCAL);
		else if (key == PED_KEY_BACK && p->prev_mode != LINK_MODE_MENU)
			set_mode_internal(p, p->prev_mode);
		break;
	case S_LOG:
		go(p, p->back, NULL);
		break;
	case S_ADMIN:
		if (key == '1')
			go(p, S_ADM_KEY, NULL);
		else if (key == '9')
			start_selftest(p);
		else if (key == PED_KEY_BACK)
			enter_menu(p);
		else if (key == PED_KEY_LOG) {
			p->back = S_ADMIN;
			go(p, S_LOG, NULL);
		}
		break;
	case S_ADM_KEY:
		if (key == '3') {
			start_identify(p);
		} else if (key == '7') {
			flow_reset(p);
			p->flow = F_ADM_DUP;
			p->m = 1;
			go(p, S_RD_INSERT, NULL);
		} else if (key == PED_KEY_BACK) {
			go(p, S_ADMIN, NULL);
		}
		break;
	case S_ADM_IDENT:
		if (key == PED_KEY_ENTER || key == PED_KEY_BACK) {
			pedkey_wipe(&p->key);
			go(p, S_ADM_KEY, NULL);
		}
		break;
	case S_SELFTEST:
		if (key == PED_KEY_ENTER || key == PED_KEY_BACK)
			go(p, S_ADMIN, NULL);
		break;
	case S_DONE:
		if (key == PED_KEY_ENTER || key == PED_KEY_BACK)
			go(p, S_ADM_KEY, NULL);
		break;
	default:
		break;
	}
}

static void press_flow(ped_t *p, int key)
{
	int v;

	switch (p->scr) {
	case S_RD_INSERT:
	case S_W_INSERT:
		if (key == PED_KEY_ENTER) {
			if (p->scr == S_RD_INSERT)
				read_try_key(p);
			else
				write_try_key(p);
		} else if (key == PED_KEY_CLEAR || key == PED_KEY_NO ||
			   (key == PED_KEY_BACK && !p->linkop)) {
			cancel_flow(p);
		}
		break;
	case S_RD_PIN:
		if (entry_key(p, key, PEDKEY_PIN_MAX))
			break;
		if (key == PED_KEY_NO) {
			cancel_flow(p);
		} else if (key == PED_KEY_ENTER) {
			if (pedkey_pin_ok(p->entry) != 0) {
				entry_clear(p);
				go(p, S_RD_PIN, "PIN: 4-48 digits");
			} else {
				accept_key(p, p->entry);
			}
		}
		break;
	case S_CR_REUSE:
		if (key == PED_KEY_YES)
			go(p, S_RD_INSERT, NULL);
		else if (key == PED_KEY_NO)
			go(p, S_CR_M, NULL);
		else if (key == PED_KEY_CLEAR)
			cancel_flow(p);
		break;
	case S_CR_M:
	case S_CR_N:
		if (entry_key(p, key, 2))
			break;
		if (key == PED_KEY_NO) {
			cancel_flow(p);
		} else if (key == PED_KEY_ENTER) {
			v = entry_value(p);
			entry_clear(p);
			if (p->scr == S_CR_M) {
				if (v < 1 || v > SHAMIR_MAX_N) {
					go(p, S_CR_M, "M must be 1 to 16");
				} else {
					p->m = (uint8_t)v;
					go(p, S_CR_N, NULL);
				}
			} else if (v < p->m || v > SHAMIR_MAX_N) {
				go(p, S_CR_N, "N must be M to 16");
			} else {
				uint8_t ev[3] = {LINK_EV_NEED_SHARES, p->m, (uint8_t)v};

				p->n = (uint8_t)v;
				send_event(p, ev, sizeof(ev));
				go(p, S_CR_WAIT, NULL);
			}
		}
		break;
	case S_CR_WAIT:
		if (key == PED_KEY_CLEAR || key == PED_KEY_NO)
			cancel_flow(p);
		break;
	case S_W_WARN1:
	case S_W_WARN2:
		if (key == PED_KEY_YES) {
			if (p->scr == S_W_WARN1 && p->key.type != LINK_KEY_BLANK)
				go(p, S_W_WARN2, NULL);
			else
				after_warnings(p);
		} else if (key == PED_KEY_NO) {
			pedkey_wipe(&p->key);
			go(p, S_W_INSERT, "Insert another key.");
		} else if (key == PED_KEY_CLEAR) {
			cancel_flow(p);
		}
		break;
	case S_CR_PIN1:
		if (entry_key(p, key, PEDKEY_PIN_MAX))
			break;
		if (key == PED_KEY_NO) {
			cancel_flow(p);
		} else if (key == PED_KEY_ENTER) {
			if (p->elen > 0 && pedkey_pin_ok(p->entry) != 0) {
				entry_clear(p);
				go(p, S_CR_PIN1, "PIN: 4-48, not 0...");
			} else {
				memcpy(p->pin1, p->entry, sizeof(p->pin1));
				entry_clear(p);
				go(p, S_CR_PIN2, NULL);
			}
		}
		break;
	case S_CR_PIN2:
		if (entry_key(p, key, PEDKEY_PIN_MAX))
			break;
		if (key == PED_KEY_NO) {
			cancel_flow(p);
		} else if (key == PED_KEY_ENTER) {
			if (strcmp(p->entry, p->pin1) != 0) {
				entry_clear(p);
				OPENSSL_cleanse(p->pin1, sizeof(p->pin1));
				go(p, S_CR_PIN1, "PINs do not match!");
			} else {
				entry_clear(p);
				write_key(p, p->pin1);
				OPENSSL_cleanse(p->pin1, sizeof(p->pin1));
			}
		}
		break;
	case S_CR_DUPQ:
		if (key == PED_KEY_YES) {
			p->set_no++;
			p->idx = 0;
			p->nset = 0;
			go(p, S_W_INSERT, NULL);
		} else if (key == PED_KEY_NO) {
			end_op(p, 0);
		} else if (key == PED_KEY_CLEAR) {
			cancel_flow(p);
		}
		break;
	case S_OTP:
		if (entry_key(p, key, p->otp_digits))
			break;
		if (key == PED_KEY_NO) {
			cancel_flow(p);
		} else if (key == PED_KEY_ENTER) {
			if (p->elen != p->otp_digits) {
				static char m[PED_LCD_COLS + 1];

				snprintf(m, sizeof(m), "Enter %u digits.", p->otp_digits);
				entry_clear(p);
				go(p, S_OTP, m);
			} else {
				add_log(p, "Password entered");
				end_op(p, 0);
			}
		}
		break;
	default:
		break;
	}
}

void ped_press(ped_t *p, int key)
{
	if (p == NULL)
		return;
	if (p->flow != F_NONE)
		press_flow(p, key);
	else
		press_idle(p, key);
	refresh(p);
}

int ped_key_from_name(const char *name)
{
	static const struct {
		const char *name;
		int key;
	} names[] = {
		{"ENTER", PED_KEY_ENTER}, {"YES", PED_KEY_YES},	  {"NO", PED_KEY_NO},
		{"CLEAR", PED_KEY_CLEAR}, {"BACK", PED_KEY_BACK}, {"LOG", PED_KEY_LOG},
	};
	size_t i;

	if (name[0] >= '0' && name[0] <= '9' && name[1] == '\0')
		return name[0];
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].key;
	return -1;
}

/* ------------------------------------------------------------ host frames */

static void start_op(ped_t *p, enum flow f, const link_frame_t *fr, uint32_t timeout_ms)
{
	flow_reset(p);
	p->flow = f;
	p->linkop = true;
	p->id = fr->id;
	if (timeout_ms == 0)
		timeout_ms = LINK_DEFAULT_TIMEOUT_MS;
	uv_timer_start(&p->timer, on_timeout, timeout_ms, 0);
	log_info("%s #%u started", link_type_name(fr->type), fr->id);
}

/* Checks common to every operation request; false if answered already. */
static bool may_start(ped_t *p, const link_frame_t *f)
{
	if (p->linkop) {
		send_status_result(p, f->id, PED_E_PED_BUSY);
		return false;
	}
	if (p->mode != LINK_MODE_LOCAL && p->mode != LINK_MODE_REMOTE) {
		send_status_result(p, f->id, PED_E_WRONG_MODE);
		return false;
	}
	return true;
}

/* The LCD shows at most PED_LCD_COLS printable characters of the host's
 * title (a control character could reach a terminal through the TUI). */
static void title_copy(ped_t *p, const char *t)
{
	size_t i, n = strnlen(t, PED_LCD_COLS);

	for (i = 0; i < n; i++)
		p->title[i] = t[i] >= 0x20 && t[i] < 0x7f ? t[i] : '?';
	p->title[n] = '\0';
}

static bool printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s >= 0x7f)
			return false;
	return true;
}

static int h_hello(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t vmin, vmax, mem[200];
	char host[256];
	pbuf_t b;

	if (pbuf_get_u8(in, &vmin) != 0 || pbuf_get_u8(in, &vmax) != 0 ||
	    link_get_str(in, host, sizeof(host)) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (vmin > LINK_VERSION || vmax < LINK_VERSION) {
		send_error(p, f->id, PED_E_VERSION, "unsupported link version");
		return 0;
	}
	log_info("host hello");
	unsecure(p); /* a new host session: its keys, if any, come with a new KEX */
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u8(&b, LINK_VERSION);
	link_put_str(&b, PED_FIRMWARE);
	link_put_str(&b, p->serial);
	link_put_str(&b, PED_MODEL);
	send_frame(p, LINK_HELLO_ACK, f->id, &b);
	return 0;
}

static int h_status(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t mem[64 + SHAMIR_MAX_N * (PEDKEY_SERIAL_MAX + 1)];
	unsigned i;
	pbuf_t b;

	if (pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u8(&b, (uint8_t)p->mode);
	pbuf_put_u8(&b, p->slot_full);
	pbuf_put_u8(&b, p->linkop);
	link_put_str(&b, PED_FIRMWARE);
	pbuf_put_u8(&b, (uint8_t)p->rpk_count);
	for (i = 0; i < p->rpk_count; i++)
		link_put_str(&b, p->rpk[i].serial);
	send_frame(p, LINK_STATUS_ACK, f->id, &b);
	return 0;
}

static bool key_type_ok(uint8_t t)
{
	return t >= LINK_KEY_BLUE && t <= LINK_KEY_WHITE;
}

static int h_read_keyset(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t type, want[LINK_KEYSET_ID_LEN];
	uint32_t timeout;
	char title[TITLE_MAX];

	if (pbuf_get_u8(in, &type) != 0 || pbuf_get_u32(in, &timeout) != 0 ||
	    link_get_str(in, title, sizeof(title)) != 0 ||
	    pbuf_get_bytes(in, want, sizeof(want)) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	if (!key_type_ok(type)) {
		send_status_result(p, f->id, PED_E_BAD_REQUEST);
		return 0;
	}
	start_op(p, F_READ, f, timeout);
	p->key_type = type;
	title_copy(p, title);
	memcpy(p->want, want, sizeof(want));
	p->want_any = keyset_zero(want);
	go(p, S_RD_INSERT, NULL);
	return 0;
}

static int h_read_rpk(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	static uint8_t mem[LINK_MAX_PAYLOAD];
	uint32_t timeout;
	char title[TITLE_MAX];
	pbuf_t b;

	if (pbuf_get_u32(in, &timeout) != 0 ||
	    link_get_str(in, title, sizeof(title)) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	if (p->rpk_cached && p->mode == LINK_MODE_REMOTE) {
		pbuf_over(&b, mem, sizeof(mem));
		if (pbuf_put_u16(&b, 0) != 0 || pbuf_put_u8(&b, p->rpk_m) != 0 ||
		    pbuf_put_u8(&b, p->rpk_n) != 0 ||
		    pbuf_put_bytes(&b, p->rpk_keyset, LINK_KEYSET_ID_LEN) != 0 ||
		    put_shares(p, &b, p->rpk, p->rpk_count) != 0) {
			OPENSSL_cleanse(mem, sizeof(mem));
			send_status_result(p, f->id, PED_E_TOO_LONG);
			return 0;
		}
		log_info("READ_RPK #%u: cached", f->id);
		send_frame(p, LINK_RESULT, f->id, &b);
		OPENSSL_cleanse(mem, sizeof(mem));
		return 0;
	}
	start_op(p, F_RPK, f, timeout);
	p->key_type = LINK_KEY_ORANGE;
	p->want_any = true;
	title_copy(p, title);
	go(p, S_RD_INSERT, NULL);
	return 0;
}

static int h_create(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t type, reuse;
	uint32_t timeout;
	char title[TITLE_MAX], label[TITLE_MAX];

	if (pbuf_get_u8(in, &type) != 0 || pbuf_get_u32(in, &timeout) != 0 ||
	    link_get_str(in, title, sizeof(title)) != 0 ||
	    link_get_str(in, label, sizeof(label)) != 0 ||
	    pbuf_get_u8(in, &reuse) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	if (!key_type_ok(type) || strlen(label) > PEDKEY_LABEL_MAX || !printable(label)) {
		send_status_result(p, f->id, PED_E_BAD_REQUEST);
		return 0;
	}
	start_op(p, F_CREATE, f, timeout);
	p->key_type = type;
	p->allow_reuse = reuse != 0;
	p->want_any = true;
	title_copy(p, title);
	memcpy(p->label, label, strlen(label) + 1); /* length checked above */
	go(p, p->allow_reuse ? S_CR_REUSE : S_CR_M, NULL);
	return 0;
}

static int h_shares(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t keyset[LINK_KEYSET_ID_LEN], count, wrap, blob[SHAMIR_ENCODED_MAX];
	uint8_t wblob[WRAPPED_MAX];
	unsigned i, j, seen = 0;
	size_t blen, wlen;
	pbuf_t sb;
	int r = PED_E_SHARE_BAD;

	if (p->flow != F_CREATE || p->scr != S_CR_WAIT) {
		send_error(p, f->id, PED_E_BAD_REQUEST, "no shares expected");
		return 0;
	}
	if (pbuf_get_bytes(in, keyset, sizeof(keyset)) != 0 || pbuf_get_u8(in, &count) != 0)
		goto bad;
	if (count != p->n || count > SHAMIR_MAX_N)
		goto bad;
	for (i = 0; i < count; i++) {
		if (p->secure) {
			/* Only shares wrapped under CWK_VU on a secured link. */
			if (link_get_blob(in, &wrap, wblob, sizeof(wblob), &wlen) != 0 ||
			    wrap != 1 || kwp_unwrap(p->cwk_vu, wblob, wlen, blob, sizeof(blob),
						    &blen) != 0) {
				log_warning("SHARES: a share is not wrapped under the link key");
				goto bad;
			}
		} else if (link_get_blob(in, &wrap, blob, sizeof(blob), &blen) != 0 || wrap != 0) {
			goto bad;
		}
		pbuf_from(&sb, blob, blen);
		if (shamir_share_decode(&sb, &p->shares[i]) != 0 || pbuf_expect_end(&sb) != 0)
			goto bad;
		if (p->shares[i].m != p->m || p->shares[i].x < 1 || p->shares[i].x > p->n ||
		    p->shares[i].len != p->shares[0].len || (seen & (1u << p->shares[i].x)))
			goto bad;
		seen |= 1u << p->shares[i].x;
	}
	if (pbuf_expect_end(in) != 0)
		goto bad;
	p->nshares = count;
	memcpy(p->keyset, keyset, sizeof(keyset));
	p->have_keyset = true;
	p->set_no = p->idx = 0;
	go(p, S_W_INSERT, NULL);
	r = 0;
bad:
	OPENSSL_cleanse(blob, sizeof(blob));
	OPENSSL_cleanse(wblob, sizeof(wblob));
	if (r != 0) {
		for (j = 0; j < SHAMIR_MAX_N; j++)
			shamir_share_wipe(&p->shares[j]);
		end_op(p, r);
	}
	return 0;
}

static int h_forget(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	if (pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	forget_rpk(p);
	send_status_result(p, f->id, 0);
	return 0;
}

static int h_otp(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint32_t timeout;
	uint8_t digits;
	char title[TITLE_MAX];

	if (pbuf_get_u32(in, &timeout) != 0 ||
	    link_get_str(in, title, sizeof(title)) != 0 ||
	    pbuf_get_u8(in, &digits) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	if (digits < 1 || digits > OTP_MAX_DIGITS) {
		send_status_result(p, f->id, PED_E_BAD_REQUEST);
		return 0;
	}
	start_op(p, F_OTP, f, timeout);
	p->otp_digits = digits;
	title_copy(p, title);
	go(p, S_OTP, NULL);
	return 0;
}

/* KEX_OFFER: One-Pass C(1e,1s) as party U; the ephemeral key lives for
 * this derivation only. */
static int h_kex_offer(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t qe[ECP_PUB_LEN], ctx[EVP_MAX_MD_SIZE];
	unsigned ctxlen = 0;
	ecp_key_t *qs = NULL, *e = NULL;
	struct kas_params kp;
	pbuf_t b;
	int r;

	if (f->len != KEX_OFFER_LEN || pbuf_skip(in, KEX_OFFER_LEN) != 0 ||
	    pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (p->flow != F_NONE) {
		/* A running operation keeps the keys it started with. */
		send_error(p, f->id, PED_E_PED_BUSY, "an operation is running");
		return 0;
	}
	unsecure(p);
	if ((r = ecp_import_public(f->payload, ECP_PUB_LEN, &qs)) != 0) {
		log_warning("KEX_OFFER #%u: invalid static key", f->id);
		send_error(p, f->id, PED_E_BAD_KEY, "invalid static key");
		goto out;
	}
	r = PED_E_CRYPTO;
	if (EVP_Digest(f->payload, KEX_OFFER_LEN, ctx, &ctxlen, EVP_sha512(), NULL) != 1)
		goto fail;
	if ((r = ecp_generate(&e)) != 0 || (r = ecp_export_public(e, qe)) != 0)
		goto fail;
	memset(&kp, 0, sizeof(kp));
	kp.scheme = KAS_ONE_PASS;
	kp.role = KAS_U;
	kp.own_ephem = e;
	kp.peer_static = qs;
	kp.nonce_v = f->payload + ECP_PUB_LEN;
	kp.context = ctx;
	kp.context_len = ctxlen;
	if ((r = kas_derive(&kp, &p->kex_keys)) != 0)
		goto fail;
	p->kex_wait = true;
	p->kex_id = f->id;
	log_info("KEX_OFFER #%u: key agreement started", f->id);
	pbuf_from(&b, qe, sizeof(qe));
	send_frame(p, LINK_KEX_ACCEPT, f->id, &b);
	r = 0;
	goto out;
fail:
	log_warning("KEX_OFFER #%u: %s", f->id, ped_errname(r));
	unsecure(p);
	send_error(p, f->id, r, "key agreement failed");
out:
	ecp_free(e);
	ecp_free(qs);
	OPENSSL_cleanse(ctx, sizeof(ctx));
	return 0;
}

static int h_kex_confirm(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t mem[2];
	pbuf_t b;
	int r;

	if (!p->kex_wait || f->id != p->kex_id) {
		send_error(p, f->id, PED_E_BAD_REQUEST, "no key agreement pending");
		return 0;
	}
	if (f->len != KAS_TAG_LEN || pbuf_skip(in, KAS_TAG_LEN) != 0 ||
	    pbuf_expect_end(in) != 0) {
		unsecure(p);
		return PED_E_PARSE;
	}
	p->kex_wait = false;
	r = kas_check_tag(&p->kex_keys, f->payload);
	if (r == 0) {
		memcpy(p->cwk_uv, p->kex_keys.uv.cwk, sizeof(p->cwk_uv));
		memcpy(p->cwk_vu, p->kex_keys.vu.cwk, sizeof(p->cwk_vu));
		kas_keys_wipe(&p->kex_keys);
		p->secure = true;
		log_info("KEX_CONFIRM #%u: link secured", f->id);
		add_log(p, "Link secured");
	} else {
		unsecure(p);
		r = PED_E_KC_FAILED;
		log_warning("KEX_CONFIRM #%u: %s", f->id, ped_errname(r));
		add_log(p, "Key confirm failed");
		if (p->scr == idle_screen(p))
			go(p, p->scr, "Secure link failed");
	}
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u16(&b, (uint16_t)-r);
	send_frame(p, LINK_KEX_DONE, f->id, &b);
	return 0;
}

static int h_cancel(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	(void)in;
	if (p->linkop && f->id == p->id)
		end_op(p, PED_E_HOST_CANCELLED);
	return 0;
}

static const struct {
	uint8_t type;
	int (*fn)(ped_t *p, const link_frame_t *f, pbuf_t *in);
} handlers[] = {
	{LINK_HELLO, h_hello},		{LINK_STATUS, h_status},     {LINK_READ_KEYSET, h_read_keyset},
	{LINK_CREATE_KEYSET, h_create}, {LINK_SHARES, h_shares},     {LINK_READ_RPK, h_read_rpk},
	{LINK_FORGET_RPK, h_forget},	{LINK_OTP, h_otp},	     {LINK_CANCEL, h_cancel},
	{LINK_KEX_OFFER, h_kex_offer},	{LINK_KEX_CONFIRM, h_kex_confirm},
};

void ped_link_frame(ped_t *p, const link_frame_t *f)
{
	pbuf_t in;
	size_t i;

	if (p == NULL || f == NULL)
		return;
	pbuf_from(&in, f->payload, f->len);
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].type == f->type) {
			if (handlers[i].fn(p, f, &in) != 0) {
				log_warning("malformed %s frame", link_type_name(f->type));
				send_error(p, f->id, PED_E_BAD_REQUEST, "malformed payload");
			}
			refresh(p);
			return;
		}
	}
	log_warning("unexpected frame type 0x%02x", f->type);
	send_error(p, f->id, PED_E_BAD_REQUEST, "unknown frame type");
}

void ped_link_down(ped_t *p)
{
	if (p == NULL)
		return;
	unsecure(p);
	if (p->linkop) {
		log_info("host gone: operation #%u abandoned", p->id);
		add_log(p, "Link lost");
		flow_reset(p);
		go(p, idle_screen(p), NULL);
	}
	refresh(p);
}

void ped_forget_rpk(ped_t *p)
{
	if (p == NULL)
		return;
	forget_rpk(p);
	refresh(p);
}

/* ---------------------------------------------------------------- slots */

bool ped_keyname_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n < 1 || n > 32 || name[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

int ped_newkey(ped_t *p, const char *name)
{
	char path[4096];
	struct stat st;
	pedkey_t k;
	int r = PED_E_INVAL;

	memset(&k, 0, sizeof(k));
	if (!ped_keyname_ok(name))
		goto out;
	if ((r = key_path(p, name, path, sizeof(path))) != 0)
		goto out;
	r = PED_E_EXISTS;
	if (lstat(path, &st) == 0)
		goto out;
	if ((r = pedkey_blank(&k, "")) != 0 || (r = pedkey_save(path, &k)) != 0)
		goto out;
	log_info("new blank key %s", name);
	r = 0;
out:
	pedkey_wipe(&k);
	return r;
}

int ped_insert(ped_t *p, const char *name)
{
	char path[4096];
	struct stat st;
	int r;

	if (!ped_keyname_ok(name))
		return PED_E_INVAL;
	if ((r = key_path(p, name, path, sizeof(path))) != 0)
		return r;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return PED_E_NOT_FOUND;
	if (p->slot_full)
		return PED_E_EXISTS;
	snprintf(p->slot, sizeof(p->slot), "%s", name);
	p->slot_full = true;
	log_info("key %s inserted", name);
	refresh(p);
	if (p->io.changed != NULL)
		p->io.changed(p->io.arg);
	return 0;
}

int ped_remove(ped_t *p)
{
	if (!p->slot_full)
		return PED_E_NOT_FOUND;
	log_info("key %s removed", p->slot);
	p->slot_full = false;
	p->slot[0] = '\0';
	refresh(p);
	if (p->io.changed != NULL)
		p->io.changed(p->io.arg);
	return 0;
}

const char *ped_slot(const ped_t *p)
{
	return p->slot_full ? p->slot : NULL;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ped_list_keys(ped_t *p, void (*line)(void *arg, const char *text), void *arg)
{
	char *names[LIST_MAX];
	char path[4096], text[128];
	size_t n = 0, i, len;
	struct dirent *de;
	pedkey_t k;
	DIR *d;
	int r = PED_E_IO;

	d = opendir(p->keydir);
	if (d == NULL)
		return PED_E_IO;
	while ((de = readdir(d)) != NULL && n < LIST_MAX) {
		len = strlen(de->d_name);
		if (len <= 4 || strcmp(de->d_name + len - 4, ".key") != 0)
			continue;
		names[n] = strndup(de->d_name, len - 4);
		if (names[n] == NULL)
			goto out;
		if (!ped_keyname_ok(names[n])) {
			free(names[n]);
			continue;
		}
		n++;
	}
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (i = 0; i < n; i++) {
		if (key_path(p, names[i], path, sizeof(path)) != 0 || pedkey_load(path, &k) != 0)
			snprintf(text, sizeof(text), "%s UNREADABLE", names[i]);
		else if (k.label[0] == '\0')
			snprintf(text, sizeof(text), "%s %s", names[i], type_name(k.type));
		else
			snprintf(text, sizeof(text), "%s %s %s", names[i], type_name(k.type), k.label);
		pedkey_wipe(&k);
		line(arg, text);
	}
	r = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	closedir(d);
	return r;
}

/* ----------------------------------------------------------------- misc */

int ped_set_mode(ped_t *p, enum link_mode mode)
{
	if (p->linkop)
		return PED_E_PED_BUSY;
	set_mode_internal(p, mode);
	refresh(p);
	return 0;
}

enum link_mode ped_mode(const ped_t *p)
{
	return p->mode;
}

const char *ped_mode_name(enum link_mode mode)
{
	switch (mode) {
	case LINK_MODE_LOCAL:
		return "local";
	case LINK_MODE_REMOTE:
		return "remote";
	case LINK_MODE_ADMIN:
		return "admin";
	default:
		return "menu";
	}
}

const char *ped_lcd_line(const ped_t *p, unsigned i)
{
	return i < PED_LCD_LINES ? p->lcd[i] : "";
}

bool ped_lcd_contains(const ped_t *p, const char *text)
{
	unsigned i;

	for (i = 0; i < PED_LCD_LINES; i++)
		if (strstr(p->lcd[i], text) != NULL)
			return true;
	return false;
}

bool ped_busy(const ped_t *p)
{
	return p->linkop;
}

bool ped_secure(const ped_t *p)
{
	return p->secure;
}

bool ped_link_up(const ped_t *p)
{
	return p->link_up;
}

void ped_set_link_up(ped_t *p, bool up)
{
	p->link_up = up;
	if (!up)
		ped_link_down(p);
	else if (p->io.changed != NULL)
		p->io.changed(p->io.arg);
}

int ped_new(uv_loop_t *loop, const char *keydir, enum link_mode mode, const ped_io_t *io,
	    ped_t **out)
{
	uint8_t rnd[4];
	ped_t *p = NULL;
	int r = PED_E_NOMEM;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->keydir = strdup(keydir)) == NULL)
		goto out;
	r = PED_E_CRYPTO;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	snprintf(p->serial, sizeof(p->serial), "EMU%02X%02X%02X%02X", rnd[0], rnd[1], rnd[2],
		 rnd[3]);
	r = PED_E_INTERNAL;
	if (uv_timer_init(loop, &p->timer) != 0)
		goto out;
	p->timer.data = p;
	p->loop = loop;
	p->io = *io;
	p->mode = mode;
	p->prev_mode = mode == LINK_MODE_MENU ? LINK_MODE_LOCAL : mode;
	go(p, idle_screen(p), NULL);
	render(p);
	p->prompt_pending = false;
	*out = p;
	p = NULL;
	r = 0;
out:
	if (p != NULL) {
		free(p->keydir);
		free(p);
	}
	return r;
}

static void on_timer_closed(uv_handle_t *h)
{
	ped_t *p = h->data;

	free(p->keydir);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

void ped_close(ped_t *p)
{
	if (p == NULL)
		return;
	flow_reset(p);
	forget_rpk(p);
	unsecure(p);
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}
