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
#include "usbped/emu/ped_int.h"

void ped_add_log(ped_t *p, const char *fmt, ...)
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

void ped_go(ped_t *p, enum screen s, const char *msg)
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

enum screen ped_idle_screen(const ped_t *p)
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

void ped_rpk_drop(ped_t *p)
{
	if (p->rpk_cached)
		ped_add_log(p, "RPK invalidated");
	OPENSSL_cleanse(p->rpk, sizeof(p->rpk));
	OPENSSL_cleanse(p->rpk_keyset, sizeof(p->rpk_keyset));
	p->rpk_cached = false;
	p->rpk_count = 0;
	p->rpk_m = p->rpk_n = 0;
}

/* Drops the link keys, confirmed or pending. */
void ped_unsecure(ped_t *p)
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

/* Forgets the running flow and every secret it held. */
void ped_flow_reset(ped_t *p)
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

/* Ends an Admin-mode flow (no host involved). */
static void end_admin(ped_t *p, enum screen s, const char *msg)
{
	ped_flow_reset(p);
	ped_go(p, s, msg);
}

static void cancel_flow(ped_t *p)
{
	if (p->linkop)
		ped_end_op(p, PED_E_USER_CANCELLED);
	else
		end_admin(p, S_ADM_KEY, NULL);
}

void ped_on_timeout(uv_timer_t *t)
{
	ped_t *p = t->data;

	if (p->linkop) {
		ped_end_op(p, PED_E_PED_TIMEOUT);
		ped_refresh(p);
	}
}

/* Re-renders; tells observers and (during a host operation, on a new
 * screen) the host. */
void ped_refresh(ped_t *p)
{
	char old[PED_LCD_LINES][PED_LCD_COLS + 1];

	memcpy(old, p->lcd, sizeof(old));
	ped_render(p);
	if (p->prompt_pending && p->linkop)
		ped_send_prompt(p);
	p->prompt_pending = false;
	if (memcmp(old, p->lcd, sizeof(old)) != 0 && p->io.changed != NULL)
		p->io.changed(p->io.arg);
}

/* --------------------------------------------------------------- reading */

bool ped_keyset_zero(const uint8_t id[LINK_KEYSET_ID_LEN])
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
			ped_rpk_drop(p);
			p->rpk_cached = true;
			p->rpk_m = p->m;
			p->rpk_n = p->n;
			memcpy(p->rpk_keyset, p->keyset, LINK_KEYSET_ID_LEN);
			p->rpk_count = p->nread;
			for (i = 0; i < p->nread; i++)
				p->rpk[i] = p->got[i];
		}
		ped_end_op(p, 0);
		break;
	case F_CREATE:
		p->reused = true;
		ped_go(p, S_CR_DUPQ, NULL);
		break;
	case F_ADM_DUP:
		ped_go(p, S_W_INSERT, NULL);
		break;
	default:
		ped_end_op(p, 0);
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
		ped_go(p, S_RD_INSERT, "Key unreadable!");
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
	ped_add_log(p, "Read %s %.8s", ped_type_name(p->key.type), p->key.serial);
	pedkey_wipe(&p->key);
	entry_clear(p);
	ev[0] = LINK_EV_KEYS_READ;
	ev[1] = (uint8_t)p->nread;
	ev[2] = p->m;
	ped_send_event(p, ev, 3);
	if (p->nread >= p->m)
		read_done(p);
	else
		ped_go(p, S_RD_INSERT, NULL);
}

