/* link.h - the PED link protocol: frames between a host (pedserver, or
 * pedclient for a Local PED) and a PED (pedemu, or a real PED) over a byte
 * stream (pty/serial or USB bulk endpoints).
 *
 * Frame (all integers big-endian):
 *   0  u8[2]  magic 0xA5 0x5A
 *   2  u8     protocol version (LINK_VERSION)
 *   3  u8     type (enum link_type)
 *   4  u16    request id: chosen by the host on a request, echoed by the PED
 *             on every EVENT/RESULT of that request; 0 for unsolicited frames
 *   6  u16    payload length, <= LINK_MAX_PAYLOAD (checked before buffering)
 *   8  ...    payload
 *   8+n u32   CRC-32 (IEEE 802.3, as zlib's crc32) over bytes 0 .. 8+n-1
 * A receiver that meets a bad magic, a length above the cap or a CRC
 * mismatch drops bytes up to the next magic (resynchronisation), counts the
 * event, and carries on: a serial line can garble bytes.
 *
 * Payload fields use these encodings: str = u8 len || bytes (no NUL);
 * blob = u8 wrap || u16 len || bytes, where wrap is 0 (plain) or 1 (AES-256-
 * KWP under the link's CWK, once a session supplies one): every CSP on the
 * link (share, OTP digits) travels as a blob, so wrapping is a drop-in.
 * Messages (H = host to PED, P = PED to host) and their payloads:
 *   H HELLO        u8 min_version, u8 max_version, str host_name
 *   P HELLO_ACK    u8 version, str firmware, str serial, str model
 *   H STATUS       (empty)
 *   P STATUS_ACK   u8 mode (enum link_mode), u8 key_present, u8 busy,
 *                  str firmware, u8 rpk_cached (count), rpk_cached x str serial
 *   H READ_KEYSET  u8 key_type, u32 timeout_ms, str title, u8[16] keyset_id
 *                  (all zero: any keyset of that type)
 *   H CREATE_KEYSET u8 key_type, u32 timeout_ms, str title, str key_label,
 *                  u8 allow_reuse
 *   H SHARES       (answer to EVENT NEED_SHARES) u8[16] keyset_id, u8 count,
 *                  count x blob (encoded shamir shares, crypto/shamir.h)
 *   H READ_RPK     u32 timeout_ms, str title   (orange keyset; cached)
 *   H FORGET_RPK   (empty) drop the cached RPK
 *   H OTP          u32 timeout_ms, str title, u8 digits
 *   H CANCEL       (empty; request id = the operation to cancel)
 *   H ALLOW_HSM    u32 timeout_ms, str serial, u8[32] fingerprint: the PED
 *                  asks the key holder "Allow HSM <serial>?" showing the
 *                  fingerprint (SHA-256 of the HSM's static public key);
 *                  RESULT 0 for YES, HSM_DECLINED for NO
 *   H KEX_OFFER    Qs_V(133) || Nonce_V(32): the HSM's static public key and a
 *                  nonce; starts the Local PED's One-Pass C(1e,1s) key
 *                  agreement (crypto/kas.h: the PED is party U with an
 *                  ephemeral key, the HSM party V; SuppPubInfo = SHA-512 of
 *                  the KEX_OFFER payload; no SuppPrivInfo)
 *   P KEX_ACCEPT   Qe_U(133): the PED's ephemeral public key
 *   H KEX_CONFIRM  MacTag_V(64): the HSM's key-confirmation tag
 *   P KEX_DONE     u16 status: 0, or KEY_CONFIRMATION_FAILED (the PED shows
 *                  it and drops the keys). From status 0 on, every blob with
 *                  wrap = 1 is AES-256-KWP under the sender's CWK (PED: CWK_UV,
 *                  host: CWK_VU) and the PED refuses plain (wrap = 0) CSPs
 *                  from the host; the keys live until the link drops,
 *                  the next HELLO or the next KEX_OFFER.
 *   P EVENT        u8 kind, then by kind:
 *                    PROMPT       u8 count, count x str (LCD lines, <= 8)
 *                    KEYS_READ    u8 k, u8 m
 *                    KEY_WRITTEN  u8 k, u8 n, str serial
 *                    NEED_SHARES  u8 m, u8 n
 *   P RESULT       u16 status (0 or the positive PED_E_* number, err.h), then
 *                  if status is 0, by request:
 *                    READ_KEYSET, READ_RPK: u8 m, u8 n, u8[16] keyset_id,
 *                      u8 count, count x (str serial, blob share)
 *                    CREATE_KEYSET: u8 reused, u8 m, u8 n, u8[16] keyset_id,
 *                      u8 keys_written, then if reused: u8 count,
 *                      count x (str serial, blob share)
 *                    OTP: blob digits (ASCII)
 *                    others: nothing
 *   P ERROR        u16 status, str message (a frame the PED cannot accept:
 *                  unknown type, bad payload, unsupported version)
 * One operation at a time: a second operation while one runs gets RESULT
 * PED_BUSY. Every operation ends with exactly one RESULT. */
