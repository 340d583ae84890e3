/* chan_int.h - internal hooks of the record layer, for tests only.
 *
 * Nothing outside tests/ may include this header. */
#ifndef PED_CHAN_INT_H
#define PED_CHAN_INT_H

#include <stdint.h>

#include "chan.h"

/* Sets the sequence numbers of the next record to seal and to open, so that
 * tests can reach CHAN_SEQ_LIMIT. PED_E_INVAL for NULL or a dead channel. */
int chan_test_set_seq(chan_t *c, uint64_t sent, uint64_t received);

#endif
