/* tui.c - the terminal UI of pedemu (see tui.h).
 *
 * Keyboard (raw mode):  0-9 digits · Enter ENTER · y YES · n NO · c CLEAR ·
 * '<' or Backspace BACK · '>' or l LOG · i insert a key (asks its name) ·
 * k create a blank key (asks its name) · r remove the key · u unplug/plug
 * the USB cable · q or Ctrl-C quit. Escape sequences (arrows) are ignored.
 * The screen is redrawn whole on every change; it never shows a PIN digit
 * (the PED itself only shows '*'). */
#include "usbped/emu/tui.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/sys.h"

#define TUI_NAME_MAX 32
#define TUI_SCREEN_MAX 2048

enum input { IN_NONE, IN_INSERT, IN_NEWKEY };

struct tui {
	uv_tty_t in, out;
	emu_t *emu;
	int open_handles;
	bool closing;
	enum input input;
	char name[TUI_NAME_MAX + 1];
	size_t namelen;
	char note[80];
	char rbuf[64];
};

struct twrite {
	uv_write_t req;
	char data[];
};

static void on_written(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void note(tui_t *t, const char *fmt, ...) PED_PRINTF(2, 3);
static void note(tui_t *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->note, sizeof(t->note), fmt, ap);
	va_end(ap);
}

static size_t add(char *buf, size_t off, const char *fmt, ...) PED_PRINTF(3, 4);
static size_t add(char *buf, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (off >= TUI_SCREEN_MAX)
		return off;
	va_start(ap, fmt);
	n = vsnprintf(buf + off, TUI_SCREEN_MAX - off, fmt, ap);
	va_end(ap);
	if (n < 0)
		return off;
	off += (size_t)n;
	return off < TUI_SCREEN_MAX ? off : TUI_SCREEN_MAX - 1;
}

void tui_redraw(tui_t *t)
{
	struct twrite *w;
	ped_t *p;
	const char *slot;
	size_t off = 0;
	unsigned i;
	uv_buf_t buf;

	if (t == NULL || t->closing)
		return;
	w = malloc(sizeof(*w) + TUI_SCREEN_MAX);
	if (w == NULL)
		return;
	p = emu_ped(t->emu);
	slot = ped_slot(p);
	off = add(w->data, off, "\033[H\033[2J pedemu - PIN Entry Device\r\n");
	off = add(w->data, off, "+--------------------+\r\n");
	for (i = 0; i < PED_LCD_LINES; i++)
		off = add(w->data, off, "|%-20s|\r\n", ped_lcd_line(p, i));
	off = add(w->data, off, "+--------------------+\r\n");
	off = add(w->data, off, " Mode: %s | Key: %s | Link: %s\r\n", ped_mode_name(ped_mode(p)),
		  slot != NULL ? slot : "(none)",
		  !emu_plugged(t->emu) ? "unplugged" : ped_link_up(p) ? "host" : "no host");
	if (t->input != IN_NONE)
		off = add(w->data, off, " %s key name: %s_\r\n",
			  t->input == IN_INSERT ? "Insert" : "New blank", t->name);
	else
		off = add(w->data, off, " %s\r\n", t->note);
	off = add(w->data, off, " 0-9 Enter y=YES n=NO c=CLEAR <,BkSp=BACK >=LOG\r\n");
	off = add(w->data, off, " i=insert k=new key r=remove u=unplug/plug q=quit\r\n");
	buf = uv_buf_init(w->data, (unsigned)off);
	if (uv_write(&w->req, (uv_stream_t *)&t->out, &buf, 1, on_written) != 0)
		free(w);
}

static void finish_input(tui_t *t)
{
	ped_t *p = emu_ped(t->emu);
	enum input what = t->input;
	int r;

	t->input = IN_NONE;
	if (t->namelen == 0)
		return;
	r = what == IN_INSERT ? ped_insert(p, t->name) : ped_newkey(p, t->name);
	if (r == 0)
		note(t, "%s %s", what == IN_INSERT ? "Inserted" : "Created blank key", t->name);
	else
		note(t, "%s: %s", t->name, ped_strerror(r));
}

