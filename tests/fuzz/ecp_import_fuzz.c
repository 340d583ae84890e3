/* ecp_import_fuzz.c - libFuzzer target for the P-521 public-key parsers:
 * ecp_import_public() (raw SEC1 point) and ecp_import_spki() (DER SPKI).
 * Whatever is accepted must export to exactly the bytes that were imported. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ecp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPKI_POINT_OFF 25 /* the point follows the fixed 25-byte DER prefix */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ecp_key_t *k = NULL;
	uint8_t pub[ECP_PUB_LEN];

	if (ecp_import_public(data, size, &k) == 0) {
		if (size != ECP_PUB_LEN || k == NULL || ecp_export_public(k, pub) != 0 ||
		    memcmp(pub, data, ECP_PUB_LEN) != 0)
			abort();
		ecp_free(k);
		k = NULL;
	} else if (k != NULL) {
		abort();
	}

	if (ecp_import_spki(data, size, &k) == 0) {
		if (size != SPKI_POINT_OFF + ECP_PUB_LEN || k == NULL ||
		    ecp_export_public(k, pub) != 0 ||
		    memcmp(pub, data + SPKI_POINT_OFF, ECP_PUB_LEN) != 0)
			abort();
		ecp_free(k);
	} else if (k != NULL) {
		abort();
	}
	return 0;
}
