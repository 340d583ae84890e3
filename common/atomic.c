/* atomic.c - atomic replacement and bounded reading of small files (see
 * atomic.h). The temporary lives in the target's directory, so rename(2) is
 * atomic; the data is fsync'ed before the rename and the directory after it,
 * so after a crash the target holds the old bytes or the new ones, never a
 * mix. Temporaries are named "<dir>/.<base>.tmp-<pid>-<n>" (atomic_int.h):
 * a crash may leave one behind, and the next successful write of the same
 * target removes those whose process no longer exists. What differs on
 * Windows (creation, fsync, the replacing move) is in sys.h. */
#include "atomic.h"
#include "atomic_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "sys.h"

int atomic_crash_step = -1;

static atomic_uint tmp_counter;

static void crash_point(int step)
{
	if (atomic_crash_step == step)
		sys_die_now();
}

/* Splits path into its directory (dir, "." when none) and base name. */
static int split_path(const char *path, char *dir, size_t dircap, const char **base)
{
	const char *slash = sys_last_sep(path);
	size_t dlen;

	if (slash == NULL) {
		*base = path;
		if (dircap < 2)
			return PED_E_TOO_LONG;
		memcpy(dir, ".", 2);
		return 0;
	}
	*base = slash + 1;
	dlen = (size_t)(slash - path);
	if (dlen == 0)
		dlen = 1; /* "/name": the root directory */
	if (dlen >= dircap)
		return PED_E_TOO_LONG;
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return PED_E_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Parses "<pid>-<digits>" (the part after the tag); 0 on a match. */
static int parse_tmp_suffix(const char *s, long *pid)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || v <= 0 || *end != '-' || end[1] == '\0')
		return -1;
	for (end++; *end != '\0'; end++)
		if (*end < '0' || *end > '9')
			return -1;
	*pid = v;
	return 0;
}

/* Removes temporaries of base left by processes that no longer exist.
 * Best effort: a failure here never fails the write. */
static void remove_stale(const char *dir, const char *base)
{
	char prefix[PATH_MAX], stale[PATH_MAX];
	size_t plen;
	DIR *d = NULL;
	struct dirent *e;
	long pid;

	if (snprintf(prefix, sizeof(prefix), ".%s%s", base, ATOMIC_TMP_TAG) >=
	    (int)sizeof(prefix))
		return;
	plen = strlen(prefix);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, plen) != 0 ||
		    parse_tmp_suffix(e->d_name + plen, &pid) != 0 || pid == sys_pid())
			continue;
		if (!sys_pid_alive(pid) &&
		    snprintf(stale, sizeof(stale), "%s/%s", dir, e->d_name) < (int)sizeof(stale))
			(void)unlink(stale);
	}
	closedir(d);
}

int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *base;
	const uint8_t *p = data;
	size_t half = len / 2;
	int fd = -1, tmp_made = 0, i;
	int r = PED_E_INVAL;

	if (path == NULL || (data == NULL && len > 0))
		goto out;
	if ((r = split_path(path, dir, sizeof(dir), &base)) != 0)
		goto out;
	r = PED_E_INVAL;
	if (base[0] == '\0')
		goto out;
	r = PED_E_IO;
	for (i = 0; i < 100 && fd < 0; i++) {
		unsigned n = atomic_fetch_add(&tmp_counter, 1);
		if (snprintf(tmp, sizeof(tmp), "%s/.%s%s%ld-%u", dir, base, ATOMIC_TMP_TAG,
			     sys_pid(), n) >= (int)sizeof(tmp)) {
			r = PED_E_TOO_LONG;
			goto out;
		}
		fd = sys_create_excl(tmp, (unsigned)mode);
		if (fd < 0 && errno != EEXIST && errno != EINTR)
			goto out;
	}
	if (fd < 0)
		goto out;
	tmp_made = 1;
	crash_point(ATOMIC_CRASH_CREATED);
	if (write_all(fd, p, half) != 0)
		goto out;
	crash_point(ATOMIC_CRASH_HALF);
	if (write_all(fd, p + half, len - half) != 0)
		goto out;
	crash_point(ATOMIC_CRASH_WRITTEN);
	if (sys_fsync(fd) != 0)
		goto out;
	crash_point(ATOMIC_CRASH_SYNCED);
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (sys_replace(tmp, path, dir) != 0) {
		tmp_made = access(tmp, F_OK) == 0;
		goto out;
	}
	tmp_made = 0;
	crash_point(ATOMIC_CRASH_RENAMED); /* sys_replace synced the directory too */
	crash_point(ATOMIC_CRASH_DIR_SYNCED);
	remove_stale(dir, base);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		(void)unlink(tmp);
	return r;
}

int atomic_read_file(const char *path, size_t max, void **data, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL, *nb;
	size_t cap, n = 0, ncap;
	ssize_t got;
	int fd = -1;
	int r = PED_E_INVAL;

	if (data != NULL)
		*data = NULL;
	if (len != NULL)
		*len = 0;
	if (path == NULL || data == NULL || len == NULL || max >= SIZE_MAX / 2)
		goto out;
	fd = sys_open_read(path);
	if (fd < 0) {
		r = errno == ENOENT ? PED_E_NOT_FOUND : PED_E_IO;
		goto out;
	}
	r = PED_E_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	r = PED_E_TOO_LONG;
	if (st.st_size < 0 || (uintmax_t)st.st_size > max)
		goto out;
	/* one byte more than expected, to see a file that grew meanwhile */
	cap = (size_t)st.st_size + 1;
	r = PED_E_NOMEM;
	if ((buf = malloc(cap)) == NULL)
		goto out;
	for (;;) {
		if (n == cap) {
			r = PED_E_TOO_LONG;
			if (cap > max)
				goto out;
			ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			r = PED_E_NOMEM;
			if ((nb = malloc(ncap)) == NULL)
				goto out;
			memcpy(nb, buf, n);
			OPENSSL_cleanse(buf, cap);
			free(buf);
			buf = nb;
			cap = ncap;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		r = PED_E_IO;
		if (got < 0)
			goto out;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	r = PED_E_TOO_LONG;
	if (n > max)
		goto out;
	*data = buf;
	*len = n;
	buf = NULL;
	r = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return r;
}