static void key_input(tui_t *t, char ch)
{
	if (ch == '\r' || ch == '\n') {
		finish_input(t);
	} else if (ch == 0x1b) {
		t->input = IN_NONE;
		note(t, "cancelled");
	} else if (ch == 0x7f || ch == 0x08) {
		if (t->namelen > 0)
			t->name[--t->namelen] = '\0';
	} else if (ch > ' ' && ch < 0x7f && t->namelen < TUI_NAME_MAX) {
		t->name[t->namelen++] = ch;
		t->name[t->namelen] = '\0';
	}
}

/* Returns false when the UI asked to quit. */
static bool key_normal(tui_t *t, char ch)
{
	ped_t *p = emu_ped(t->emu);
	int key = -1, r;

	t->note[0] = '\0';
	if (ch >= '0' && ch <= '9')
		key = ch;
	else if (ch == '\r' || ch == '\n')
		key = PED_KEY_ENTER;
	else if (ch == 'y' || ch == 'Y')
		key = PED_KEY_YES;
	else if (ch == 'n' || ch == 'N')
		key = PED_KEY_NO;
	else if (ch == 'c' || ch == 'C')
		key = PED_KEY_CLEAR;
	else if (ch == '<' || ch == 0x7f || ch == 0x08)
		key = PED_KEY_BACK;
	else if (ch == '>' || ch == 'l' || ch == 'L')
		key = PED_KEY_LOG;
	if (key >= 0) {
		ped_press(p, key);
		return true;
	}
	switch (ch) {
	case 'i':
	case 'k':
		t->input = ch == 'i' ? IN_INSERT : IN_NEWKEY;
		t->name[0] = '\0';
		t->namelen = 0;
		break;
	case 'r':
		r = ped_remove(p);
		note(t, "%s", r == 0 ? "Key removed" : ped_strerror(r));
		break;
	case 'u':
		if (emu_plugged(t->emu))
			r = emu_unplug(t->emu);
		else
			r = emu_plug(t->emu);
		note(t, "%s", r != 0 ? ped_strerror(r) : emu_plugged(t->emu) ? "Plugged in" : "Unplugged");
		break;
	case 'q':
	case 0x03:
		return false;
	default:
		break;
	}
	return true;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	tui_t *t = h->data;

	(void)hint;
	*buf = uv_buf_init(t->rbuf, sizeof(t->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	tui_t *t = s->data;
	ssize_t i;

	if (n < 0) {
		emu_quit(t->emu);
		return;
	}
	for (i = 0; i < n && !t->closing; i++) {
		char ch = buf->base[i];

		if (t->input != IN_NONE) {
			key_input(t, ch);
		} else if (ch == 0x1b) {
			break; /* an escape sequence: ignore the rest of it */
		} else if (!key_normal(t, ch)) {
			emu_quit(t->emu);
			return;
		}
	}
	tui_redraw(t);
}

static void on_closed(uv_handle_t *h)
{
	tui_t *t = h->data;

	if (--t->open_handles == 0)
		free(t);
}

int tui_open(uv_loop_t *loop, emu_t *emu, tui_t **out)
{
	tui_t *t;

	*out = NULL;
	if (!isatty(0) || !isatty(1))
		return PED_E_INVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return PED_E_NOMEM;
	t->emu = emu;
	if (uv_tty_init(loop, &t->in, 0, 1) != 0) {
		free(t);
		return PED_E_IO;
	}
	t->in.data = t;
	t->open_handles = 1;
	if (uv_tty_init(loop, &t->out, 1, 0) != 0) {
		t->closing = true;
		uv_close((uv_handle_t *)&t->in, on_closed);
		return PED_E_IO;
	}
	t->out.data = t;
	t->open_handles = 2;
	uv_tty_set_mode(&t->in, UV_TTY_MODE_RAW);
	uv_read_start((uv_stream_t *)&t->in, on_alloc, on_read);
	note(t, "Ready.");
	tui_redraw(t);
	*out = t;
	return 0;
}

void tui_close(tui_t *t)
{
	static const char bye[] = "\r\n";
	uv_buf_t buf = uv_buf_init((char *)bye, sizeof(bye) - 1);

	if (t == NULL || t->closing)
		return;
	t->closing = true;
	uv_try_write((uv_stream_t *)&t->out, &buf, 1);
	uv_tty_set_mode(&t->in, UV_TTY_MODE_NORMAL);
	uv_tty_reset_mode();
	uv_close((uv_handle_t *)&t->in, on_closed);
	uv_close((uv_handle_t *)&t->out, on_closed);
}
