/* tlspins.c - registered peer certificates (see tlspins.h). */
#include "session/tlspins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic.h"
#include "common/audit.h"
#include "common/err.h"

#define HEADER "# remoteped registrations 1"
#define FILE_MAX (TLSPINS_MAX * 256 + 256)

int tlspins_name_ok(const char *name)
{
	size_t i, n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > TLSPINS_NAME_MAX || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || strchr("._-", name[i]) != NULL))
			return 0;
	return 1;
}

static int addr_ok(const char *a)
{
	size_t i, n = strlen(a);

	if (n == 0 || n > TLSPINS_ADDR_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (a[i] <= ' ' || a[i] > '~')
			return 0;
	return 1;
}

static int fp_ok(const char *fp)
{
	size_t i;

	if (strlen(fp) != TLSCERT_FP_HEX)
		return 0;
	for (i = 0; i < TLSCERT_FP_HEX; i++)
		if (!((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a' && fp[i] <= 'f')))
			return 0;
	return 1;
}

const struct tlspin *tlspins_by_name(const struct tlspins *p, const char *name)
{
	unsigned i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->e[i].name, name) == 0)
			return &p->e[i];
	return NULL;
}

const struct tlspin *tlspins_by_fp(const struct tlspins *p, const char *fp)
{
	unsigned i;

	for (i = 0; fp != NULL && i < p->n; i++)
		if (strcmp(p->e[i].fp, fp) == 0)
			return &p->e[i];
	return NULL;
}

int tlspins_add(struct tlspins *p, const struct tlspin *e)
{
	if (!tlspins_name_ok(e->name) || !addr_ok(e->addr) || e->port < 0 || e->port > 65535 ||
	    !fp_ok(e->fp))
		return PED_E_INVAL;
	if (tlspins_by_name(p, e->name) != NULL)
		return PED_E_REG_DUP;
	if (p->n >= TLSPINS_MAX)
		return PED_E_REG_FULL;
	p->e[p->n++] = *e;
	return 0;
}

int tlspins_del(struct tlspins *p, const char *name)
{
	unsigned i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->e[i].name, name) == 0) {
			memmove(&p->e[i], &p->e[i + 1], (p->n - i - 1) * sizeof(p->e[0]));
			p->n--;
			memset(&p->e[p->n], 0, sizeof(p->e[0]));
			return 0;
		}
	return PED_E_REG_UNKNOWN;
}

int tlspins_load(struct tlspins *p, const char *path, char *err, size_t errlen)
{
	char *data = NULL, *line, *nl;
	size_t len = 0;
	unsigned lineno = 0;
	struct tlspin e;
	int r, port;
	char name[64], addr[128], fp[80], extra[2];

	memset(p, 0, sizeof(*p));
	err[0] = '\0';
	r = atomic_read_file(path, FILE_MAX, (void **)&data, &len);
	if (r == PED_E_NOT_FOUND)
		return 0;
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", path, ped_strerror(r));
		return r;
	}
	r = PED_E_PARSE;
	if (memchr(data, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: not a text file", path);
		goto out;
	}
	{
		char *t = realloc(data, len + 1);
		if (t == NULL) {
			r = PED_E_NOMEM;
			goto out;
		}
		data = t;
		data[len] = '\0';
	}
	for (line = data; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		memset(&e, 0, sizeof(e));
		if (sscanf(line, "%63s %127s %d %79s %1s", name, addr, &port, fp, extra) != 4 ||
		    strlen(name) > TLSPINS_NAME_MAX || strlen(addr) > TLSPINS_ADDR_MAX ||
		    strlen(fp) > TLSCERT_FP_HEX) {
			snprintf(err, errlen, "%s:%u: malformed registration", path, lineno);
			goto out;
		}
		snprintf(e.name, sizeof(e.name), "%s", name);
		snprintf(e.addr, sizeof(e.addr), "%s", addr);
		snprintf(e.fp, sizeof(e.fp), "%s", fp);
		e.port = port;
		if ((r = tlspins_add(p, &e)) != 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, ped_strerror(r));
			r = PED_E_PARSE;
			goto out;
		}
		r = PED_E_PARSE;
	}
	r = 0;
out:
	free(data);
	if (r != 0)
		memset(p, 0, sizeof(*p));
	return r;
}

int tlspins_save(const struct tlspins *p, const char *path)
{
	char buf[FILE_MAX];
	size_t off;
	unsigned i;

	off = (size_t)snprintf(buf, sizeof(buf), "%s\n", HEADER);
	for (i = 0; i < p->n && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s %s %d %s\n", p->e[i].name,
					p->e[i].addr, p->e[i].port, p->e[i].fp);
	if (off >= sizeof(buf))
		return PED_E_NOSPACE;
	return atomic_write_file(path, buf, off, 0600);
}

int tlspins_apply(const char *path, const char *verb, const struct tlspin *e, char *msg,
		  size_t msglen)
{
	struct tlspins *p = malloc(sizeof(*p));
	const struct tlspin *old;
	char fp[TLSCERT_FP_TEXT] = "";
	int r = PED_E_NOMEM;

	if (p == NULL) {
		snprintf(msg, msglen, "%s", ped_strerror(r));
		return r;
	}
	if ((r = tlspins_load(p, path, msg, msglen)) != 0)
		goto out;
	if (strcmp(verb, "register") == 0) {
		if ((r = tlspins_add(p, e)) != 0) {
			snprintf(msg, msglen, "cannot register %s: %s (%s)", e->name, ped_strerror(r),
				 ped_errname(r));
			goto out;
		}
		snprintf(fp, sizeof(fp), "%s", e->fp);
	} else if (strcmp(verb, "delete") == 0) {
		if ((old = tlspins_by_name(p, e->name)) != NULL)
			snprintf(fp, sizeof(fp), "%s", old->fp);
		if ((r = tlspins_del(p, e->name)) != 0) {
			snprintf(msg, msglen, "cannot delete %s: %s (%s)", e->name, ped_strerror(r),
				 ped_errname(r));
			goto out;
		}
	} else {
		r = PED_E_INVAL;
		snprintf(msg, msglen, "unknown verb %s", verb);
		goto out;
	}
	if ((r = tlspins_save(p, path)) != 0) {
		snprintf(msg, msglen, "cannot write %s: %s", path, ped_strerror(r));
		goto out;
	}
	audit_event(strcmp(verb, "register") == 0 ? "cert_registered" : "cert_deleted",
		    "name:s address:s port:d fingerprint:s", e->name,
		    strcmp(verb, "register") == 0 ? e->addr : NULL, e->port, fp);
	snprintf(msg, msglen, "%s %s (fingerprint %s)",
		 strcmp(verb, "register") == 0 ? "registered" : "deleted", e->name, fp);
	r = 0;
out:
	free(p);
	return r;
}
