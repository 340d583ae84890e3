/* penalty.h - per-source penalties of pedserver (in the spirit of OpenSSH's
 * PerSourcePenalties): a source that behaves like an attacker accrues
 * penalty seconds; once they reach a minimum its new connections are not
 * accepted any more until the penalty has run out. Pure bookkeeping, no
 * I/O, unit-tested; the server enforces it in the kernel where it can (a
 * socket filter on the listener drops the source's SYNs: sys_syn_filter in
 * common/sys.h) and refuses at accept otherwise.
 *
 *   events   a connection closed by the client without its HELLO, one
 *            evicted without its HELLO (silent while the handshake table was
 *            full), a missed HELLO deadline, a connection refused for the
 *            source's rate or cap: each adds its configured seconds
 *   accrual  a penalty runs out in real time; an event while it runs adds
 *            to what is left (repetition grows it), up to the maximum
 *   active   once what is left reaches the minimum, the source is blocked
 *            until its penalty has run out (one offence of a real client
 *            never blocks it: every event is far below the minimum)
 *   sources  IPv4 by address, IPv6 by /64 (as admission, admit.h); an
 *            address on the exempt list is never penalised nor blocked
 *   bounds   PENALTY_SOURCES entries; a full table drops the inactive entry
 *            with the least penalty left, and with every entry active a new
 *            offender is not tracked (admission still applies to it).
 *
 * Addresses are 16 bytes: an IPv6 address, or ::ffff:a.b.c.d for IPv4. */
#ifndef PEDSERVER_PENALTY_H
#define PEDSERVER_PENALTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h> /* struct sockaddr, on POSIX and Windows */

#define PENALTY_ADDR_LEN 16
#define PENALTY_SOURCES 1024
#define PENALTY_EXEMPT_MAX 16

enum penalty_kind {
	PENALTY_NO_HELLO,      /* closed by the client before its HELLO */
	PENALTY_EVICTED,       /* evicted before its HELLO (the table was full) */
	PENALTY_HELLO_TIMEOUT, /* no complete HELLO within the deadline */
	PENALTY_REFUSED,       /* refused at accept: the source's rate or cap */
	PENALTY_KINDS
};

struct penalty_prefix {
	uint8_t addr[PENALTY_ADDR_LEN];
	unsigned bits; /* of the 128 (an IPv4 /n is 96 + n) */
};

struct penalty_cfg {
	unsigned secs[PENALTY_KINDS]; /* per event (0: the event costs nothing) */
	unsigned min_s;               /* blocked from this much left on */
	unsigned max_s;               /* at most this much (0: penalties off) */
	struct penalty_prefix exempt[PENALTY_EXEMPT_MAX];
	size_t nexempt;
};

enum penalty_result {
	PENALTY_NONE,      /* nothing recorded: off, exempt or a 0 s event */
	PENALTY_ACCRUED,   /* recorded; the source is not (newly) blocked */
	PENALTY_ACTIVATED, /* the source is blocked from now on */
	PENALTY_FULL       /* every entry holds an active penalty: not tracked */
};

typedef struct penalty penalty_t;

int penalty_new(const struct penalty_cfg *cfg, penalty_t **out);
void penalty_free(penalty_t *p);
/* New settings; the penalties recorded stay (capped at the new maximum). */
void penalty_set(penalty_t *p, const struct penalty_cfg *cfg);
/* Parses an exempt list: addresses or prefixes (192.0.2.7, 10.0.0.0/8,
 * 2001:db8::/48, ::1) separated by commas and/or blanks; host bits must
 * be clear. 0, PED_E_BAD_PREFIX (the item named in err) or PED_E_TOO_MANY_PREFIXES. */
int penalty_exempt_parse(const char *list, struct penalty_cfg *cfg, char *err, size_t errlen);
bool penalty_exempt(const penalty_t *p, const uint8_t addr[PENALTY_ADDR_LEN]);

enum penalty_result penalty_add(penalty_t *p, const uint8_t addr[PENALTY_ADDR_LEN],
				enum penalty_kind kind, uint64_t now_ms);
/* addr's source is blocked now (and addr not exempt). */
bool penalty_blocked(penalty_t *p, const uint8_t addr[PENALTY_ADDR_LEN], uint64_t now_ms);
/* ms of penalty left for addr's source (0: none), active or not. */
uint64_t penalty_left(penalty_t *p, const uint8_t addr[PENALTY_ADDR_LEN], uint64_t now_ms);
/* The blocked sources now, at most max of them, as prefixes (IPv4 /32,
 * IPv6 /64), the most penalty left first; returns how many. */
size_t penalty_blocked_list(penalty_t *p, uint64_t now_ms, struct penalty_prefix *out,
			    size_t max);
/* Blocked sources now. */
unsigned penalty_nblocked(penalty_t *p, uint64_t now_ms);
/* ms until the next blocked source's penalty runs out, or -1 if none. */
int64_t penalty_next_expiry(penalty_t *p, uint64_t now_ms);
/* The set of blocked sources changed since the last call (a source was
 * blocked, or its penalty ran out): the kernel filter is stale. */
bool penalty_changed(penalty_t *p, uint64_t now_ms);

#endif
