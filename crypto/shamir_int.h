/* shamir_int.h - internal hooks of the Shamir module, for tests only.
 *
 * Nothing outside tests/ may include this header. */
#ifndef PED_SHAMIR_INT_H
#define PED_SHAMIR_INT_H

#include <stdint.h>

/* The field operations of GF(2^8) mod 0x11b, exposed for exhaustive tests. */
uint8_t shamir_test_gf_mul(uint8_t a, uint8_t b);
uint8_t shamir_test_gf_inv(uint8_t a);

#endif
