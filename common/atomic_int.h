/* atomic_int.h - test hook of common/atomic.c; not API.
 *
 * atomic_crash_step selects a point at which atomic_write_file kills its own
 * process with SIGKILL, so that tests can prove a crash anywhere leaves the
 * old file or the new one. -1 (the default) disables the hook. The hook is
 * compiled in always: it costs one comparison per step. */
#ifndef PED_ATOMIC_INT_H
#define PED_ATOMIC_INT_H

enum atomic_crash {
	ATOMIC_CRASH_CREATED = 0,   /* temporary created, nothing written */
	ATOMIC_CRASH_HALF = 1,      /* half of the data written */
	ATOMIC_CRASH_WRITTEN = 2,   /* all data written, not synced */
	ATOMIC_CRASH_SYNCED = 3,    /* temporary fsync'ed, not renamed */
	ATOMIC_CRASH_RENAMED = 4,   /* renamed over the target */
	ATOMIC_CRASH_DIR_SYNCED = 5, /* directory fsync'ed */
	ATOMIC_CRASH_STEPS = 6
};

extern int atomic_crash_step;

/* Temporary files are named "<dir>/.<base>.tmp-<pid>-<n>" (ATOMIC_TMP_TAG
 * after the base name); a successful write removes the temporaries of the
 * same target left by processes that no longer exist. */
#define ATOMIC_TMP_TAG ".tmp-"

#endif
