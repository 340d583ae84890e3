/* slots.h - pedclient's HSM slots: slot N (numbered from 0) is the software
 * HSM (hsm.h) whose state lives in STATEDIR/slotN.hsm, created on first use.
 * The serial number each slot shows (show, slot list, the session HELLO) is
 * the HSM's own: there is one source of truth, the state file. A state file
 * that cannot be read stops the start with its named error; it is never
 * re-created. Slots beyond the configured count keep their files (lowering
 * `Slots` and raising it again gives the same HSMs back). */
#ifndef PEDCLIENT_SLOTS_H
#define PEDCLIENT_SLOTS_H

#include <stddef.h>

#include "pedclient/hsm.h"

#define SLOTS_MAX 16
#define SLOT_SERIAL_LEN 20 /* a u64 in decimal; new slots draw 10 digits */

struct slots {
	unsigned n;                                  /* slots in use (0..n-1) */
	hsm_t *hsm[SLOTS_MAX];
	char serial[SLOTS_MAX][SLOT_SERIAL_LEN + 1]; /* decimal */
};

/* The state file of slot idx: "DIR/slotIDX.hsm". 0 or PED_E_TOO_LONG. */
int slots_path(const char *dir, unsigned idx, char *out, size_t outlen);
/* Opens (creating when missing) slots 0..n-1 in dir. 0, or a negative
 * PED_E_* code with one line in err (everything opened is closed again). */
int slots_open(struct slots *s, const char *dir, unsigned n, char *err, size_t errlen);
/* Refreshes serial[idx] from the HSM (after a change). */
void slots_refresh(struct slots *s, unsigned idx);
/* Closes every HSM (wiping what it holds). */
void slots_close(struct slots *s);

#endif
