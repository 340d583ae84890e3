/* pedemu.c - the PED emulator's main program: a Luna-style PED (usbped/emu/
 * ped.c) on a pty that a host opens like a serial PED, with a control
 * socket for tests and an optional terminal UI. Everything runs on one
 * libuv loop.
 *
 *   pedemu -keys DIR -link PATH|tcp:HOST:PORT [-remotelink]
 *          -control SOCK|tcp:127.0.0.1:PORT [-tui] [-mode local|remote|admin]
 *   pedemu -keys DIR -link usb[:VID:PID[:SERIAL]] -usbbed DIR -control SOCK ...
 *
 * With a usb link the PED is a USB device in the umockdev testbed DIR
 * (usbdev.h) instead of a pty; the PED's behaviour is the same.
 * With a tcp link it listens there (port_tcp.c), one host at a time.
 * With a tcp control channel (ctl.h) its token is KEYDIR/control.token.
 * On Windows (pedemu.exe) the tcp link and the tcp control channel are the
 * only ones: a pty, usb or a socket path is refused by name (exit 2).
 *
 * When the pty, the symlink and the socket are in place it prints the line
 * "pedemu: ready" on stdout. SIGTERM, SIGINT and the "quit" command exit
 * cleanly, removing the symlink and the socket (or the token and port
 * files). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "common/err.h"
#include "common/log.h"
#include "common/sys.h"
#include "usbped/emu/ctl.h"
#include "usbped/emu/emu.h"
#include "usbped/emu/ped.h"
#include "usbped/emu/port.h"
#include "usbped/emu/tui.h"
#include "usbped/emu/usbdev.h"
#include "usbped/usbped.h"

struct emu {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint;
	ped_t *ped;
	port_t *port;     /* pty personality */
	usbdev_t *usb;    /* USB personality */
	bool usb_mode;
	usbped_spec_t usbspec;
	const char *usbbed;
	ctl_t *ctl;
	tui_t *tui;
	const char *keydir, *linkpath, *ctlpath;
	enum link_mode mode;
	bool want_tui;
	bool remote_ok; /* -remotelink: a tcp link on an address other than loopback */
	bool level_set;
	bool quitting;
	char last_slave[128];
};

/* ---------------------------------------------------------- wiring */

static void on_ped_send(void *arg, uint8_t type, uint16_t id, const uint8_t *payload, size_t len)
{
	emu_t *e = arg;

	/* Frame types and sizes only: a payload may carry a CSP. */
	log_trace("link: out %s #%u, %zu bytes", link_type_name(type), id, len);
	if (e->port != NULL)
		port_send(e->port, type, id, payload, len);
	else if (e->usb != NULL)
		usbdev_send(e->usb, type, id, payload, len);
}

static void on_ped_changed(void *arg)
{
	emu_t *e = arg;

	ctl_notify(e->ctl);
	tui_redraw(e->tui);
}

static void on_port_frame(void *arg, const link_frame_t *f)
{
	emu_t *e = arg;

	log_trace("link: in %s #%u, %u bytes", link_type_name(f->type), f->id, f->len);
	ped_link_frame(e->ped, f);
}

static void on_port_updown(void *arg, int up)
{
	emu_t *e = arg;

	ped_set_link_up(e->ped, up != 0);
}

static int plug(emu_t *e)
{
	port_cb_t cb = {.arg = e, .frame = on_port_frame, .updown = on_port_updown};
	int r;

	if (e->usb_mode) {
		if (e->usb != NULL)
			return usbdev_plug(e->usb);
		return usbdev_open(&e->loop, e->usbbed, e->usbspec.vid, e->usbspec.pid,
				   e->usbspec.serial, &cb, &e->usb);
	}
	r = port_open(&e->loop, e->linkpath, e->last_slave[0] ? e->last_slave : NULL, e->remote_ok,
		      &cb, &e->port);
	if (r == 0)
		snprintf(e->last_slave, sizeof(e->last_slave), "%s", port_slave(e->port));
	return r;
}

ped_t *emu_ped(emu_t *e)
{
	return e->ped;
}

bool emu_plugged(const emu_t *e)
{
	return e->usb_mode ? usbdev_node(e->usb)[0] != '\0' : e->port != NULL;
}

int emu_usbfault(emu_t *e, const char *name)
{
	int f = usbdev_fault_from_name(name);

	if (!e->usb_mode)
		return PED_E_WRONG_MODE;
	if (f < 0)
		return PED_E_INVAL;
	log_info("usb fault: %s", name);
	return usbdev_set_fault(e->usb, (enum usbdev_fault)f);
}

