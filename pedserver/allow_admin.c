/* allow_admin.c - the daemon's side of the HSM allowlist's management:
 * the admin verb "hsm" (allow_cmd.c sends it), answered from and applied to
 * the running server's list (server_allow), so a change takes effect at
 * once; and the entries' lines for show. */
#include "pedserver/pedserver.h"
#include "pedserver/allow.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

void allow_list_lines(const allow_t *a, admin_reply_t *r, const char *indent)
{
	char fp[ALLOW_FP_TEXT];

	for (size_t i = 0; i < allow_count(a); i++) {
		const struct allow_entry *e = allow_at(a, i);

		allow_fp_text(e->fp, fp);
		admin_reply_line(r, "%sHSM %s%s%s%s, added %s by %s, key %s", indent, e->serial,
				 e->name[0] ? " (" : "", e->name, e->name[0] ? ")" : "", e->added,
				 e->how, fp);
	}
}

/* The admin verb: hsm list | hsm add FP SERIAL [NAME] | hsm delete
 * fingerprint FP | hsm delete serial S. */
void allow_admin(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	const struct pedserver *ps = ctx;
	allow_t *a = server_allow(ps->server);
	uint8_t fp[ALLOW_FP_LEN];
	unsigned n = 0;
	int rc = PED_E_BAD_REQUEST;

	if (a == NULL) {
		rc = PED_E_INTERNAL;
	} else if (argc == 2 && strcmp(argv[1], "list") == 0) {
		admin_reply_line(r, "HSM allowlist: %zu entr%s, policy %s", allow_count(a),
				 allow_count(a) == 1 ? "y" : "ies",
				 allow_policy_name(server_policy(ps->server)));
		allow_list_lines(a, r, "  ");
		rc = 0;
	} else if ((argc == 4 || argc == 5) && strcmp(argv[1], "add") == 0) {
		if ((rc = allow_fp_parse(argv[2], fp)) == 0 &&
		    (rc = allow_add(a, fp, argv[3], argc == 5 ? argv[4] : "", "cli")) == 0)
			admin_reply_line(r, "HSM %s added to the allowlist", argv[3]);
	} else if (argc == 4 && strcmp(argv[1], "delete") == 0) {
		if (strcmp(argv[2], "fingerprint") == 0 && (rc = allow_fp_parse(argv[3], fp)) == 0)
			rc = allow_delete(a, fp, NULL, &n);
		else if (strcmp(argv[2], "serial") == 0)
			rc = allow_delete(a, NULL, argv[3], &n);
		if (rc == 0)
			admin_reply_line(r, "%u entr%s deleted from the allowlist", n,
					 n == 1 ? "y" : "ies");
	}
	admin_reply_end(r, rc);
}
