/* allow.h - pedserver's HSM allowlist: the HSM static keys (by fingerprint,
 * SHA-256 of Qs_U as sent in KEX_INIT) that may make the PED prompt for the
 * orange key, with the serial, name, time and way each was added; and the
 * policy for an HSM whose key is not on it (HsmPolicy). Kept in
 * STATEDIR/hsm_allowlist, text, written atomically (common/atomic.h); every
 * change is a record in the audit trail. While the daemon runs it is the only
 * writer: the CLI sends its changes over the admin channel (allow_cmd.c). */
#ifndef PEDSERVER_ALLOW_H
#define PEDSERVER_ALLOW_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/ecp.h"

#define ALLOW_FILE "hsm_allowlist"
#define ALLOW_FP_LEN 32
/* grouped text: 16 groups of 4 hex digits joined by ':' */
#define ALLOW_FP_TEXT (16 * 5)
#define ALLOW_STR_MAX 32 /* serial and name */
#define ALLOW_MAX 256

enum allow_policy {
	ALLOW_PROMPT, /* ask the key holder on the PED; YES records the HSM */
	ALLOW_LIST,   /* refuse at once */
	ALLOW_TOFU,   /* record the first HSM, refuse later strangers */
	ALLOW_ANY,    /* every HSM that proves its key (no allowlist) */
};

struct allow_entry {
	uint8_t fp[ALLOW_FP_LEN];
	char serial[ALLOW_STR_MAX + 1];
	char name[ALLOW_STR_MAX + 1];   /* "" for none */
	char added[24];                 /* 2026-12-03T13:10:32Z */
	char how[12];                   /* cli, tofu, ped, password */
};

typedef struct allow allow_t;

/* Reads DIR/hsm_allowlist (a missing file is an empty list). 0,
 * PED_E_STATE_CORRUPT (a line that is not an entry), PED_E_IO, PED_E_NOMEM. */
int allow_load(const char *dir, allow_t **out);
void allow_free(allow_t *a);

size_t allow_count(const allow_t *a);
const struct allow_entry *allow_at(const allow_t *a, size_t i);
const struct allow_entry *allow_find(const allow_t *a, const uint8_t fp[ALLOW_FP_LEN]);

/* Adds an entry and saves. serial: 1-32 of [A-Za-z0-9._:-]; name: "" or as
 * serial; how: the way it was added. 0, PED_E_EXISTS (that key is listed),
 * PED_E_ALLOWLIST_FULL, PED_E_INVAL (serial/name text), PED_E_IO. Audited. */
int allow_add(allow_t *a, const uint8_t fp[ALLOW_FP_LEN], const char *serial, const char *name,
	      const char *how);
/* Deletes the entry with fp (if fp) or every entry with serial, and saves.
 * *n: how many went. 0 or PED_E_NOT_FOUND, PED_E_IO. Audited. */
int allow_delete(allow_t *a, const uint8_t *fp, const char *serial, unsigned *n);

/* SHA-256 of the public key as sent (ECP_PUB_LEN bytes). */
int allow_fingerprint(const uint8_t qs[ECP_PUB_LEN], uint8_t fp[ALLOW_FP_LEN]);
/* 64 hex digits, any case, ':' ' ' or '-' between them ignored; else
 * PED_E_BAD_FINGERPRINT. */
int allow_fp_parse(const char *text, uint8_t fp[ALLOW_FP_LEN]);
void allow_fp_text(const uint8_t fp[ALLOW_FP_LEN], char out[ALLOW_FP_TEXT]);
/* 1 when s is a valid serial/name text (1-32 of [A-Za-z0-9._:-]). */
int allow_word_ok(const char *s);
/* A serial as claimed in a HELLO, made a valid word ('?' for other bytes). */
void allow_word_clean(const char *in, char out[ALLOW_STR_MAX + 1]);

/* "prompt" "list" "tofu" "any" <-> the enum; PED_E_RANGE for other text. */
int allow_policy_parse(const char *s, enum allow_policy *out);
const char *allow_policy_name(enum allow_policy p);

#endif
