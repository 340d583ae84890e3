/* resume.c - the PED reserved for a resuming HSM (pedserver.h "struct
 * resv"; docs/PROTOCOL.md Part 6): the resumption secret it waits for, the
 * PED operation that runs on meanwhile and its result. No I/O, no timer: the
 * server runs those. */
#include "pedserver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"

void resv_hold(struct resv *v, const struct sess_resume *st, unsigned window_s)
{
	resv_drop(v);
	v->st = *st;
	v->on = true;
	v->t_lost = time(NULL);
	v->until = v->t_lost + (time_t)window_s;
}

bool resv_match(const struct resv *v, const uint8_t rid[SESS_RID_LEN])
{
	return v->on && CRYPTO_memcmp(v->st.rid, rid, SESS_RID_LEN) == 0;
}

int resv_keep_result(struct resv *v, const pedhost_result_t *res)
{
	if (v->result == NULL && (v->result = malloc(sizeof(*v->result))) == NULL)
		return PED_E_NOMEM;
	*v->result = *res;
	return 0;
}

void resv_drop(struct resv *v)
{
	if (v->result != NULL) {
		OPENSSL_cleanse(v->result, sizeof(*v->result));
		free(v->result);
	}
	OPENSSL_cleanse(v, sizeof(*v));
}

void resv_holder_text(const struct resv *v, char *out, size_t cap)
{
	struct tm tm;
	char until[32] = "?";

	if (gmtime_r(&v->until, &tm) != NULL)
		strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, cap, "HSM %.64s at %s (link lost %ld s ago, resuming; reserved until %s UTC)",
		 v->hsm[0] ? v->hsm : "-", v->ip, (long)(time(NULL) - v->t_lost), until);
}
