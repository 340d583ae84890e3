/* atomic_test.c - unit tests for atomic file replacement (common/atomic.h):
 * round trips and bounds, a crash (SIGKILL) at each step of the writer, and
 * writers killed at random moments. After any crash the target holds the old
 * bytes or the new ones, exactly. A crash before the rename may leave a
 * temporary named ".<name>.tmp-<pid>-<n>" beside the target; the next
 * successful write of that target removes it (common/atomic_int.h). */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "common/atomic.h"
#include "common/atomic_int.h"
#include "common/err.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/atomic_test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/target", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Temporaries of the target in dir; if pid > 0, only those of that process. */
static int count_temps(long pid)
{
	char prefix[64];
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	if (pid > 0)
		snprintf(prefix, sizeof(prefix), ".target%s%ld-", ATOMIC_TMP_TAG, pid);
	else
		snprintf(prefix, sizeof(prefix), ".target%s", ATOMIC_TMP_TAG);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
		else if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
			 strcmp(e->d_name, "target") != 0)
			fail_msg("unexpected file %s", e->d_name);
	}
	closedir(d);
	return n;
}

static void assert_file(const char *p, const uint8_t *want, size_t n)
{
	void *data = NULL;
	size_t len = 0;

	assert_int_equal(atomic_read_file(p, 1u << 20, &data, &len), 0);
	assert_int_equal(len, n);
	if (n > 0)
		assert_memory_equal(data, want, n);
	free(data);
}

/* 0 if the file holds a, 1 if it holds b; fails otherwise. */
static int which(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	void *data = NULL;
	size_t len = 0;
	int r = -1;

	assert_int_equal(atomic_read_file(path, 1u << 20, &data, &len), 0);
	if (len == alen && memcmp(data, a, alen) == 0)
		r = 0;
	else if (len == blen && memcmp(data, b, blen) == 0)
		r = 1;
	free(data);
	if (r < 0)
		fail_msg("target holds %zu bytes that are neither old nor new", len);
	return r;
}

static void test_round_trip(void **state)
{
	(void)state;
	static const char msg[] = "hello, PED";
	struct stat st;
	void *data = (void *)1;
	size_t len = 9;
	char p[160];

	assert_int_equal(atomic_write_file(path, msg, sizeof(msg), 0640), 0);
	assert_file(path, (const uint8_t *)msg, sizeof(msg));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* bounded: exactly max is fine, one more is too long */
	assert_int_equal(atomic_read_file(path, sizeof(msg), &data, &len), 0);
	free(data);
	assert_int_equal(atomic_read_file(path, sizeof(msg) - 1, &data, &len), PED_E_TOO_LONG);
	assert_null(data);
	assert_int_equal(len, 0);
	/* replace with an empty file */
	assert_int_equal(atomic_write_file(path, NULL, 0, 0600), 0);
	assert_file(path, NULL, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_temps(0), 0);

	/* failures: no directory, a directory as target, a missing file */
	snprintf(p, sizeof(p), "%s/nodir/x", dir);
	assert_int_equal(atomic_write_file(p, msg, sizeof(msg), 0600), PED_E_IO);
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub/d", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(atomic_write_file(p, msg, sizeof(msg), 0600), PED_E_IO);
	assert_int_equal(rmdir(p), 0);
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(rmdir(p), 0); /* empty: no temporary was left */
	assert_int_equal(atomic_read_file(p, 10, &data, &len), PED_E_NOT_FOUND);
	assert_int_equal(atomic_read_file(dir, 10, &data, &len), PED_E_IO);
	assert_int_equal(atomic_write_file(NULL, msg, 1, 0600), PED_E_INVAL);
	assert_int_equal(atomic_write_file(path, NULL, 1, 0600), PED_E_INVAL);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 31 + (i >> 8));
}

/* A crash at each step: before the rename the old file survives (and a
 * recognisable temporary may remain), from the rename on the new one. */
static void test_crash_steps(void **state)
{
	(void)state;
	enum { OLD_LEN = 1000, NEW_LEN = 3001 };
	static uint8_t old[OLD_LEN], neu[NEW_LEN];
	int k, status;
	pid_t pid;

	fill(old, sizeof(old), 1);
	fill(neu, sizeof(neu), 2);
	for (k = 0; k < ATOMIC_CRASH_STEPS; k++) {
		assert_int_equal(atomic_write_file(path, old, sizeof(old), 0600), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			atomic_crash_step = k;
			(void)atomic_write_file(path, neu, sizeof(neu), 0600);
			_exit(42); /* the hook did not fire */
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		if (k < ATOMIC_CRASH_RENAMED) {
			assert_file(path, old, sizeof(old));
			assert_int_equal(count_temps(pid), 1);
		} else {
			assert_file(path, neu, sizeof(neu));
			assert_int_equal(count_temps(0), 0);
		}
		/* the next successful write clears what the dead writer left */
		assert_int_equal(atomic_write_file(path, old, sizeof(old), 0600), 0);
		assert_int_equal(count_temps(0), 0);
		assert_file(path, old, sizeof(old));
	}
}

/* Writers killed at random moments while rewriting a 256 KiB file in a loop
 * (alternating two contents): the survivor is one of them, byte for byte. */
static void test_random_kills(void **state)
{
	(void)state;
	enum { LEN = 256 * 1024, ITER = 50 };
	uint8_t *a = malloc(LEN), *b = malloc(LEN);
	unsigned seen[2] = {0, 0};
	uint16_t rnd;
	int i, status;
	pid_t pid;

	assert_non_null(a);
	assert_non_null(b);
	fill(a, LEN, 3);
	fill(b, LEN, 4);
	for (i = 0; i < ITER; i++) {
		assert_int_equal(atomic_write_file(path, a, LEN, 0600), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			for (unsigned n = 0;; n++)
				(void)atomic_write_file(path, n & 1 ? a : b, LEN, 0600);
		}
		assert_int_equal(RAND_bytes((uint8_t *)&rnd, sizeof(rnd)), 1);
		struct timespec ts = {0, (long)(100 + rnd % 800) * 1000};
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		seen[which(a, LEN, b, LEN)]++;
	}
	print_message("survivors: %u old, %u new\n", seen[0], seen[1]);
	assert_int_equal(atomic_write_file(path, a, LEN, 0600), 0);
	assert_int_equal(count_temps(0), 0);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_crash_steps),
		cmocka_unit_test(test_random_kills),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