/* ENTER on an "Insert a ... key" screen of a read. */
static void read_try_key(ped_t *p)
{
	static char wrong[PED_LCD_COLS + 1];
	pedkey_t *k = &p->key;
	unsigned i;
	int r;

	r = ped_load_slot(p, k);
	if (r == PED_E_NOT_FOUND) {
		ped_go(p, S_RD_INSERT, "No PED Key inserted!");
		return;
	}
	if (r != 0) {
		ped_go(p, S_RD_INSERT, "Key unreadable!");
		goto fail;
	}
	if (k->type == LINK_KEY_BLANK) {
		ped_go(p, S_RD_INSERT, "This key is blank!");
		goto fail;
	}
	if (p->flow != F_ADM_DUP) {
		if (k->type != p->key_type) {
			snprintf(wrong, sizeof(wrong), "Wrong key: %s", ped_type_name(k->type));
			ped_go(p, S_RD_INSERT, wrong);
			goto fail;
		}
		if ((!p->want_any && memcmp(k->keyset, p->want, LINK_KEYSET_ID_LEN) != 0) ||
		    (p->have_keyset &&
		     (memcmp(k->keyset, p->keyset, LINK_KEYSET_ID_LEN) != 0 || k->m != p->m))) {
			ped_go(p, S_RD_INSERT, "Wrong keyset!");
			goto fail;
		}
		for (i = 0; i < p->nread; i++) {
			if (p->got[i].s.x == k->x) {
				ped_go(p, S_RD_INSERT, "Key already read!");
				goto fail;
			}
		}
	}
	entry_clear(p);
	if (k->has_pin)
		ped_go(p, S_RD_PIN, NULL);
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

	r = ped_load_slot(p, &p->key);
	if (r == PED_E_NOT_FOUND) {
		ped_go(p, S_W_INSERT, "No PED Key inserted!");
		return;
	}
	if (r != 0) {
		pedkey_wipe(&p->key);
		ped_go(p, S_W_INSERT, "Key unreadable!");
		return;
	}
	for (i = 0; i < p->nset; i++) {
		if (strcmp(p->set_serials[i], p->key.serial) == 0) {
			pedkey_wipe(&p->key);
			ped_go(p, S_W_INSERT, "Key already written!");
			return;
		}
	}
	if (p->flow == F_ADM_DUP && strcmp(p->key.serial, p->src.serial) == 0) {
		pedkey_wipe(&p->key);
		ped_go(p, S_W_INSERT, "That is the original");
		return;
	}
	snprintf(p->key_name, sizeof(p->key_name), "%s", p->slot);
	ped_go(p, S_W_WARN1, NULL);
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
		ped_go(p, S_W_INSERT, "Key was removed!");
		goto out;
	}
	if (p->flow == F_ADM_DUP) {
		if (pedkey_get_share(&p->src, p->src_pin, &s) != 0) {
			ped_go(p, S_W_INSERT, "Copy failed!");
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
	    (r = ped_key_path(p, p->key_name, path, sizeof(path))) != 0 ||
	    (r = pedkey_save(path, &p->key)) != 0) {
		log_warning("writing key %s: %s", p->key_name, ped_errname(r));
		ped_go(p, S_W_INSERT, "Write failed!");
		goto out;
	}
	ped_add_log(p, "Wrote %s %.8s", ped_type_name(type), p->key.serial);
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
	ped_send_event(p, b.data, b.len);
	if (p->idx >= count)
		ped_go(p, S_CR_DUPQ, NULL);
	else
		ped_go(p, S_W_INSERT, NULL);
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
		ped_go(p, S_CR_PIN1, NULL);
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
	ped_go(p, S_MENU, NULL);
}

static void set_mode_internal(ped_t *p, enum link_mode m)
{
	if (p->mode == LINK_MODE_REMOTE && m != LINK_MODE_REMOTE)
		ped_rpk_drop(p);
	if (p->flow == F_ADM_DUP)
		ped_flow_reset(p);
	if (p->mode != m && m != LINK_MODE_MENU)
		ped_add_log(p, "Mode %s", ped_mode_name(m));
	p->mode = m;
	ped_go(p, ped_idle_screen(p), NULL);
}

static void start_identify(ped_t *p)
{
	int r = ped_load_slot(p, &p->key);

	ped_go(p, S_ADM_IDENT, r == PED_E_NOT_FOUND ? "No PED Key inserted!"
			   : r != 0		? "Key unreadable!"
						: NULL);
	if (r == 0)
		ped_add_log(p, "Ident %s %.8s", ped_type_name(p->key.type), p->key.serial);
}

static void start_selftest(ped_t *p)
{
	pedkey_t k;
	int r;

	if (!p->slot_full) {
		snprintf(p->selftest_reader, sizeof(p->selftest_reader), "Key reader...no key");
	} else {
		r = ped_load_slot(p, &k);
		snprintf(p->selftest_reader, sizeof(p->selftest_reader), "Key reader...%s",
			 r == 0 ? "OK" : "bad key");
		pedkey_wipe(&k);
	}
	ped_add_log(p, "Self test PASSED");
	ped_go(p, S_SELFTEST, NULL);
}

