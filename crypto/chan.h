/* chan.h - the channel's record layer: AES-256-CTR + HMAC-SHA-512,
 * encrypt-then-MAC, per-direction keys, and CSP wrapping with the CWK.
 *
 * Record on the wire:
 *   header  u8 CHAN_REC_VERSION || u32be length        (CHAN_HDR_LEN bytes)
 *   body    AES-256-CTR(DEK, counter block, plaintext)  (length bytes)
 *   tag     HMAC-SHA-512(DMK, u64be seq || header || body)  (64 bytes)
 * 1 <= length <= CHAN_MAX_PLAINTEXT. seq is implicit: 0 for the first record
 * sent in a direction, +1 per record. The initial counter block is
 * u64be(seq) || u64be(0), incremented as a 128-bit big-endian number per
 * block; a record has at most 1024 blocks, so blocks never repeat under one
 * key while seq does not. A direction refuses to seal or open beyond
 * CHAN_SEQ_LIMIT records (PED_E_SEQ_EXHAUSTED): the session must end.
 * The tag is verified (constant time) before any decryption. Any failure to
 * open a record kills the channel for good: every later call fails with
 * PED_E_CHAN_DEAD and the keys are wiped. */
#ifndef PED_CHAN_H
#define PED_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "kas.h"

#define CHAN_REC_VERSION 1
#define CHAN_HDR_LEN 5
#define CHAN_TAG_LEN 64
#define CHAN_MAX_PLAINTEXT 16384
#define CHAN_OVERHEAD (CHAN_HDR_LEN + CHAN_TAG_LEN)
#define CHAN_MAX_RECORD (CHAN_MAX_PLAINTEXT + CHAN_OVERHEAD)
#define CHAN_SEQ_LIMIT ((uint64_t)1 << 48)
/* CSPs wrapped with the CWK: at most this many bytes in, 8 + roundup8 out. */
#define CHAN_CSP_MAX 4096
#define CHAN_WRAP_LEN(n) (8 + (((n) + 7) / 8) * 8)

typedef struct chan chan_t;

/* A channel for the party keys->role: it sends with the keys of its own
 * direction (U: uv, V: vu) and receives with the other. Copies the keys. */
int chan_new(const kas_keys_t *keys, chan_t **out);
/* Wipes the keys and frees. NULL is a no-op. */
void chan_free(chan_t *c);

/* Seals len bytes of pt into out (needs len + CHAN_OVERHEAD bytes). */
int chan_seal(chan_t *c, const uint8_t *pt, size_t len, uint8_t *out, size_t outcap,
	      size_t *outlen);
/* Validates a record header from the first avail bytes of a stream, before
 * anything is allocated: on success *reclen is the whole record's size.
 * PED_E_INCOMPLETE if avail < CHAN_HDR_LEN; PED_E_BAD_RECORD for a wrong
 * version or length 0; PED_E_TOO_LONG above CHAN_MAX_PLAINTEXT.
 * Pure function: it does not touch any channel state. */
int chan_record_len(const uint8_t *hdr, size_t avail, size_t *reclen);
/* Opens one whole record (exactly reclen bytes) into pt. */
int chan_open(chan_t *c, const uint8_t *rec, size_t reclen, uint8_t *pt, size_t ptcap,
	      size_t *ptlen);

/* AES-256-KWP wrap of a CSP with this party's sending CWK, and unwrap with
 * the receiving CWK. An unwrap failure kills the channel too. */
int chan_wrap(chan_t *c, const uint8_t *csp, size_t len, uint8_t *out, size_t outcap,
	      size_t *outlen);
int chan_unwrap(chan_t *c, const uint8_t *in, size_t len, uint8_t *out, size_t outcap,
		size_t *outlen);

int chan_is_dead(const chan_t *c);
/* Records sealed / opened so far. */
uint64_t chan_sent(const chan_t *c);
uint64_t chan_received(const chan_t *c);

#endif
