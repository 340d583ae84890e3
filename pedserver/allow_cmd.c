/* allow_cmd.c - managing the HSM allowlist (allow.h) from the command line:
 *   pedserver -hsm add -fingerprint FP -serial S [-name N]
 *   pedserver -hsm list
 *   pedserver -hsm delete -fingerprint FP | -serial S
 * (with or without -mode hsm). While the daemon runs, the change goes to it
 * over the admin channel (verb "hsm", allow_admin.c), so that it takes effect at once and
 * the daemon stays the audit trail's only writer; when it does not run, the
 * CLI edits the file and writes the audit record itself. */
#include "pedserver/pedserver.h"
#include "pedserver/allow.h"

#include <stdio.h>
#include <string.h>

#include "common/audit.h"
#include "common/err.h"
#include "common/hex.h"

enum { V_ADD, V_LIST, V_DELETE };

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

static int fail(int code, const char *what)
{
	fprintf(stderr, "pedserver: error: %s %s%s%s\n", ped_errname(code), ped_strerror(code),
		what != NULL ? ": " : "", what != NULL ? what : "");
	return code == PED_E_BAD_FINGERPRINT || code == PED_E_INVAL ? PROG_EXIT_USAGE : 1;
}

/* Without a daemon: edit the file, audit the change ourselves. */
static int offline(const prog_t *p, const char *const args[])
{
	allow_t *a = NULL;
	uint8_t fp[ALLOW_FP_LEN];
	unsigned n = 0;
	int rc;

	if ((rc = allow_load(p->statedir, &a)) != 0)
		return fail(rc, ALLOW_FILE);
	if (strcmp(args[0], "list") == 0) {
		printf("HSM allowlist: %zu entr%s (pedserver is not running)\n", allow_count(a),
		       allow_count(a) == 1 ? "y" : "ies");
		for (size_t i = 0; i < allow_count(a); i++) {
			const struct allow_entry *e = allow_at(a, i);
			char t[ALLOW_FP_TEXT];

			allow_fp_text(e->fp, t);
			printf("  HSM %s%s%s%s, added %s by %s, key %s\n", e->serial,
			       e->name[0] ? " (" : "", e->name, e->name[0] ? ")" : "", e->added, e->how,
			       t);
		}
		goto out;
	}
	(void)audit_open(p->statedir, "pedserver");
	if (strcmp(args[0], "add") == 0) {
		if ((rc = allow_fp_parse(args[1], fp)) == 0 &&
		    (rc = allow_add(a, fp, args[2], args[3] != NULL ? args[3] : "", "cli")) == 0)
			printf("HSM %s added to the allowlist\n", args[2]);
	} else {
		if (strcmp(args[1], "fingerprint") == 0 && (rc = allow_fp_parse(args[2], fp)) == 0)
			rc = allow_delete(a, fp, NULL, &n);
		else if (strcmp(args[1], "serial") == 0)
			rc = allow_delete(a, NULL, args[2], &n);
		if (rc == 0)
			printf("%u entr%s deleted from the allowlist\n", n, n == 1 ? "y" : "ies");
	}
	audit_close();
	if (rc != 0)
		rc = fail(rc, NULL);
out:
	allow_free(a);
	return rc;
}

int allow_mode(void *ctx, const struct cli_result *cr)
{
	const prog_t *p = ctx;
	const struct cli_val *verb = prog_opt(p, "hsm"), *fpo = prog_opt(p, "fingerprint");
	const struct cli_val *serial = prog_opt(p, "serial"), *name = prog_opt(p, "name");
	const char *args[6] = {NULL};
	uint8_t fp[ALLOW_FP_LEN];
	char fphex[2 * ALLOW_FP_LEN + 1] = "";
	struct admin_result res;
	int rc;

	(void)cr;
	if (verb == NULL) {
		fprintf(stderr, "pedserver: -hsm: missing (add, list, delete)\n");
		return PROG_EXIT_USAGE;
	}
	/* check the words here: the admin channel takes no empty word */
	if (fpo != NULL) {
		if ((rc = allow_fp_parse(fpo->str, fp)) != 0)
			return fail(rc, "-fingerprint");
		hex_encode(fp, ALLOW_FP_LEN, fphex);
	}
	if (serial != NULL && !allow_word_ok(serial->str))
		return fail(PED_E_INVAL, "-serial: 1-32 of A-Z a-z 0-9 . _ : -");
	if (name != NULL && !allow_word_ok(name->str))
		return fail(PED_E_INVAL, "-name: 1-32 of A-Z a-z 0-9 . _ : -");
	switch (verb->num) {
	case V_ADD:
		if (fpo == NULL || serial == NULL) {
			fprintf(stderr, "pedserver: -hsm add needs -fingerprint and -serial\n");
			return PROG_EXIT_USAGE;
		}
		args[0] = "add", args[1] = fphex, args[2] = serial->str;
		args[3] = name != NULL ? name->str : NULL;
		break;
	case V_DELETE:
		if ((fpo == NULL) == (serial == NULL)) {
			fprintf(stderr, "pedserver: -hsm delete needs -fingerprint or -serial\n");
			return PROG_EXIT_USAGE;
		}
		args[0] = "delete", args[1] = fpo != NULL ? "fingerprint" : "serial";
		args[2] = fpo != NULL ? fphex : serial->str;
		break;
	default:
		args[0] = "list";
		break;
	}
	rc = admin_call(p->statedir, NULL, 0, "hsm", args, print_line, NULL, 0, &res);
	if (rc == ADMIN_NOT_RUNNING)
		return offline(p, args);
	if (rc != 0) {
		fprintf(stderr, "pedserver: error: %s%s%s\n", res.name, res.name[0] ? " " : "",
			res.message);
		return strcmp(res.name, "BAD_FINGERPRINT") == 0 || strcmp(res.name, "INVALID_ARGUMENT") == 0
			       ? PROG_EXIT_USAGE : 1;
	}
	return 0;
}
