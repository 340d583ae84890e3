/* probe.h - `testid`: ask a pedserver whether it is there, which protocol
 * version it speaks and whether a PED is attached, without a session and
 * without an orange key. On a libuv loop (the daemon's, or a private one in
 * the CLI): resolve the host (numeric addresses directly, names through
 * uv_getaddrinfo), connect over TCP, send HELLO purpose PROBE (wire.h),
 * read one frame: HELLO_ACK, or ERROR. Everything is bounded by one
 * deadline (a uv_timer). Each failure gives one line in probe_result.message:
 *   cannot connect to 127.0.0.1:1600: connection refused
 *   no answer from 10.0.0.9:1503 within 5 s
 *   127.0.0.1:1600 answered ERROR VERSION_MISMATCH: unsupported ...
 *   127.0.0.1:1600 speaks wire version 9, this pedclient speaks 1
 *   127.0.0.1:1600 did not answer with the Remote PED protocol (...) */
#ifndef PEDCLIENT_PROBE_H
#define PEDCLIENT_PROBE_H

#include <uv.h>

#include "session/wire.h"

typedef struct probe probe_t;

struct probe_result {
	int rc;                      /* 0, or a negative PED_E_* code */
	char message[512];           /* why it failed (rc != 0) */
	struct wire_hello_ack ack;   /* the answer (rc == 0) */
};

/* Called once, after every handle of the probe is closed; res is valid only
 * during the call. The probe is freed afterwards. */
typedef void (*probe_done_fn)(void *arg, const struct probe_result *res);

/* Starts a probe; host is a name or an IPv4/IPv6 address. client_name goes
 * into the HELLO (printable ASCII, at most WIRE_STR_MAX). 0 or PED_E_INVAL /
 * PED_E_NOMEM (done is then never called). */
int probe_start(uv_loop_t *loop, const char *host, int port, unsigned timeout_ms,
		const char *client_name, probe_done_fn done, void *arg, probe_t **out);
/* Abandons a probe: done runs later with rc PED_E_HOST_CANCELLED. */
void probe_cancel(probe_t *p);

/* The result as text, for the admin reply and the CLI: lines (without
 * "\n") passed to fn. For a failure a single line. */
void probe_describe(const struct probe_result *res, long id, const char *host, long port,
		    void (*fn)(void *arg, const char *line), void *arg);

#endif
