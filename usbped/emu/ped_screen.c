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
	PED_PRINTF(3, 4);
static void lcd_set(ped_t *p, unsigned i, const char *fmt, ...)
{
	va_list ap;

	if (i >= PED_LCD_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(p->lcd[i], sizeof(p->lcd[i]), fmt, ap);
	va_end(ap);
}

/* Line i: one '*' per digit of an entry n long (never the digits). */
static void stars(ped_t *p, unsigned i, size_t n)
{
	char st[PED_LCD_COLS + 1];
	size_t k;

	for (k = 0; k < n && k + 1 < sizeof(st); k++)
		st[k] = '*';
	st[k] = '\0';
	lcd_set(p, i, "%s", st);
}

static const char *mode_header(const ped_t *p)
{
	return p->mode == LINK_MODE_REMOTE ? "Remote PED mode" : "Local PED mode";
}

/* Lines 0-1 of an operation: the mode and the host's title, or Admin's
 * duplicate. */
static void op_head(ped_t *p)
{
	if (p->flow == F_ADM_DUP) {
		lcd_set(p, 0, "PED Key mode");
		lcd_set(p, 1, "Duplicate");
	} else {
		lcd_set(p, 0, "%s", mode_header(p));
		lcd_set(p, 1, "%s", p->title);
	}
}

/* ---- what each screen adds to its fixed text ---------------------------- */

static void x_idle(ped_t *p)
{
	lcd_set(p, 0, "%s", mode_header(p));
	if (p->mode == LINK_MODE_REMOTE && p->rpk_cached)
		lcd_set(p, 3, "RPK cached");
	if (p->msg != NULL)
		lcd_set(p, 5, "%s", p->msg);
	else if (p->secure)
		lcd_set(p, 5, "Link secured");
}

static void x_menu(ped_t *p)
{
	lcd_set(p, 7, "Firmware %s", PED_FIRMWARE);
}

static void x_log(ped_t *p)
{
	for (unsigned i = 0; i < p->nlog && i + 1 < PED_LCD_LINES; i++)
		lcd_set(p, i + 1, "%s", p->log[i]);
	if (p->nlog == 0)
		lcd_set(p, 1, "(none)");
}

static void x_msg6(ped_t *p)
{
	lcd_set(p, 6, "%s", p->msg ? p->msg : "");
}

static void x_ident(ped_t *p)
{
	char hexid[2 * LINK_KEYSET_ID_LEN + 1];

	if (p->msg != NULL) {
		lcd_set(p, 2, "%s", p->msg);
		return;
	}
	lcd_set(p, 1, "Type: %s", ped_type_name(p->key.type));
	lcd_set(p, 2, "Label: %s", p->key.label);
	if (p->key.type != LINK_KEY_BLANK) {
		hex_encode(p->key.keyset, LINK_KEYSET_ID_LEN, hexid);
		lcd_set(p, 3, "M/N: %u of %u, #%u", p->key.m, p->key.n, p->key.x);
		lcd_set(p, 4, "Keyset: %.8s", hexid);
	}
	lcd_set(p, 5, "S/N %s", p->key.serial);
}

static void x_selftest(ped_t *p)
{
	lcd_set(p, 3, "%s", p->selftest_reader);
}

static void x_done(ped_t *p)
{
	lcd_set(p, 2, "%s", p->msg ? p->msg : "Done.");
}

static void x_insert(ped_t *p)
{
	bool writing = p->scr == S_W_INSERT;
	unsigned done = writing ? p->idx : p->nread;
	unsigned total = writing ? (p->reused ? p->nread : p->nshares) : p->m;

	if (done > 0)
		lcd_set(p, 2, "Keys %s: %02u of %02u", writing ? "write" : "read", done, total);
	else if (writing && p->set_no > 0)
		lcd_set(p, 2, "Duplicate set %02u", p->set_no);
	if (p->flow == F_ADM_DUP) {
		lcd_set(p, 3, "%s", writing ? "Insert a blank or" : "Insert the PED Key");
		lcd_set(p, 4, "%s", writing ? "reusable PED Key." : "to copy.");
	} else {
		lcd_set(p, 3, "Insert %s", done > 0 ? "another" : "a");
		lcd_set(p, 4, "%s", key_roles[p->key_type]);
		lcd_set(p, 5, "PED Key (%s)", ped_type_name(p->key_type));
	}
}

static void x_rd_pin(ped_t *p)
{
	if (p->nread > 0)
		lcd_set(p, 2, "Keys read: %02u of %02u", p->nread, p->m);
	stars(p, 4, p->elen);
}

static void x_cr_mn(ped_t *p)
{
	if (p->scr == S_CR_N)
		lcd_set(p, 2, "M = %02u", p->m);
	lcd_set(p, 5, ">%s", p->entry);
}

static void x_cr_wait(ped_t *p)
{
	lcd_set(p, 3, "M of N: %02u of %02u", p->m, p->n);
}

static void x_warn1(ped_t *p)
{
	if (p->key.type == LINK_KEY_BLANK) {
		lcd_set(p, 3, "This PED Key is");
		lcd_set(p, 4, "blank.");
	} else {
		lcd_set(p, 3, "This PED Key is for");
		lcd_set(p, 4, "%s (%s).", key_purpose[p->key.type], ped_type_name(p->key.type));
	}
}

static void x_pin(ped_t *p)
{
	if (p->scr == S_CR_PIN1) {
		stars(p, 4, p->elen);
	} else {
		stars(p, 4, strlen(p->pin1));
		stars(p, 6, p->elen);
	}
}

static void x_dupq(ped_t *p)
{
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
}

static void x_otp(ped_t *p)
{
	stars(p, 5, p->elen);
}

/* ALLOW_HSM: "Allow HSM?", the serial, then the fingerprint, 4 groups of
 * 4 hex digits a line. */
static void x_allow(ped_t *p)
{
	static const char hex[] = "0123456789abcdef";
	char line[PED_LCD_COLS + 1];

	for (unsigned l = 0; l < 4; l++) {
		size_t o = 0;

		for (unsigned g = 0; g < 4; g++) {
			const uint8_t *b = p->allow_fp + l * 8 + g * 2;

			if (g > 0)
				line[o++] = ' ';
			line[o++] = hex[b[0] >> 4];
			line[o++] = hex[b[0] & 15];
			line[o++] = hex[b[1] >> 4];
			line[o++] = hex[b[1] & 15];
		}
		line[o] = '\0';
		lcd_set(p, 3 + l, "%s", line);
	}
	lcd_set(p, 2, "HSM %s", p->allow_serial);
}

/* Every screen: whether lines 0-1 are the operation's head, its fixed
 * lines, and what depends on the state. */
static const struct screen_def {
	bool op;
	const char *text[PED_LCD_LINES];
	void (*extra)(ped_t *p);
} screens[] = {
	[S_IDLE] = {false, {[1] = "Awaiting command...", [7] = "< Menu    > Log"}, x_idle},
	[S_MENU] = {false, {"Select Mode", "4 Admin", "7 Remote PED", "0 Local PED-USB"}, x_menu},
	[S_RPK_WARN] = {false,
			{[1] = "  ** WARNING **", "Exiting now will", "invalidate the RPK.",
			 "Confirm? YES/NO"},
			NULL},
	[S_LOG] = {false, {"Recent actions:"}, x_log},
	[S_ADMIN] = {false, {"Admin mode...", "1 PED Key", "9 Self Test", [7] = "< EXIT"}, NULL},
	[S_ADM_KEY] = {false, {"PED Key mode", "3 Identify key", "7 Duplicate", [7] = "< EXIT"},
		       x_msg6},
	[S_ADM_IDENT] = {false, {"PED Key mode", [7] = "Press ENTER."}, x_ident},
	[S_SELFTEST] = {false,
			{"Self Test", "Display......OK", "Keypad.......OK", [5] = "Self Test PASSED",
			 [7] = "Press ENTER."},
			x_selftest},
	[S_DONE] = {false, {"PED Key mode", [7] = "Press ENTER."}, x_done},
	[S_RD_INSERT] = {true, {[6] = "Press ENTER."}, x_insert},
	[S_RD_PIN] = {true, {[3] = "Enter PED PIN:"}, x_rd_pin},
	[S_CR_REUSE] = {true, {[3] = "Would you like to", "reuse an existing", "keyset? (Y/N)"},
			NULL},
	[S_CR_M] = {true, {[3] = "M value? (1-16)"}, x_cr_mn},
	[S_CR_N] = {true, {[3] = "N value? (M-16)"}, x_cr_mn},
	[S_CR_WAIT] = {true, {[4] = "Generating keyset", "Please wait..."}, x_cr_wait},
	[S_W_INSERT] = {true, {[6] = "Press ENTER."}, x_insert},
	[S_W_WARN1] = {true, {[2] = "  ** WARNING **", [5] = "Overwrite? YES/NO"}, x_warn1},
	[S_W_WARN2] = {true,
		       {[2] = "  ** WARNING **", "Are you sure you", "want to overwrite",
			"this PED key? YES/NO"},
		       NULL},
	[S_CR_PIN1] = {true, {[3] = "Enter new PED PIN:"}, x_pin},
	[S_CR_PIN2] = {true, {[3] = "Enter new PED PIN:", [5] = "Confirm new PED PIN:"}, x_pin},
	[S_CR_DUPQ] = {true, {NULL}, x_dupq},
	[S_OTP] = {true, {[3] = "Enter PED Password."}, x_otp},
	[S_ALLOW] = {true, {[7] = "YES/NO"}, x_allow},
};

void ped_render(ped_t *p)
{
	const struct screen_def *d = &screens[p->scr];

	memset(p->lcd, 0, sizeof(p->lcd));
	if (d->op)
		op_head(p);
	for (unsigned i = 0; i < PED_LCD_LINES; i++)
		if (d->text[i] != NULL)
			lcd_set(p, i, "%s", d->text[i]);
	if (d->extra != NULL)
		d->extra(p);
	/* Line 7 carries the latest message on operation screens. */
	if (p->msg != NULL && p->scr >= S_RD_INSERT)
		lcd_set(p, 7, "%s", p->msg);
}
