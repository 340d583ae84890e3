/* tlscli.c - certificate commands of PED-initiated mode (see tlscli.h). */
#include "session/tlscli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/audit.h"
#include "common/cli.h"
#include "common/err.h"
#include "common/prog.h"
#include "common/sys.h"
#include "session/tlscert.h"
#include "session/tlspins.h"

enum { O_REGEN, O_CN, O_CURVE, O_FORCE, O_VERB, O_NAME, O_CERT, O_IP, O_PORT, O_STATEDIR,
       O_COUNT };

static const char *const verbs[] = {"register", "list", "delete", NULL};
static const char *const curves[] = {"521", "256", NULL};

static void build_spec(const struct tlscli_desc *d, struct cli_opt *o, struct cli_spec *s)
{
	o[O_REGEN] = (struct cli_opt){.name = "regen", .type = CLI_FLAG,
				      .help = "make this host's TLS key and self-signed certificate"};
	o[O_CN] = (struct cli_opt){.name = "commonname", .type = CLI_STRING, .max = 64,
				   .metavar = "<name>", .help = "the certificate's subject CN (-regen)"};
	o[O_CURVE] = (struct cli_opt){.name = "curve", .type = CLI_ENUM, .words = curves,
				      .def = "521", .help = "ECDSA curve of -regen: P-521 or P-256"};
	o[O_FORCE] = (struct cli_opt){.name = "force", .type = CLI_FLAG,
				      .help = "-regen: replace an existing key and certificate"};
	o[O_VERB] = (struct cli_opt){.name = d->verb, .type = CLI_ENUM, .words = verbs,
				     .help = "register, list or delete a peer certificate"};
	o[O_NAME] = (struct cli_opt){.name = "name", .type = CLI_STRING, .max = TLSPINS_NAME_MAX,
				     .metavar = "<name>", .help = "the registration's name"};
	o[O_CERT] = (struct cli_opt){.name = "certificate", .type = CLI_PATH, .metavar = "<file>",
				     .help = "the peer's certificate file (PEM)"};
	o[O_IP] = (struct cli_opt){.name = "ip", .type = CLI_STRING, .max = TLSPINS_ADDR_MAX,
				   .metavar = "<addr>", .help = "the appliance's address"};
	o[O_PORT] = (struct cli_opt){.name = "port", .type = CLI_INT, .min = 1, .max = 65535,
				     .def = "9697", .metavar = "<port>",
				     .help = "the appliance's port"};
	o[O_STATEDIR] = (struct cli_opt){.name = "statedir", .type = CLI_PATH, .metavar = "<dir>",
					 .help = "state dir (key, certificate, registrations)"};
	*s = (struct cli_spec){d->prog, "PED-initiated mode: certificates and registrations",
			       NULL, 0, o, O_COUNT};
}

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

/* Through the daemon, or directly when none runs. */
static int apply(const struct tlscli_desc *d, const char *dir, const char *verb,
		 const struct tlspin *e)
{
	char path[PATH_MAX + 64], msg[512], port[16];
	const char *args[5] = {e->name, NULL, NULL, NULL, NULL};
	struct admin_result res;
	int r;

	snprintf(port, sizeof(port), "%d", e->port);
	if (strcmp(verb, "register") == 0) {
		args[1] = e->addr;
		args[2] = port;
		args[3] = e->fp;
	}
	memset(&res, 0, sizeof(res));
	r = admin_call(dir, NULL, 0, strcmp(verb, "register") == 0 ? "tls-register" : "tls-delete",
		       args, print_line, NULL, 0, &res);
	if (r == 0)
		return 0;
	if (r == ADMIN_REMOTE_ERR) {
		fprintf(stderr, "%s: %s (%s)\n", d->prog, res.message, res.name);
		return 1;
	}
	if (r != ADMIN_NOT_RUNNING) {
		fprintf(stderr, "%s: cannot reach the running %s: %s\n", d->prog, d->prog,
			res.message);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, d->store);
	audit_open(dir, d->prog);
	r = tlspins_apply(path, verb, e, msg, sizeof(msg));
	audit_close();
	if (r != 0) {
		fprintf(stderr, "%s: %s\n", d->prog, msg);
		return 1;
	}
	printf("%s\n", msg);
	return 0;
}

static int list(const struct tlscli_desc *d, const char *dir)
{
	char path[PATH_MAX + 64], err[512];
	struct tlspins p;
	unsigned i;

	snprintf(path, sizeof(path), "%s/%s", dir, d->store);
	if (tlspins_load(&p, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", d->prog, err);
		return 1;
	}
	printf("%u of %u registered\n", p.n, TLSPINS_MAX);
	if (d->dials)
		printf("%-16s %-24s %-5s %s\n", "Name", "Address", "Port", "Fingerprint (SHA-256)");
	else
		printf("%-16s %s\n", "Name", "Fingerprint (SHA-256)");
	for (i = 0; i < p.n; i++) {
		if (d->dials)
			printf("%-16s %-24s %-5d %s\n", p.e[i].name, p.e[i].addr, p.e[i].port,
			       p.e[i].fp);
		else
			printf("%-16s %s\n", p.e[i].name, p.e[i].fp);
	}
	return 0;
}

static int regen(const struct tlscli_desc *d, const char *dir, const struct cli_result *r)
{
	char fp[TLSCERT_FP_TEXT];
	int rc;

	if (!r->val[O_CN].set) {
		fprintf(stderr, "%s: -regen needs -commonname <name>\n", d->prog);
		return PROG_EXIT_USAGE;
	}
	if (sys_private_dir(dir) != 0) {
		fprintf(stderr, "%s: cannot use the state dir %s\n", d->prog, dir);
		return 1;
	}
	rc = tlscert_regen(dir, r->val[O_CN].str, r->val[O_CURVE].set && r->val[O_CURVE].num == 1
				   ? 256 : 521, r->val[O_FORCE].set, fp);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot make the key and certificate: %s (%s)\n", d->prog,
			ped_strerror(rc), ped_errname(rc));
		return 1;
	}
	printf("key: %s/%s\ncertificate: %s/%s\nfingerprint (SHA-256): %s\n", dir,
	       TLSCERT_KEY_FILE, dir, TLSCERT_CRT_FILE, fp);
	return 0;
}

