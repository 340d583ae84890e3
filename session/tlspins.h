/* tlspins.h - the registered peer certificates of PED-initiated links
 * (pedserver: the appliances it dials; pedclient: the pedservers it admits),
 * pinned by SHA-256 fingerprint. At most TLSPINS_MAX, names unique. The
 * store is one text file, replaced atomically (0600):
 *   # remoteped registrations 1
 *   <name> <address or -> <port or 0> <fingerprint hex>
 * A malformed file is an error (PED_E_PARSE naming the line), never skipped. */
#ifndef PED_TLSPINS_H
#define PED_TLSPINS_H

#include <stddef.h>

#include "session/tlscert.h"

#define TLSPINS_MAX 20
#define TLSPINS_NAME_MAX 32
#define TLSPINS_ADDR_MAX 64

struct tlspin {
	char name[TLSPINS_NAME_MAX + 1];
	char addr[TLSPINS_ADDR_MAX + 1]; /* "-" when not dialled */
	int port;
	char fp[TLSCERT_FP_TEXT];
};

struct tlspins {
	unsigned n;
	struct tlspin e[TLSPINS_MAX];
};

/* A missing file is an empty store. err gets one line on failure. */
int tlspins_load(struct tlspins *p, const char *path, char *err, size_t errlen);
int tlspins_save(const struct tlspins *p, const char *path);
/* PED_E_INVAL (bad name/address/port), PED_E_REG_DUP, PED_E_REG_FULL. */
int tlspins_add(struct tlspins *p, const struct tlspin *e);
int tlspins_del(struct tlspins *p, const char *name); /* PED_E_REG_UNKNOWN */
const struct tlspin *tlspins_by_name(const struct tlspins *p, const char *name);
const struct tlspin *tlspins_by_fp(const struct tlspins *p, const char *fp);
/* 1 if name is a valid registration name: [A-Za-z0-9._-], 1-32 characters. */
int tlspins_name_ok(const char *name);



/* One change to the store at path, recorded in the audit trail (when it is
 * open) with the fingerprint: verb "register" (e filled) or "delete"
 * (e->name). msg gets one line for the operator (the fingerprint of what
 * was registered or deleted, or why not). */
int tlspins_apply(const char *path, const char *verb, const struct tlspin *e, char *msg,
		  size_t msglen);
#endif
