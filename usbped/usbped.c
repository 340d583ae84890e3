/* usbped.c - the PED transport's dispatch: spec parsing, backend choice, the
 * bounded write queue and the write throttle (-pedwritelay). */
#include "usbped/usbped.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"

struct usbped {
	uv_loop_t *loop;
	const usbped_backend_t *be;
	void *state;
	usbped_cbs_t cbs;
	void *arg;
	unsigned write_delay_us;
	int up;
	int closing;
	int open_handles; /* throttle timer + the backend */
	void (*on_closed)(void *arg);
	void *closed_arg;
	uv_timer_t throttle;
	int throttle_wait;
	size_t chunk_left;
	char desc[PATH_MAX + 16];
	size_t qhead, qtail;
	uint8_t queue[USBPED_QUEUE_MAX];
};

static int parse_hex16(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 4)
		return PED_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return PED_E_INVAL;
		v = v << 4 | d;
	}
	*out = (uint16_t)v;
	return 0;
}

/* A serial number selector: 1..USBPED_SERIAL_MAX printable ASCII
 * characters, no ':' (a USB serial string descriptor holds up to 126). */
static int serial_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > USBPED_SERIAL_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ':')
			return -1;
	return 0;
}

/* HOST:PORT or [V6]:PORT; the address itself is checked by usbped_tcp_addr. */
static int parse_tcp(const char *s, usbped_spec_t *out)
{
	const char *host = s, *colon, *end;
	size_t hlen;
	char *e;
	unsigned long port;

	if (*s == '[') {
		host = s + 1;
		end = strchr(host, ']');
		if (end == NULL || end[1] != ':' || memchr(host, ':', (size_t)(end - host)) == NULL)
			goto bad; /* brackets are for IPv6 only */
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			goto bad; /* an IPv6 address needs brackets */
		end = colon;
	}
	hlen = (size_t)(end - host);
	if (hlen == 0 || hlen >= INET6_ADDRSTRLEN || colon[1] < '0' || colon[1] > '9')
		goto bad;
	port = strtoul(colon + 1, &e, 10);
	if (*e != '\0' || port == 0 || port > 65535)
		goto bad;
	memcpy(out->path, host, hlen);
	out->path[hlen] = '\0';
	out->port = (uint16_t)port;
	out->kind = USBPED_KIND_TCP;
	if (usbped_tcp_addr(out, &(struct sockaddr_storage){0}, &(int){0}) == 0)
		return 0;
bad:
	memset(out, 0, sizeof(*out));
	return PED_E_INVAL;
}

int usbped_tcp_addr(const usbped_spec_t *spec, struct sockaddr_storage *sa, int *loopback)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;

	memset(sa, 0, sizeof(*sa));
	*loopback = 0;
	if (spec->kind != USBPED_KIND_TCP)
		return PED_E_INVAL;
	if (uv_ip4_addr(spec->path, spec->port, a4) == 0) {
		*loopback = ((const uint8_t *)&a4->sin_addr)[0] == 127;
		return 0;
	}
	if (uv_ip6_addr(spec->path, spec->port, a6) == 0) {
		*loopback = memcmp(&a6->sin6_addr, &in6addr_loopback, sizeof(a6->sin6_addr)) == 0;
		return 0;
	}
	memset(sa, 0, sizeof(*sa));
	return PED_E_INVAL;
}

