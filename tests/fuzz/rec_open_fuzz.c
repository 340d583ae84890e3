/* rec_open_fuzz.c - libFuzzer target for the record layer's parser.
 *
 * The input is a byte stream from the network, as pedclient/pedserver would
 * read it, carrying records sealed by party U under fixed session keys (so a
 * seed corpus of real records opens). Each input gets fresh channels, so a
 * crash replays deterministically. Two leading bytes select other modes:
 *   0xFF  seal the rest with U in records, open them with V: must round-trip;
 *   0xFE  chan_unwrap() the rest with V's receiving CWK.
 * Any broken invariant of chan.h calls abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/chan.h"

#define FUZZ_MODE_ROUNDTRIP 0xFF
#define FUZZ_MODE_UNWRAP 0xFE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed session keys (a pattern, not secret): also used to make the corpus. */
static void fuzz_keys(kas_keys_t *k, enum kas_role role)
{
	uint8_t *p;

	memset(k, 0, sizeof(*k));
	k->scheme = KAS_FULL_UNIFIED;
	k->role = role;
	p = (uint8_t *)&k->uv;
	for (size_t i = 0; i < sizeof(k->uv); i++)
		p[i] = (uint8_t)(0x11 + 7 * i);
	p = (uint8_t *)&k->vu;
	for (size_t i = 0; i < sizeof(k->vu); i++)
		p[i] = (uint8_t)(0x5a ^ (13 * i));
}

static chan_t *fuzz_chan(enum kas_role role)
{
	static kas_keys_t keys[2];
	static int ready;
	chan_t *c = NULL;

	if (!ready) {
		fuzz_keys(&keys[KAS_U], KAS_U);
		fuzz_keys(&keys[KAS_V], KAS_V);
		ready = 1;
	}
	if (chan_new(&keys[role], &c) != 0)
		abort();
	return c;
}

/* A failed open must leave the channel dead, refusing everything. */
static void check_dead(chan_t *c, const uint8_t *rec, size_t len, uint8_t *pt)
{
	size_t n = 1;

	if (!chan_is_dead(c))
		abort();
	if (chan_open(c, rec, len, pt, CHAN_MAX_PLAINTEXT, &n) != PED_E_CHAN_DEAD || n != 0)
		abort();
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
	static uint8_t pt[CHAN_MAX_PLAINTEXT];
	chan_t *v = fuzz_chan(KAS_V);
	size_t off = 0, rl, pl;
	int r;

	while (off < size) {
		const uint8_t *p = data + off;
		size_t avail = size - off;

		r = chan_record_len(p, avail, &rl);
		if (r == 0 && (rl <= CHAN_OVERHEAD || rl > CHAN_MAX_RECORD))
			abort();
		if (r != 0 || rl > avail) {
			/* Bad or incomplete header: chan_open must refuse what is there. */
			if (chan_open(v, p, avail, pt, sizeof(pt), &pl) == 0)
				abort();
			check_dead(v, p, avail, pt);
			break;
		}
		r = chan_open(v, p, rl, pt, sizeof(pt), &pl);
		if (r == 0 && pl != rl - CHAN_OVERHEAD)
			abort();
		if (r != 0) {
			check_dead(v, p, rl, pt);
			/* Start over with a fresh receiver for the rest of the stream. */
			chan_free(v);
			v = fuzz_chan(KAS_V);
		}
		off += rl;
	}
	chan_free(v);
}

static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
	static uint8_t rec[CHAN_MAX_RECORD], pt[CHAN_MAX_PLAINTEXT];
	chan_t *u = fuzz_chan(KAS_U), *v = fuzz_chan(KAS_V);
	size_t rl, pl;

	if (size == 0 && chan_seal(u, data, 0, rec, sizeof(rec), &rl) != PED_E_INVAL)
		abort();
	while (size > 0) {
		size_t n = size < CHAN_MAX_PLAINTEXT ? size : CHAN_MAX_PLAINTEXT;

		if (chan_seal(u, data, n, rec, sizeof(rec), &rl) != 0 || rl != n + CHAN_OVERHEAD)
			abort();
		if (chan_record_len(rec, rl, &pl) != 0 || pl != rl)
			abort();
		if (chan_open(v, rec, rl, pt, sizeof(pt), &pl) != 0 || pl != n ||
		    memcmp(pt, data, n) != 0)
			abort();
		data += n;
		size -= n;
	}
	if (chan_sent(u) != chan_received(v))
		abort();
	chan_free(u);
	chan_free(v);
}

static void fuzz_unwrap(const uint8_t *data, size_t size)
{
	static uint8_t out[CHAN_CSP_MAX];
	chan_t *v = fuzz_chan(KAS_V);
	size_t n = 1;
	int r;

	r = chan_unwrap(v, data, size, out, sizeof(out), &n);
	if (r == 0 && (n == 0 || n > CHAN_CSP_MAX || size != CHAN_WRAP_LEN(n)))
		abort();
	if (r != 0 && (n != 0 || !chan_is_dead(v)))
		abort();
	chan_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == FUZZ_MODE_ROUNDTRIP)
		fuzz_roundtrip(data + 1, size - 1);
	else if (size > 0 && data[0] == FUZZ_MODE_UNWRAP)
		fuzz_unwrap(data + 1, size - 1);
	else
		fuzz_stream(data, size);
	return 0;
}
