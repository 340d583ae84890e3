/* trail.c - pedserver's records in the ceremony audit trail (common/audit.h):
 * one function per kind of event, so that the daemon's code hooks each with
 * one line. Identities, counts, key serials and results only: never a share,
 * a secret or the RPV (a result's share data is not read here). */
#include "pedserver/pedserver.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/audit.h"
#include "common/err.h"
#include "usbped/link.h"

void trail_session_open(const char *peer, const char *client, const char *hsm, bool password,
			const char *ped_firmware)
{
	audit_event("session_open", "peer:s client:s hsm:s mode:s ped:s", peer, client, hsm,
		    password ? "one-time password" : "orange key", ped_firmware);
}

void trail_session_close(const char *peer, const char *hsm, int code, time_t t_open)
{
	if (t_open == 0)
		audit_event("handshake_failed", "peer:s hsm:s result:s", peer, hsm,
			    ped_errname(code));
	else
		audit_event("session_close", "peer:s hsm:s result:s seconds:l", peer, hsm,
			    ped_errname(code), (long long)(time(NULL) - t_open));
}

/* The role a PED operation is for, as its title on the PED says it (the
 * title is the HSM's, e.g. "SO LOGIN...", "SETTING CO PIN...", "SETTING
 * RPV..."): the first word that names a role, or NULL. pedserver cannot know
 * more: the link carries the key's colour and this title. */
const char *trail_role(const char *title)
{
	static const char *const roles[] = {"SO", "PO", "CO", "CU", "AU", "LCO", "RPV",
					    "DOMAIN"};
	static char out[16];
	const char *w = title;
	bool par = false;

	while (*w != '\0') {
		size_t n = strcspn(w, " .");

		for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
			if (n == strlen(roles[i]) && strncmp(w, roles[i], n) == 0) {
				snprintf(out, sizeof(out), "%s%s",
					 par && i == sizeof(roles) / sizeof(roles[0]) - 1 ? "P" : "",
					 roles[i]);
				return out;
			}
		par = n == 3 && strncmp(w, "PAR", 3) == 0;
		w += n;
		w += strspn(w, " .");
	}
	return NULL;
}

void trail_ped_request(const char *peer, const char *hsm, uint8_t type, uint8_t key_type,
		       const char *title)
{
	audit_event("ped_request", "peer:s hsm:s kind:s key:s role:s title:s", peer, hsm,
		    link_type_name(type), key_type != 0 ? link_key_type_name(key_type) : NULL,
		    trail_role(title), title);
}

void trail_ped_result(const char *peer, const char *hsm, const pedhost_result_t *res,
		      const char *role)
{
	char ks[2 * LINK_KEYSET_ID_LEN + 1], serials[PEDHOST_MAX_KEYS * 40] = "";
	size_t o = 0;
	bool keys = res->op == LINK_READ_KEYSET || res->op == LINK_READ_RPK ||
		    res->op == LINK_CREATE_KEYSET;

	for (size_t i = 0; i < LINK_KEYSET_ID_LEN; i++)
		snprintf(ks + 2 * i, 3, "%02x", res->keyset[i]);
	for (size_t i = 0; keys && i < res->count && i < PEDHOST_MAX_KEYS && o < sizeof(serials); i++)
		o += (size_t)snprintf(serials + o, sizeof(serials) - o, "%s%.32s", i ? "," : "",
				      res->shares[i].serial);
	if (keys && res->status == 0)
		audit_event("ped_op", "peer:s hsm:s kind:s role:s keyset:s m:u n:u keys_read:s "
			    "keys_written:u result:s", peer, hsm, link_type_name(res->op), role, ks,
			    (unsigned)res->m, (unsigned)res->n, serials, (unsigned)res->keys_written,
			    ped_errname(res->status));
	else
		audit_event("ped_op", "peer:s hsm:s kind:s role:s result:s", peer, hsm,
			    link_type_name(res->op), role, ped_errname(res->status));
}

void trail_key_written(const char *peer, const char *hsm, const pedhost_event_t *ev)
{
	audit_event("ped_key_written", "peer:s hsm:s serial:s k:u n:u", peer, hsm, ev->serial,
		    (unsigned)ev->k, (unsigned)ev->n);
}