int emu_unplug(emu_t *e)
{
	int r;

	if (!emu_plugged(e))
		return PED_E_UNPLUGGED;
	log_info("unplugged");
	if (e->usb_mode) {
		if ((r = usbdev_unplug(e->usb)) != 0)
			return r;
	} else {
		port_close(e->port);
		e->port = NULL;
	}
	ped_set_link_up(e->ped, false);
	ped_forget_rpk(e->ped);
	tui_redraw(e->tui);
	return 0;
}

int emu_plug(emu_t *e)
{
	int r;

	if (emu_plugged(e))
		return PED_E_EXISTS;
	if ((r = plug(e)) != 0)
		return r;
	log_info("plugged in");
	tui_redraw(e->tui);
	return 0;
}

void emu_quit(emu_t *e)
{
	if (e->quitting)
		return;
	e->quitting = true;
	log_info("exiting");
	tui_close(e->tui);
	e->tui = NULL;
	ctl_close(e->ctl);
	e->ctl = NULL;
	port_close(e->port);
	e->port = NULL;
	usbdev_close(e->usb);
	e->usb = NULL;
	ped_close(e->ped);
	e->ped = NULL;
	uv_close((uv_handle_t *)&e->sigterm, NULL);
	uv_close((uv_handle_t *)&e->sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)signum;
	emu_quit(s->data);
}

/* ---------------------------------------------------------- options */

static void usage(FILE *f)
{
	fprintf(f, "usage: pedemu -keys DIR -link PATH|tcp:HOST:PORT|usb[:VID:PID[:SERIAL]] "
		   "[-remotelink] [-usbbed DIR] -control SOCK|tcp:127.0.0.1:PORT [-tui] "
		   "[-mode local|remote|admin] "
		   "[-loglevel error|warning|info|trace]\n");
}

static int parse_mode(const char *s, enum link_mode *m)
{
	if (strcmp(s, "local") == 0)
		*m = LINK_MODE_LOCAL;
	else if (strcmp(s, "remote") == 0)
		*m = LINK_MODE_REMOTE;
	else if (strcmp(s, "admin") == 0)
		*m = LINK_MODE_ADMIN;
	else
		return -1;
	return 0;
}

static int parse_level(const char *s)
{
	static const char *const names[] = {"error", "warning", "info", "trace"};
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static int bad(const char *opt, const char *what)
{
	fprintf(stderr, "pedemu: %s: %s (see pedemu -help)\n", opt, what);
	return -1;
}

/* What this system lacks (pedemu.exe: ptys, USB, Unix sockets), by name. */
static int lacking(const char *opt, const char *v, const char *what, const char *use)
{
	fprintf(stderr, "pedemu: %s %s: %s: %s (%s); use %s\n", opt, v, what,
		ped_strerror(PED_E_NOT_ON_WINDOWS), ped_errname(PED_E_NOT_ON_WINDOWS), use);
	return -1;
}

static int parse_args(emu_t *e, int argc, char **argv)
{
	int i, lvl;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(o, "-tui") == 0) {
			e->want_tui = true;
			continue;
		}
		if (strcmp(o, "-remotelink") == 0) {
			e->remote_ok = true;
			continue;
		}
		if (strcmp(o, "-h") == 0 || strcmp(o, "-help") == 0 || strcmp(o, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(o, "-keys") != 0 && strcmp(o, "-link") != 0 &&
		    strcmp(o, "-control") != 0 && strcmp(o, "-mode") != 0 &&
		    strcmp(o, "-loglevel") != 0 && strcmp(o, "-usbbed") != 0)
			return bad(o, "unknown option");
		if (v == NULL)
			return bad(o, "missing value");
		if (strcmp(o, "-keys") == 0)
			e->keydir = v;
		else if (strcmp(o, "-link") == 0)
			e->linkpath = v;
		else if (strcmp(o, "-control") == 0)
			e->ctlpath = v;
		else if (strcmp(o, "-usbbed") == 0)
			e->usbbed = v;
		else if (strcmp(o, "-mode") == 0) {
			if (parse_mode(v, &e->mode) != 0)
				return bad(o, "not one of: local, remote, admin");
		} else if ((lvl = parse_level(v)) >= 0) {
			log_set_level((enum log_level)lvl);
			e->level_set = true;
		} else
			return bad(o, "not one of: error, warning, info, trace");
		i++;
	}
	if (e->keydir == NULL || e->linkpath == NULL || e->ctlpath == NULL) {
		fprintf(stderr, "pedemu: -keys, -link and -control are required\n");
		usage(stderr);
		return -1;
	}
	if (strncmp(e->linkpath, "usb", 3) == 0) {
		if (usbped_parse_spec(e->linkpath, &e->usbspec) != 0 ||
		    e->usbspec.kind != USBPED_KIND_USB || e->usbbed == NULL)
			return bad("-link", "usb[:VID:PID[:SERIAL]] needs -usbbed DIR");
		if (!usbdev_supported())
			return lacking("-link", e->linkpath, "a USB PED", "-link tcp:HOST:PORT");
		e->usb_mode = true;
	} else if (strncmp(e->linkpath, "tcp:", 4) != 0 && !port_pty_supported()) {
		return lacking("-link", e->linkpath, "a pty", "-link tcp:HOST:PORT");
	}
	if (!ctl_is_tcp(e->ctlpath) && !sys_local_socket_ok())
		return lacking("-control", e->ctlpath, "a Unix socket", "-control tcp:127.0.0.1:PORT");
	return 0;
}

