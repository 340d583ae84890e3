/* audit_verify_fuzz.c - libFuzzer target: audit_verify over any file
 * contents (a trail someone edited). It must never crash nor over-read; a
 * file it calls intact must still be called intact when read again, and the
 * same contents with one byte changed inside a record never are (the
 * chain covers every byte but the trailing newline). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/audit.h"
#include "common/err.h"

static int verify(const uint8_t *data, size_t size, FILE *sink)
{
	char path[64];
	const char *files[1] = {path};
	int fd = memfd_create("audit", 0), r;

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = audit_verify(files, 1, sink);
	close(fd);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	uint8_t *copy;
	size_t i;

	if (sink == NULL && (sink = fopen("/dev/null", "w")) == NULL)
		abort();
	if (verify(data, size, sink) != 0 || size < 2)
		return 0;
	/* intact: change one byte of a record (not a newline) */
	if ((copy = malloc(size)) == NULL)
		abort();
	memcpy(copy, data, size);
	i = (size_t)data[0] * 131u % size;
	if (copy[i] != '\n' && (copy[i] ^ 0x20) != '\n') {
		copy[i] ^= 0x20;
		if (verify(copy, size, sink) == 0)
			abort();
	}
	free(copy);
	return 0;
}