int usbped_parse_spec(const char *spec, usbped_spec_t *out)
{
	const char *colon;
	size_t len;

	if (out == NULL)
		return PED_E_INVAL;
	memset(out, 0, sizeof(*out));
	if (spec == NULL || spec[0] == '\0')
		return PED_E_INVAL;
	if (strcmp(spec, "usb") == 0) {
		out->kind = USBPED_KIND_USB;
		out->vid = USBPED_DEFAULT_VID;
		out->pid = USBPED_DEFAULT_PID;
		return 0;
	}
	if (strncmp(spec, "usb:", 4) == 0) {
		const char *pid, *serial;
		spec += 4;
		colon = strchr(spec, ':');
		pid = colon != NULL ? colon + 1 : NULL;
		serial = pid != NULL ? strchr(pid, ':') : NULL;
		if (colon == NULL || parse_hex16(spec, (size_t)(colon - spec), &out->vid) < 0 ||
		    parse_hex16(pid, serial != NULL ? (size_t)(serial - pid) : strlen(pid),
				&out->pid) < 0 ||
		    (serial != NULL && serial_ok(serial + 1) < 0)) {
			memset(out, 0, sizeof(*out));
			return PED_E_INVAL;
		}
		if (serial != NULL)
			memcpy(out->serial, serial + 1, strlen(serial + 1) + 1);
		out->kind = USBPED_KIND_USB;
		return 0;
	}
	if (strncmp(spec, "tcp:", 4) == 0)
		return parse_tcp(spec + 4, out);
	len = strlen(spec);
	if (len >= sizeof(out->path))
		return PED_E_TOO_LONG;
	memcpy(out->path, spec, len + 1);
	out->kind = USBPED_KIND_TTY;
	return 0;
}

int usbped_open(uv_loop_t *loop, const char *spec, unsigned write_delay_us,
		const usbped_cbs_t *cbs, void *arg, usbped_t **out)
{
	usbped_spec_t s;
	int r;

	if (out != NULL)
		*out = NULL;
	r = usbped_parse_spec(spec, &s);
	if (r < 0) {
		log_error("usbped: bad PED spec \"%s\" (a tty path, usb, usb:VID:PID[:SERIAL] or "
			  "tcp:HOST:PORT)",
			  spec != NULL ? spec : "");
		return r;
	}
	return usbped_open_backend(loop,
				   s.kind == USBPED_KIND_USB   ? &usbped_libusb_backend
				   : s.kind == USBPED_KIND_TCP ? &usbped_tcp_backend
							       : &usbped_tty_backend,
				   &s, write_delay_us, cbs, arg, out);
}

int usbped_open_backend(uv_loop_t *loop, const usbped_backend_t *be, const usbped_spec_t *spec,
			unsigned write_delay_us, const usbped_cbs_t *cbs, void *arg,
			usbped_t **out)
{
	usbped_t *p = NULL;
	int r = PED_E_INVAL;

	if (out == NULL)
		goto out;
	*out = NULL;
	if (loop == NULL || be == NULL || spec == NULL || cbs == NULL)
		goto out;
	r = PED_E_RANGE;
	if (write_delay_us > USBPED_WRITE_DELAY_MAX_US)
		goto out;
	r = PED_E_NOMEM;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto out;
	p->loop = loop;
	p->be = be;
	p->cbs = *cbs;
	p->arg = arg;
	p->write_delay_us = write_delay_us;
	p->chunk_left = USBPED_CHUNK;
	if (spec->kind == USBPED_KIND_USB)
		snprintf(p->desc, sizeof(p->desc), "usb %04x:%04x", spec->vid, spec->pid);
	else if (spec->kind == USBPED_KIND_TCP)
		snprintf(p->desc, sizeof(p->desc), "tcp %s%s%s:%u", strchr(spec->path, ':') ? "[" : "",
			 spec->path, strchr(spec->path, ':') ? "]" : "", spec->port);
	else
		snprintf(p->desc, sizeof(p->desc), "tty %s", spec->path);
	r = be->open(p, spec, &p->state);
	if (r < 0)
		goto out;
	/* From here on the handle is only released through usbped_close. */
	uv_timer_init(loop, &p->throttle);
	p->throttle.data = p;
	p->open_handles = 2;
	p->up = 1;
	*out = p;
	p = NULL;
	r = 0;
out:
	free(p);
	return r;
}

uv_loop_t *usbped_loop(const usbped_t *p)
{
	return p->loop;
}

int usbped_is_up(const usbped_t *p)
{
	return p != NULL && p->up && !p->closing;
}

size_t usbped_pending(const usbped_t *p)
{
	return p != NULL ? p->qtail - p->qhead : 0;
}

const char *usbped_describe(const usbped_t *p)
{
	return p != NULL ? p->desc : "none";
}