/* mkdir -p, each missing directory mode 0700 (Windows: the private DACL;
 * docs/pedemu.md). A parent that cannot be made ("C:") is left to the last
 * mkdir to report. */
static int make_dirs(const char *path)
{
	char p[PATH_MAX], c;
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return -1;
	memcpy(p, path, n + 1);
	for (i = 1; i < n; i++) {
		if (!sys_is_sep(p[i]))
			continue;
		c = p[i];
		p[i] = '\0';
		(void)sys_mkdir(p, 0700);
		p[i] = c;
	}
	return sys_mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int main(int argc, char **argv)
{
	static emu_t emu;
	emu_t *e = &emu;
	ped_io_t io = {.arg = e, .send = on_ped_send, .changed = on_ped_changed};
	bool loop_ok = false, linked = false, ctl_ok = false;
	struct stat st;
	int rc = 1, r;

	log_set_ident("pedemu");
	e->mode = LINK_MODE_LOCAL;
	if (parse_args(e, argc, argv) != 0)
		return 2;
	if (e->usb_mode && usbdev_enter_mock(e->usbbed, argv) != 0)
		return 1;
	/* Log lines on the terminal would tear the TUI's screen apart. */
	if (e->want_tui && !e->level_set && isatty(2))
		log_set_level(LOG_LVL_ERROR);
	sys_harden(); /* PINs pass through this process */
	if (stat(e->keydir, &st) != 0 && make_dirs(e->keydir) != 0) {
		log_error("key directory %s: %s", e->keydir, strerror(errno));
		return 1;
	}
	if (uv_loop_init(&e->loop) != 0)
		goto out;
	loop_ok = true;
	if ((r = ped_new(&e->loop, e->keydir, e->mode, &io, &e->ped)) != 0) {
		log_error("PED: %s", ped_strerror(r));
		goto out;
	}
	/* One serial number: the USB string descriptor and the link's HELLO. */
	if (e->usb_mode && e->usbspec.serial[0] == '\0')
		snprintf(e->usbspec.serial, sizeof(e->usbspec.serial), "%s", ped_serial(e->ped));
	else if (e->usb_mode && (r = ped_set_serial(e->ped, e->usbspec.serial)) != 0) {
		log_error("serial %s: %s", e->usbspec.serial, ped_strerror(r));
		goto out;
	}
	if ((r = plug(e)) != 0) {
		log_error("link %s: %s", e->usb_mode ? "usb" : e->linkpath, ped_strerror(r));
		goto out;
	}
	linked = true;
	if ((r = ctl_open(&e->loop, e->ctlpath, e->keydir, e, &e->ctl)) != 0)
		goto out;
	ctl_ok = true;
	uv_signal_init(&e->loop, &e->sigterm);
	uv_signal_init(&e->loop, &e->sigint);
	e->sigterm.data = e->sigint.data = e;
	uv_signal_start(&e->sigterm, on_signal, SIGTERM);
	uv_signal_start(&e->sigint, on_signal, SIGINT);
	printf("pedemu: ready\n");
	fflush(stdout);
	if (e->want_tui && (r = tui_open(&e->loop, e, &e->tui)) != 0) {
		log_error("terminal UI: %s", ped_strerror(r));
		emu_quit(e);
		uv_run(&e->loop, UV_RUN_DEFAULT);
		goto out;
	}
	uv_run(&e->loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	if (!e->quitting && loop_ok) {
		/* start-up failed half way: close what was opened */
		ctl_close(e->ctl);
		port_close(e->port);
		usbdev_close(e->usb);
		ped_close(e->ped);
		e->quitting = true;
		uv_run(&e->loop, UV_RUN_DEFAULT);
	}
	if (linked && !e->usb_mode && strncmp(e->linkpath, "tcp:", 4) != 0)
		unlink(e->linkpath);
	if (ctl_ok && !ctl_is_tcp(e->ctlpath))
		unlink(e->ctlpath);
	if (loop_ok && uv_loop_close(&e->loop) != 0) {
		log_error("handles left open at exit");
		rc = 1;
	}
	return rc;
}
