/* memfile.h - for unit tests: a FILE * whose whole text is read back once
 * the code under test is done with it. open_memstream(3) is not on every
 * system (Windows), so this is a binary temporary file in a private
 * directory (sys_mkdtemp under $TMP, $TMPDIR or /tmp), removed when read. */
#ifndef PED_TEST_MEMFILE_H
#define PED_TEST_MEMFILE_H

#include <stdio.h>
#include <stdlib.h>

#include "common/sys.h"

static char memfile_dir[512];

static FILE *memfile_open(void)
{
	const char *tmp = getenv("TMP") != NULL ? getenv("TMP")
			  : getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	char path[600];

	snprintf(memfile_dir, sizeof(memfile_dir), "%s/memfile.XXXXXX", tmp);
	if (sys_mkdtemp(memfile_dir) == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/out", memfile_dir);
	return fopen(path, "w+b");
}

/* Closes f and returns everything written to it (malloc'd, NUL-terminated;
 * its length in *len unless len is NULL), or NULL. */
static char *memfile_text(FILE *f, size_t *len)
{
	char *t = NULL;
	long n;

	if (fflush(f) == 0 && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (t = malloc((size_t)n + 1)) != NULL) {
		if (fread(t, 1, (size_t)n, f) != (size_t)n) {
			free(t);
			t = NULL;
		} else {
			t[n] = '\0';
			if (len != NULL)
				*len = (size_t)n;
		}
	}
	fclose(f);
	sys_remove_tree(memfile_dir);
	return t;
}

#endif