static void queue_clear(usbped_t *p)
{
	OPENSSL_cleanse(p->queue, sizeof(p->queue));
	p->qhead = p->qtail = 0;
}

int usbped_write(usbped_t *p, const void *data, size_t len)
{
	size_t used;

	if (p == NULL || (data == NULL && len > 0) || p->closing)
		return PED_E_INVAL;
	if (!p->up)
		return PED_E_UNPLUGGED;
	used = p->qtail - p->qhead;
	if (len > USBPED_QUEUE_MAX - used)
		return PED_E_NOSPACE;
	if (len > USBPED_QUEUE_MAX - p->qtail) {
		memmove(p->queue, p->queue + p->qhead, used);
		OPENSSL_cleanse(p->queue + used, USBPED_QUEUE_MAX - used);
		p->qhead = 0;
		p->qtail = used;
	}
	memcpy(p->queue + p->qtail, data, len);
	p->qtail += len;
	if (len > 0 && !p->throttle_wait)
		p->be->kick(p, p->state);
	return 0;
}

size_t usbped_peek(usbped_t *p, const uint8_t **data)
{
	size_t n = p->qtail - p->qhead;

	*data = p->queue + p->qhead;
	if (p->closing || !p->up || p->throttle_wait)
		return 0;
	if (p->write_delay_us > 0 && n > p->chunk_left)
		n = p->chunk_left;
	return n;
}

static void throttle_cb(uv_timer_t *t)
{
	usbped_t *p = t->data;

	p->throttle_wait = 0;
	p->chunk_left = USBPED_CHUNK;
	if (!p->closing && p->up && p->qtail > p->qhead)
		p->be->kick(p, p->state);
}

void usbped_consumed(usbped_t *p, size_t n)
{
	size_t avail = p->qtail - p->qhead;

	if (n > avail)
		n = avail;
	OPENSSL_cleanse(p->queue + p->qhead, n);
	p->qhead += n;
	if (p->qhead == p->qtail)
		p->qhead = p->qtail = 0;
	if (p->write_delay_us == 0 || n == 0)
		return;
	p->chunk_left -= n < p->chunk_left ? n : p->chunk_left;
	if (p->chunk_left == 0 || p->qhead == p->qtail) {
		/* libuv timers tick in milliseconds: the pause is rounded up. */
		p->throttle_wait = 1;
		uv_timer_start(&p->throttle, throttle_cb, (p->write_delay_us + 999) / 1000, 0);
	}
}

void usbped_deliver(usbped_t *p, const uint8_t *data, size_t len)
{
	if (p->closing || len == 0 || p->cbs.on_data == NULL)
		return;
	p->cbs.on_data(p->arg, data, len);
}

void usbped_set_down(usbped_t *p, int err)
{
	if (p->closing || !p->up)
		return;
	p->up = 0;
	queue_clear(p);
	uv_timer_stop(&p->throttle);
	p->throttle_wait = 0;
	p->chunk_left = USBPED_CHUNK;
	log_info("usbped: %s: link down (%s)", p->desc, ped_strerror(err));
	if (p->cbs.on_down != NULL)
		p->cbs.on_down(p->arg, err);
}

void usbped_set_up(usbped_t *p)
{
	if (p->closing || p->up)
		return;
	p->up = 1;
	log_info("usbped: %s: link up", p->desc);
	if (p->cbs.on_up != NULL)
		p->cbs.on_up(p->arg);
}

static void release_one(usbped_t *p)
{
	if (--p->open_handles > 0)
		return;
	queue_clear(p);
	if (p->on_closed != NULL)
		p->on_closed(p->closed_arg);
	free(p);
}

static void throttle_closed(uv_handle_t *h)
{
	release_one(h->data);
}

void usbped_backend_closed(usbped_t *p)
{
	release_one(p);
}

void usbped_close(usbped_t *p, void (*on_closed)(void *arg), void *arg)
{
	if (p == NULL || p->closing)
		return;
	p->closing = 1;
	p->up = 0;
	p->on_closed = on_closed;
	p->closed_arg = arg;
	uv_close((uv_handle_t *)&p->throttle, throttle_closed);
	p->be->close(p, p->state);
}