#ifndef PED_LINK_H
#define PED_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define LINK_VERSION 1
#define LINK_MAGIC0 0xA5
#define LINK_MAGIC1 0x5A
#define LINK_HDR_LEN 8
#define LINK_CRC_LEN 4
#define LINK_MAX_PAYLOAD 4096
#define LINK_MAX_FRAME (LINK_HDR_LEN + LINK_MAX_PAYLOAD + LINK_CRC_LEN)
#define LINK_KEYSET_ID_LEN 16
#define LINK_DEFAULT_TIMEOUT_MS 200000
#define LINK_FINGERPRINT_LEN 32

enum link_type {
	LINK_HELLO = 0x01,
	LINK_STATUS = 0x02,
	LINK_READ_KEYSET = 0x03,
	LINK_CREATE_KEYSET = 0x04,
	LINK_SHARES = 0x05,
	LINK_READ_RPK = 0x06,
	LINK_FORGET_RPK = 0x07,
	LINK_OTP = 0x08,
	LINK_CANCEL = 0x09,
	LINK_KEX_OFFER = 0x0A,
	LINK_KEX_CONFIRM = 0x0B,
	LINK_ALLOW_HSM = 0x0C,
	LINK_HELLO_ACK = 0x81,
	LINK_STATUS_ACK = 0x82,
	LINK_EVENT = 0x83,
	LINK_RESULT = 0x84,
	LINK_ERROR = 0x85,
	LINK_KEX_ACCEPT = 0x86,
	LINK_KEX_DONE = 0x87,
};

enum link_event { LINK_EV_PROMPT = 1, LINK_EV_KEYS_READ = 2, LINK_EV_KEY_WRITTEN = 3,
		  LINK_EV_NEED_SHARES = 4 };

enum link_mode { LINK_MODE_LOCAL = 0, LINK_MODE_REMOTE = 1, LINK_MODE_ADMIN = 2,
		 LINK_MODE_MENU = 3 };

/* Secret types, as the PED sees them (a gray CU key is "black" to the PED). */
enum link_key_type {
	LINK_KEY_BLANK = 0,
	LINK_KEY_BLUE = 1,   /* HSM SO / partition SO */
	LINK_KEY_RED = 2,    /* domain (cloning vector) */
	LINK_KEY_ORANGE = 3, /* Remote PED Vector */
	LINK_KEY_BLACK = 4,  /* crypto officer / crypto user */
	LINK_KEY_WHITE = 5,  /* auditor */
};

typedef struct link_frame {
	uint8_t type;
	uint16_t id;
	uint16_t len;
	uint8_t payload[LINK_MAX_PAYLOAD];
} link_frame_t;

/* Stream decoder: feed bytes as they arrive, take whole frames out. */
typedef struct link_decoder link_decoder_t;
int link_decoder_new(link_decoder_t **out);
void link_decoder_free(link_decoder_t *d);
/* Appends n bytes; PED_E_TOO_LONG if the decoder's bounded buffer is full
 * (it never holds more than two maximal frames). */
int link_decoder_feed(link_decoder_t *d, const uint8_t *data, size_t n);
/* 0 and a frame in *f; PED_E_INCOMPLETE when more bytes are needed; garbage
 * is skipped (resync) and counted, never returned. */
int link_decoder_next(link_decoder_t *d, link_frame_t *f);
/* Bytes dropped while resynchronising so far. */
uint64_t link_decoder_dropped(const link_decoder_t *d);

/* Encodes one frame into out (LINK_MAX_FRAME bytes is always enough). */
int link_encode(uint8_t type, uint16_t id, const uint8_t *payload, size_t len,
		uint8_t *out, size_t outcap, size_t *outlen);

/* Payload field helpers (bounded, see common/buf.h). */
int link_put_str(pbuf_t *b, const char *s);
/* Copies a str into out (cap bytes incl. NUL); PED_E_TOO_LONG if it does not fit. */
int link_get_str(pbuf_t *b, char *out, size_t cap);
int link_put_blob(pbuf_t *b, uint8_t wrap, const uint8_t *data, size_t len);
/* Copies a blob into out (cap bytes). */
int link_get_blob(pbuf_t *b, uint8_t *wrap, uint8_t *out, size_t cap, size_t *len);

const char *link_type_name(uint8_t type);
const char *link_key_type_name(uint8_t key_type); /* "BLUE", ... */
uint32_t link_crc32(const uint8_t *data, size_t len);

#endif
