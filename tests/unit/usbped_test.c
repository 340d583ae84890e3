/* usbped_test.c - the PED transport: spec parsing, the tty backend against
 * a pty pair made here (data both ways, the write throttle, hang-up), the
 * libusb backend's clean "no PED found", and a loop left with no handle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <uv.h>

#include "common/err.h"
#include "common/log.h"
#include "usbped/usbped.h"

struct fix {
	uv_loop_t loop;
	uv_timer_t guard;
	int guard_fired;
	int master;
	char slave[256];
	usbped_t *p;
	uint8_t got[65536];
	size_t ngot;
	int downs, down_err;
	int closed;
	/* the master side, drained by the test */
	uv_poll_t mpoll;
	int mpolling;
	uint8_t mgot[65536];
	size_t nmgot;
};

static void on_data(void *arg, const uint8_t *data, size_t len)
{
	struct fix *f = arg;

	assert_true(f->ngot + len <= sizeof(f->got));
	memcpy(f->got + f->ngot, data, len);
	f->ngot += len;
}

static void on_down(void *arg, int err)
{
	struct fix *f = arg;

	f->downs++;
	f->down_err = err;
}

static void on_closed(void *arg)
{
	struct fix *f = arg;

	f->closed++;
}

static const usbped_cbs_t cbs = {on_data, on_down, NULL};

static void guard_cb(uv_timer_t *t)
{
	struct fix *f = t->data;

	f->guard_fired = 1;
}

static int open_pty(struct fix *f)
{
	struct termios tio;

	f->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (f->master < 0 || grantpt(f->master) < 0 || unlockpt(f->master) < 0 ||
	    ptsname_r(f->master, f->slave, sizeof(f->slave)) != 0)
		return -1;
	if (tcgetattr(f->master, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(f->master, TCSANOW, &tio);
	}
	return 0;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->guard);
	f->guard.data = f;
	f->master = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	if (f->mpolling)
		uv_close((uv_handle_t *)&f->mpoll, NULL);
	if (f->p != NULL)
		usbped_close(f->p, on_closed, f);
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* The transport left nothing behind. */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	if (f->master >= 0)
		close(f->master);
	free(f);
	return 0;
}

/* Runs the loop until cond holds or 3 s pass. */
#define RUN_UNTIL(f, cond)                                                     \
	do {                                                                   \
		(f)->guard_fired = 0;                                          \
		uv_timer_start(&(f)->guard, guard_cb, 3000, 0);                \
		while (!(cond) && !(f)->guard_fired)                           \
			uv_run(&(f)->loop, UV_RUN_ONCE);                        \
		uv_timer_stop(&(f)->guard);                                    \
		assert_true(cond);                                             \
	} while (0)

static void master_cb(uv_poll_t *h, int status, int events)
{
	struct fix *f = h->data;
	ssize_t n;

	(void)status;
	if (!(events & UV_READABLE))
		return;
	while ((n = read(f->master, f->mgot + f->nmgot, sizeof(f->mgot) - f->nmgot)) > 0)
		f->nmgot += (size_t)n;
}

static void master_poll(struct fix *f)
{
	assert_int_equal(uv_poll_init(&f->loop, &f->mpoll, f->master), 0);
	f->mpoll.data = f;
	f->mpolling = 1;
	assert_int_equal(uv_poll_start(&f->mpoll, UV_READABLE, master_cb), 0);
}

