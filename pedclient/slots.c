/* slots.c - the software-HSM slots of pedclient (see slots.h). */
#include "slots.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

int slots_path(const char *dir, unsigned idx, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/slot%u.hsm", dir, idx);

	return n < 0 || (size_t)n >= outlen ? PED_E_TOO_LONG : 0;
}

void slots_refresh(struct slots *s, unsigned idx)
{
	struct hsm_info info;

	s->serial[idx][0] = '\0';
	if (idx < s->n && s->hsm[idx] != NULL && hsm_info(s->hsm[idx], &info) == 0)
		snprintf(s->serial[idx], sizeof(s->serial[idx]), "%llu",
			 (unsigned long long)info.serial);
}

int slots_open(struct slots *s, const char *dir, unsigned n, char *err, size_t errlen)
{
	char path[4096];
	unsigned i;
	int r;

	memset(s, 0, sizeof(*s));
	if (n < 1 || n > SLOTS_MAX) {
		snprintf(err, errlen, "slots: %u is out of range (1-%d)", n, SLOTS_MAX);
		return PED_E_RANGE;
	}
	for (i = 0; i < n; i++) {
		if ((r = slots_path(dir, i, path, sizeof(path))) != 0) {
			snprintf(err, errlen, "slot %u: state dir path too long", i);
			goto fail;
		}
		if ((r = hsm_open(path, 1, &s->hsm[i])) != 0) {
			snprintf(err, errlen, "%s: cannot open the HSM of slot %u: %s (%s)", path, i,
				 ped_errname(r), ped_strerror(r));
			goto fail;
		}
		s->n = i + 1;
		slots_refresh(s, i);
		/* the first ped connect's ephemeral and Zs; on failure the
		 * handshake makes its own */
		(void)hsm_chan_prepare(s->hsm[i]);
	}
	return 0;
fail:
	slots_close(s);
	return r;
}

void slots_close(struct slots *s)
{
	unsigned i;

	for (i = 0; i < SLOTS_MAX; i++) {
		hsm_close(s->hsm[i]);
		s->hsm[i] = NULL;
	}
	s->n = 0;
}
