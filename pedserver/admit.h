/* admit.h - pedserver's admission of new connections (issue: a pedserver
 * that can face a network). Pure bookkeeping, no I/O, unit-tested:
 *
 *   source     IPv4: the address; IPv6: the /64 prefix (one subscriber's
 *              network), so a host cannot dodge the limits by rotating its
 *              interface identifier. IPv4-mapped IPv6 counts as IPv4.
 *   rate       a token bucket per source: `burst` connections at once,
 *              refilled at `rate` per second; every attempt takes a token
 *              (also one refused for the cap), an empty bucket refuses.
 *   concurrent at most `per_source` pre-session connections per source
 *              (accepted, not yet past key confirmation).
 *
 * The global cap of pre-session connections is the server's (server.c): a
 * full table evicts a pre-session connection instead of refusing the
 * newcomer (one that has not even sent a complete HELLO first, then one of
 * the source holding the most, then the oldest); an open session is never
 * evicted. Sources are kept in a bounded table
 * (ADMIT_SOURCES); an idle source whose bucket is full again carries no
 * state worth keeping and is reused first. */
#ifndef PEDSERVER_ADMIT_H
#define PEDSERVER_ADMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h> /* struct sockaddr, on POSIX and Windows */

#define ADMIT_KEY_LEN 16
#define ADMIT_SOURCES 1024

struct admit_cfg {
	unsigned per_source; /* concurrent pre-session connections per source */
	unsigned rate;       /* new connections per second per source */
	unsigned burst;      /* bucket size */
};

enum admit_verdict { ADMIT_OK = 0, ADMIT_RATE, ADMIT_PER_SOURCE };

typedef struct admit admit_t;

int admit_new(const struct admit_cfg *cfg, admit_t **out);
void admit_free(admit_t *a);
void admit_set(admit_t *a, const struct admit_cfg *cfg);
/* A peer address (AF_INET or AF_INET6) in 16 bytes, IPv4 as IPv4-mapped
 * IPv6: 0 or PED_E_INVAL (addr all zero). */
int admit_addr(const struct sockaddr *sa, uint8_t addr[ADMIT_KEY_LEN]);
/* Whether a 16-byte address is IPv4 (IPv4-mapped). */
bool admit_is_v4(const uint8_t addr[ADMIT_KEY_LEN]);
/* The source of a 16-byte address: IPv4 whole, IPv6 its /64. */
void admit_source(const uint8_t addr[ADMIT_KEY_LEN], uint8_t key[ADMIT_KEY_LEN]);
/* The source of a peer address: admit_addr then admit_source. */
int admit_key(const struct sockaddr *sa, uint8_t key[ADMIT_KEY_LEN]);
/* A new connection from key at now_ms: ADMIT_OK counts it as pre-session
 * (admit_leave later), anything else refuses it and changes no count. */
enum admit_verdict admit_enter(admit_t *a, const uint8_t key[ADMIT_KEY_LEN], uint64_t now_ms);
/* The connection admitted for key left the pre-session state (opened a
 * session or closed). */
void admit_leave(admit_t *a, const uint8_t key[ADMIT_KEY_LEN]);
/* Pre-session connections of key now (tests, show). */
unsigned admit_count(const admit_t *a, const uint8_t key[ADMIT_KEY_LEN]);
/* The entry of key's source, ADMIT_SOURCES if none; it stays key's while
 * key has pre-session connections (an entry is reused only at count 0). */
unsigned admit_slot(const admit_t *a, const uint8_t key[ADMIT_KEY_LEN]);
/* Pre-session connections of the source in entry slot (0 if out of range). */
unsigned admit_slot_count(const admit_t *a, unsigned slot);

#endif
