/* wire.h - framing and the hello of the session protocol between pedclient
 * (HSM side) and pedserver (PED side) on TCP (docs/PROTOCOL.md, Part 3).
 *
 * Frame: u8 WIRE_VERSION || u8 type || u32be length || payload.
 * A receiver reads the 6-byte header, rejects a version it does not speak
 * (answering ERROR VERSION_MISMATCH once), an unknown type, or a length above
 * the cap for the connection's state (WIRE_MAX_HELLO before the handshake,
 * WIRE_MAX_PAYLOAD after) before reading or allocating anything else; then it
 * parses the payload in a sub-buffer and rejects trailing bytes.
 * Strings are str = u8 length || bytes (printable ASCII, no NUL). */
#ifndef PED_WIRE_H
#define PED_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define WIRE_VERSION 1
#define WIRE_HDR_LEN 6
#define WIRE_MAX_HELLO 1024
#define WIRE_MAX_PAYLOAD 65536
#define WIRE_STR_MAX 255
#define WIRE_DEFAULT_PORT 1503

enum wire_type {
	WIRE_HELLO = 0x01,     /* client -> server */
	WIRE_HELLO_ACK = 0x02, /* server -> client */
	WIRE_ERROR = 0x7f,     /* either way, then close */
};

/* PASSWORD: the one-time password mode (PROTOCOL.md Part 4) */
enum wire_purpose { WIRE_PURPOSE_PROBE = 1, WIRE_PURPOSE_SESSION = 2, WIRE_PURPOSE_PASSWORD = 3,
		    WIRE_PURPOSE_RESUME = 4 /* PROTOCOL.md Part 6 */ };

struct wire_hello {
	uint8_t min_version, max_version;
	uint8_t purpose;                    /* enum wire_purpose */
	char client_name[WIRE_STR_MAX + 1]; /* host name of the HSM side */
	char hsm_serial[WIRE_STR_MAX + 1];  /* may be empty for a probe */
};

struct wire_hello_ack {
	uint8_t version;                    /* chosen, within the client's range */
	char server_name[WIRE_STR_MAX + 1]; /* host name of the PED side */
	char software[WIRE_STR_MAX + 1];    /* e.g. "pedserver 0.1.0" */
	uint8_t ped_attached;               /* 0/1 */
	char ped_firmware[WIRE_STR_MAX + 1];
	char ped_protocol[WIRE_STR_MAX + 1];
	uint8_t busy;                       /* 1: another HSM holds the PED */
	char holder[WIRE_STR_MAX + 1];      /* when busy: "serial at addr since T" */
};

struct wire_error {
	uint16_t code;                      /* positive PED_E_* number */
	char message[WIRE_STR_MAX + 1];
};

/* Header check on the first avail bytes of a stream: on success *type and
 * *len are set. PED_E_INCOMPLETE below WIRE_HDR_LEN; PED_E_VERSION for another
 * version; PED_E_TOO_LONG above max_payload. */
int wire_header(const uint8_t *hdr, size_t avail, size_t max_payload, uint8_t *type,
		uint32_t *len);
/* Appends a whole frame (header + payload) to out. */
int wire_frame(pbuf_t *out, uint8_t type, const uint8_t *payload, size_t len);

int wire_put_str(pbuf_t *b, const char *s);
int wire_get_str(pbuf_t *b, char out[static WIRE_STR_MAX + 1]);

int wire_hello_encode(const struct wire_hello *h, pbuf_t *out);
int wire_hello_decode(const uint8_t *p, size_t len, struct wire_hello *h);
int wire_hello_ack_encode(const struct wire_hello_ack *a, pbuf_t *out);
int wire_hello_ack_decode(const uint8_t *p, size_t len, struct wire_hello_ack *a);
int wire_error_encode(const struct wire_error *e, pbuf_t *out);
int wire_error_decode(const uint8_t *p, size_t len, struct wire_error *e);

#endif