static bool ip_ok(const char *a)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	return uv_ip4_addr(a, 1, &s4) == 0 || uv_ip6_addr(a, 1, &s6) == 0;
}

bool tlscli_wants(const struct tlscli_desc *d, int argc, char *argv[])
{
	return prog_argv_has(argc, argv, "regen") || prog_argv_has(argc, argv, d->verb);
}

int tlscli_main(const struct tlscli_desc *d, int argc, char *argv[])
{
	struct cli_opt o[O_COUNT];
	struct cli_spec s;
	struct cli_result r;
	struct tlspin e;
	char err[CLI_ERR_MAX], dir[PATH_MAX], cn[80];
	int rc;

	build_spec(d, o, &s);
	if (cli_parse(&s, argc, argv, &r, err, sizeof(err)) != 0)
		return cli_fail(&s, err);
	if (r.help) {
		cli_usage(&s, -1, stdout);
		return 0;
	}
	if (r.val[O_STATEDIR].set)
		snprintf(dir, sizeof(dir), "%s", r.val[O_STATEDIR].str);
	else if (prog_default_statedir(dir, sizeof(dir), d->prog) != 0)
		return cli_fail(&s, "no state directory: give -statedir DIR");
	if (r.val[O_REGEN].set == r.val[O_VERB].set) {
		snprintf(err, sizeof(err), "give either -regen or -%s", d->verb);
		return cli_fail(&s, err);
	}
	if (r.val[O_REGEN].set)
		return regen(d, dir, &r);
	if (r.val[O_VERB].num == 1)
		return list(d, dir);
	memset(&e, 0, sizeof(e));
	if (!r.val[O_NAME].set) {
		snprintf(err, sizeof(err), "-%s %s needs -name <name>", d->verb,
			 verbs[r.val[O_VERB].num]);
		return cli_fail(&s, err);
	}
	if (!tlspins_name_ok(r.val[O_NAME].str))
		return cli_fail(&s, "-name: use 1-32 of A-Z a-z 0-9 . _ -");
	snprintf(e.name, sizeof(e.name), "%s", r.val[O_NAME].str);
	if (r.val[O_VERB].num == 2)
		return apply(d, dir, "delete", &e);
	if (!r.val[O_CERT].set)
		return cli_fail(&s, "register needs -certificate <file>");
	if (d->dials && !r.val[O_IP].set)
		return cli_fail(&s, "register needs -ip <address>");
	if (d->dials && !ip_ok(r.val[O_IP].str))
		return cli_fail(&s, "-ip: not an IPv4 or IPv6 address");
	if ((rc = tlscert_read(r.val[O_CERT].str, e.fp, cn, sizeof(cn))) != 0) {
		fprintf(stderr, "%s: %s: %s (%s)\n", d->prog, r.val[O_CERT].str, ped_strerror(rc),
			ped_errname(rc));
		return 1;
	}
	snprintf(e.addr, sizeof(e.addr), "%s", d->dials ? r.val[O_IP].str : "-");
	e.port = d->dials ? (r.val[O_PORT].set ? (int)r.val[O_PORT].num : TLSCLI_DEFAULT_PORT) : 0;
	printf("certificate of %s: fingerprint (SHA-256) %s\n", cn[0] != '\0' ? cn : "(no CN)", e.fp);
	return apply(d, dir, "register", &e);
}

void tlscli_admin(const struct tlscli_desc *d, const char *statedir, admin_reply_t *r, int argc,
		  char **argv)
{
	char path[PATH_MAX + 64], msg[512];
	struct tlspin e;
	bool reg = strcmp(argv[0], "tls-register") == 0;
	int rc;

	memset(&e, 0, sizeof(e));
	if (argc != (reg ? 5 : 2) || strlen(argv[1]) > TLSPINS_NAME_MAX ||
	    (reg && (strlen(argv[2]) > TLSPINS_ADDR_MAX || strlen(argv[4]) > TLSCERT_FP_HEX))) {
		admin_reply_end(r, PED_E_INVAL);
		return;
	}
	snprintf(e.name, sizeof(e.name), "%s", argv[1]);
	if (reg) {
		snprintf(e.addr, sizeof(e.addr), "%s", argv[2]);
		e.port = atoi(argv[3]);
		snprintf(e.fp, sizeof(e.fp), "%s", argv[4]);
	}
	snprintf(path, sizeof(path), "%s/%s", statedir, d->store);
	if ((rc = tlspins_apply(path, reg ? "register" : "delete", &e, msg, sizeof(msg))) != 0) {
		admin_reply_error(r, ped_errname(rc), "%s", msg);
		return;
	}
	admin_reply_line(r, "%s", msg);
	admin_reply_end(r, 0);
}
