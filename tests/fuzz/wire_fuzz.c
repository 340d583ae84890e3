/* wire_fuzz.c - libFuzzer target: a stream of session frames (header check,
 * then hello / hello-ack / error decoding); every decoded message must
 * re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "session/wire.h"

static void check(const uint8_t *p, size_t n, const uint8_t *again, size_t m)
{
	if (n != m || memcmp(p, again, n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[WIRE_MAX_HELLO * 2];
	size_t off = 0;

	while (off < size) {
		uint8_t type;
		uint32_t len;
		pbuf_t out;
		if (wire_header(data + off, size - off, WIRE_MAX_HELLO, &type, &len) != 0 ||
		    size - off - WIRE_HDR_LEN < len)
			return 0;
		const uint8_t *p = data + off + WIRE_HDR_LEN;
		pbuf_over(&out, mem, sizeof(mem));
		if (type == WIRE_HELLO) {
			struct wire_hello h;
			if (wire_hello_decode(p, len, &h) == 0 && wire_hello_encode(&h, &out) == 0)
				check(p, len, out.data, out.len);
		} else if (type == WIRE_HELLO_ACK) {
			struct wire_hello_ack a;
			if (wire_hello_ack_decode(p, len, &a) == 0 && wire_hello_ack_encode(&a, &out) == 0)
				check(p, len, out.data, out.len);
		} else if (type == WIRE_ERROR) {
			struct wire_error e;
			if (wire_error_decode(p, len, &e) == 0 && wire_error_encode(&e, &out) == 0)
				check(p, len, out.data, out.len);
		}
		off += WIRE_HDR_LEN + len;
	}
	return 0;
}