static void press_idle(ped_t *p, int key)
{
	switch (p->scr) {
	case S_IDLE:
		if (key == PED_KEY_BACK && p->mode == LINK_MODE_REMOTE) {
			ped_go(p, S_RPK_WARN, NULL);
		} else if (key == PED_KEY_BACK) {
			enter_menu(p);
		} else if (key == PED_KEY_LOG) {
			p->back = S_IDLE;
			ped_go(p, S_LOG, NULL);
		}
		break;
	case S_RPK_WARN:
		if (key == PED_KEY_YES) {
			ped_rpk_drop(p);
			enter_menu(p);
		} else if (key == PED_KEY_NO || key == PED_KEY_CLEAR || key == PED_KEY_BACK) {
			ped_go(p, S_IDLE, NULL);
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
		ped_go(p, p->back, NULL);
		break;
	case S_ADMIN:
		if (key == '1')
			ped_go(p, S_ADM_KEY, NULL);
		else if (key == '9')
			start_selftest(p);
		else if (key == PED_KEY_BACK)
			enter_menu(p);
		else if (key == PED_KEY_LOG) {
			p->back = S_ADMIN;
			ped_go(p, S_LOG, NULL);
		}
		break;
	case S_ADM_KEY:
		if (key == '3') {
			start_identify(p);
		} else if (key == '7') {
			ped_flow_reset(p);
			p->flow = F_ADM_DUP;
			p->m = 1;
			ped_go(p, S_RD_INSERT, NULL);
		} else if (key == PED_KEY_BACK) {
			ped_go(p, S_ADMIN, NULL);
		}
		break;
	case S_ADM_IDENT:
		if (key == PED_KEY_ENTER || key == PED_KEY_BACK) {
			pedkey_wipe(&p->key);
			ped_go(p, S_ADM_KEY, NULL);
		}
		break;
	case S_SELFTEST:
		if (key == PED_KEY_ENTER || key == PED_KEY_BACK)
			ped_go(p, S_ADMIN, NULL);
		break;
	case S_DONE:
		if (key == PED_KEY_ENTER || key == PED_KEY_BACK)
			ped_go(p, S_ADM_KEY, NULL);
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
				ped_go(p, S_RD_PIN, "PIN: 4-48 digits");
			} else {
				accept_key(p, p->entry);
			}
		}
		break;
	case S_CR_REUSE:
		if (key == PED_KEY_YES)
			ped_go(p, S_RD_INSERT, NULL);
		else if (key == PED_KEY_NO)
			ped_go(p, S_CR_M, NULL);
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
					ped_go(p, S_CR_M, "M must be 1 to 16");
				} else {
					p->m = (uint8_t)v;
					ped_go(p, S_CR_N, NULL);
				}
			} else if (v < p->m || v > SHAMIR_MAX_N) {
				ped_go(p, S_CR_N, "N must be M to 16");
			} else {
				uint8_t ev[3] = {LINK_EV_NEED_SHARES, p->m, (uint8_t)v};

				p->n = (uint8_t)v;
				ped_send_event(p, ev, sizeof(ev));
				ped_go(p, S_CR_WAIT, NULL);
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
				ped_go(p, S_W_WARN2, NULL);
			else
				after_warnings(p);
		} else if (key == PED_KEY_NO) {
			pedkey_wipe(&p->key);
			ped_go(p, S_W_INSERT, "Insert another key.");
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
				ped_go(p, S_CR_PIN1, "PIN: 4-48, not 0...");
			} else {
				memcpy(p->pin1, p->entry, sizeof(p->pin1));
				entry_clear(p);
				ped_go(p, S_CR_PIN2, NULL);
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
				ped_go(p, S_CR_PIN1, "PINs do not match!");
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
			ped_go(p, S_W_INSERT, NULL);
		} else if (key == PED_KEY_NO) {
			ped_end_op(p, 0);
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
				ped_go(p, S_OTP, m);
			} else {
				ped_add_log(p, "Password entered");
				ped_end_op(p, 0);
			}
		}
		break;
	case S_ALLOW:
		if (key == PED_KEY_YES) {
			ped_add_log(p, "HSM allowed");
			ped_end_op(p, 0);
		} else if (key == PED_KEY_NO) {
			ped_add_log(p, "HSM declined");
			ped_end_op(p, PED_E_HSM_DECLINED);
		} else if (key == PED_KEY_CLEAR) {
			cancel_flow(p);
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
	ped_refresh(p);
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

int ped_set_mode(ped_t *p, enum link_mode mode)
{
	if (p->linkop)
		return PED_E_PED_BUSY;
	set_mode_internal(p, mode);
	ped_refresh(p);
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

const char *ped_serial(const ped_t *p)
{
	return p->serial;
}

int ped_set_serial(ped_t *p, const char *serial)
{
	size_t n = strlen(serial);

	if (n < 1 || n >= sizeof(p->serial))
		return PED_E_INVAL;
	for (size_t i = 0; i < n; i++)
		if (serial[i] <= 0x20 || serial[i] >= 0x7f)
			return PED_E_INVAL;
	memcpy(p->serial, serial, n + 1);
	return 0;
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
	ped_go(p, ped_idle_screen(p), NULL);
	ped_render(p);
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
	ped_flow_reset(p);
	ped_rpk_drop(p);
	ped_unsecure(p);
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}
