/* ped_screen.c - the emulated PED's LCD: every screen rendered from the
 * state (see ped_int.h). */
#include "usbped/emu/ped_int.h"

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

const char *ped_type_name(uint8_t t)
{
	const char *s = link_key_type_name(t);
	return s != NULL ? s : "?";
}

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

static void stars(char *out, size_t cap, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = '*';
	out[i] = '\0';
}

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
		lcd_set(p, 5, "PED Key (%s)", ped_type_name(p->key_type));
	}
	lcd_set(p, 6, "Press ENTER.");
}

void ped_render(ped_t *p)
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
			lcd_set(p, 1, "Type: %s", ped_type_name(p->key.type));
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
			lcd_set(p, 4, "%s (%s).", key_purpose[p->key.type], ped_type_name(p->key.type));
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
