/* atomic.h - files that matter are replaced atomically: write a temporary in
 * the same directory, fsync it, rename it over the target, fsync the
 * directory. A crash at any point leaves the old file or the new one. */
#ifndef PED_ATOMIC_H
#define PED_ATOMIC_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with len bytes of data, created with the given mode. */
int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* Reads a whole file of at most max bytes into a malloc'd buffer (*data,
 * wiped and freed by the caller); PED_E_TOO_LONG if larger. */
int atomic_read_file(const char *path, size_t max, void **data, size_t *len);

#endif
