/* hex.h - hexadecimal encoding and strict decoding (either case). */
#ifndef PED_HEX_H
#define PED_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the string hex (strlen must be even) into out (outcap bytes).
 * Returns the number of bytes, or a negative PED_E_* code. */
int hex_decode(const char *hex, uint8_t *out, size_t outcap);
/* Writes 2*n lowercase hex digits and a NUL into out (2*n+1 bytes). */
void hex_encode(const uint8_t *in, size_t n, char *out);

#endif