static void test_spec(void **state)
{
	usbped_spec_t s;

	(void)state;
	assert_int_equal(usbped_parse_spec("usb", &s), 0);
	assert_int_equal(s.kind, USBPED_KIND_USB);
	assert_int_equal(s.vid, USBPED_DEFAULT_VID);
	assert_int_equal(s.pid, USBPED_DEFAULT_PID);
	assert_int_equal(usbped_parse_spec("usb:1a2B:0003", &s), 0);
	assert_int_equal(s.kind, USBPED_KIND_USB);
	assert_int_equal(s.vid, 0x1a2b);
	assert_int_equal(s.pid, 3);
	assert_int_equal(usbped_parse_spec("usb:zz:1", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("usb:12345:1", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("usb:1209:0001:PED-0042", &s), 0);
	assert_int_equal(s.kind, USBPED_KIND_USB);
	assert_int_equal(s.vid, 0x1209);
	assert_int_equal(s.pid, 0x0001);
	assert_string_equal(s.serial, "PED-0042");
	assert_int_equal(usbped_parse_spec("usb:1209:0001", &s), 0);
	assert_string_equal(s.serial, "");
	assert_int_equal(usbped_parse_spec("usb:1209:0001:", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("usb:1209:0001:a:b", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("usb:1209:0001:a b", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("usb:1209:0001:"
					   "0123456789012345678901234567890123456789012345678901234567890123",
					   &s), 0);
	assert_int_equal(usbped_parse_spec("usb:1209:0001:"
					   "01234567890123456789012345678901234567890123456789012345678901234",
					   &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("usb:1234", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("usb:1234:", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("usb::1", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("", &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec(NULL, &s), PED_E_INVAL);
	assert_int_equal(usbped_parse_spec("/dev/ttyUSB0", &s), 0);
	assert_int_equal(s.kind, USBPED_KIND_TTY);
	assert_string_equal(s.path, "/dev/ttyUSB0");
}

static void test_spec_tcp(void **state)
{
	static const char *const bad[] = {
		"tcp:", "tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp:127.0.0.1:0", "tcp:127.0.0.1:65536",
		"tcp:127.0.0.1:-1", "tcp:127.0.0.1:+5", "tcp:127.0.0.1:5x", "tcp:localhost:5",
		"tcp::::1:5", "tcp:[::1]5", "tcp:[::1:5", "tcp:[]:5", "tcp::5", "tcp:1.2.3.4.5:5",
		"tcp:[127.0.0.1]:5",
	};
	struct sockaddr_storage sa;
	usbped_spec_t s;
	int lo;

	(void)state;
	assert_int_equal(usbped_parse_spec("tcp:127.0.0.1:4000", &s), 0);
	assert_int_equal(s.kind, USBPED_KIND_TCP);
	assert_string_equal(s.path, "127.0.0.1");
	assert_int_equal(s.port, 4000);
	assert_int_equal(usbped_tcp_addr(&s, &sa, &lo), 0);
	assert_int_equal(sa.ss_family, AF_INET);
	assert_int_equal(lo, 1);
	assert_int_equal(usbped_parse_spec("tcp:[::1]:65535", &s), 0);
	assert_string_equal(s.path, "::1");
	assert_int_equal(s.port, 65535);
	assert_int_equal(usbped_tcp_addr(&s, &sa, &lo), 0);
	assert_int_equal(sa.ss_family, AF_INET6);
	assert_int_equal(lo, 1);
	assert_int_equal(usbped_parse_spec("tcp:192.0.2.7:1", &s), 0);
	assert_int_equal(usbped_tcp_addr(&s, &sa, &lo), 0);
	assert_int_equal(lo, 0);
	assert_int_equal(usbped_parse_spec("tcp:[2001:db8::1]:1503", &s), 0);
	assert_int_equal(usbped_tcp_addr(&s, &sa, &lo), 0);
	assert_int_equal(lo, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (usbped_parse_spec(bad[i], &s) != PED_E_INVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(s.kind, 0);
	}
	/* a tty spec has no address */
	assert_int_equal(usbped_parse_spec("/dev/ttyS0", &s), 0);
	assert_int_equal(usbped_tcp_addr(&s, &sa, &lo), PED_E_INVAL);
}

static void test_bad_open(void **state)
{
	struct fix *f = *state;
	usbped_t *p = (usbped_t *)1;

	assert_int_equal(usbped_open(&f->loop, "usb:zz:1", 0, &cbs, f, &p), PED_E_INVAL);
	assert_null(p);
	assert_int_equal(usbped_open(&f->loop, "/nonexistent/ped", 0, &cbs, f, &p),
			 PED_E_NOT_FOUND);
	assert_null(p);
	/* Not a terminal. */
	assert_int_equal(usbped_open(&f->loop, "/dev/null", 0, &cbs, f, &p), PED_E_INVAL);
	assert_int_equal(open_pty(f), 0);
	assert_int_equal(usbped_open(&f->loop, f->slave, USBPED_WRITE_DELAY_MAX_US + 1, &cbs, f,
				     &p),
			 PED_E_RANGE);
	assert_null(p);
	usbped_close(NULL, on_closed, f);
	assert_int_equal(f->closed, 0);
}

static void test_usb_not_found(void **state)
{
	struct fix *f = *state;
	usbped_t *p = (usbped_t *)1;

	/* No USB PED exists here (nor perhaps USB at all): a clean NOT_FOUND. */
	assert_int_equal(usbped_open(&f->loop, "usb", 0, &cbs, f, &p), PED_E_NOT_FOUND);
	assert_null(p);
	assert_int_equal(usbped_open(&f->loop, "usb:ffff:fffe", 500, &cbs, f, &p),
			 PED_E_NOT_FOUND);
	assert_null(p);
}

static void test_tty_both_ways(void **state)
{
	struct fix *f = *state;
	static uint8_t big[20000];
	ssize_t n;

	assert_int_equal(open_pty(f), 0);
	assert_int_equal(usbped_open(&f->loop, f->slave, 0, &cbs, f, &f->p), 0);
	assert_true(usbped_is_up(f->p));
	assert_non_null(strstr(usbped_describe(f->p), f->slave));
	master_poll(f);

	/* host -> PED, binary bytes unchanged by the line discipline */
	const uint8_t msg[] = {0xA5, 0x5A, 0x00, '\n', '\r', 0x03, 0x04, 0x11, 0x13, 0xff};
	assert_int_equal(usbped_write(f->p, msg, sizeof(msg)), 0);
	RUN_UNTIL(f, f->nmgot == sizeof(msg));
	assert_memory_equal(f->mgot, msg, sizeof(msg));

	/* PED -> host */
	n = write(f->master, msg, sizeof(msg));
	assert_int_equal(n, (ssize_t)sizeof(msg));
	RUN_UNTIL(f, f->ngot == sizeof(msg));
	assert_memory_equal(f->got, msg, sizeof(msg));

	/* more than a pty buffer: queued and flushed as the line drains */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	f->nmgot = 0;
	assert_int_equal(usbped_write(f->p, big, sizeof(big)), 0);
	RUN_UNTIL(f, f->nmgot == sizeof(big));
	assert_memory_equal(f->mgot, big, sizeof(big));
	assert_int_equal(usbped_pending(f->p), 0);

	/* the queue is bounded */
	static uint8_t huge[USBPED_QUEUE_MAX + 1];
	assert_int_equal(usbped_write(f->p, huge, sizeof(huge)), PED_E_NOSPACE);
}

static void test_tty_throttle(void **state)
{
	struct fix *f = *state;
	uint8_t data[4 * USBPED_CHUNK + 10];
	uint64_t t0;

	assert_int_equal(open_pty(f), 0);
	assert_int_equal(usbped_open(&f->loop, f->slave, 3000, &cbs, f, &f->p), 0);
	master_poll(f);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	uv_update_time(&f->loop);
	t0 = uv_now(&f->loop);
	assert_int_equal(usbped_write(f->p, data, sizeof(data)), 0);
	/* the first chunk goes out at once, the rest waits */
	assert_int_equal(usbped_pending(f->p), sizeof(data) - USBPED_CHUNK);
	RUN_UNTIL(f, f->nmgot == sizeof(data));
	assert_memory_equal(f->mgot, data, sizeof(data));
	/* four pauses of 3 ms between five chunks */
	assert_true(uv_now(&f->loop) - t0 >= 4 * 3);
}

static void test_tty_hangup(void **state)
{
	struct fix *f = *state;

	assert_int_equal(open_pty(f), 0);
	assert_int_equal(usbped_open(&f->loop, f->slave, 0, &cbs, f, &f->p), 0);
	close(f->master);
	f->master = -1;
	RUN_UNTIL(f, f->downs == 1);
	assert_int_equal(f->down_err, PED_E_UNPLUGGED);
	assert_false(usbped_is_up(f->p));
	assert_int_equal(usbped_write(f->p, "x", 1), PED_E_UNPLUGGED);
	/* once only */
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->downs, 1);
	usbped_close(f->p, on_closed, f);
	f->p = NULL;
	RUN_UNTIL(f, f->closed == 1);
}

/* Closing from inside the data callback is safe. */
static void close_in_cb(void *arg, const uint8_t *data, size_t len)
{
	struct fix *f = arg;

	(void)data;
	f->ngot += len;
	usbped_close(f->p, on_closed, f);
	f->p = NULL;
}

static void test_close_in_callback(void **state)
{
	struct fix *f = *state;
	static const usbped_cbs_t c = {close_in_cb, on_down, NULL};

	assert_int_equal(open_pty(f), 0);
	assert_int_equal(usbped_open(&f->loop, f->slave, 0, &c, f, &f->p), 0);
	assert_int_equal(write(f->master, "abc", 3), 3);
	RUN_UNTIL(f, f->closed == 1);
	assert_int_equal(f->downs, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_spec_tcp),
		cmocka_unit_test_setup_teardown(test_bad_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tty_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tty_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tty_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_in_callback, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
