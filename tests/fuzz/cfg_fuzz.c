/* cfg_fuzz.c - libFuzzer target for config files (common/cfg.h): arbitrary
 * bytes are parsed in memory as a config file; when they parse, cfg_set_mem
 * rewrites them, and the rewrite must succeed (its own read-back check
 * fails only if our line classification disagrees with inih's). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/err.h"

#define FUZZ_CFG(X)                                                              \
	X(Server, Port, INT, 1503, 1, 65535, "server TCP port")                  \
	X(Server, IdleTimeout, INT, 1800, 0, 86400, "idle timeout in seconds")    \
	X(Server, LogFileName, PATH, "", 0, 0, "log file")                       \
	X(Server, PedWriteLay, INT, 0, 0, 10000, "PED write delay")              \
	X(Server, Ped, STRING, "", 0, 0, "PED device")                           \
	X(Server, ExternalServer, BOOL, 0, 0, 1, "listen on all addresses")      \
	X(Log, LogLevel, INT, 2, 0, 3, "log level")

CFG_STRUCT(fuzz_cfg, FUZZ_CFG);
CFG_TABLE(fuzz_table, struct fuzz_cfg, FUZZ_CFG)

static void quiet(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

static int visit(void *ctx, const struct cfg_key *k, const char *value, bool is_default)
{
	size_t *n = ctx;
	*n += strlen(k->name) + strlen(value) + is_default;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cfg c;
	char err[CFG_ERR_MAX], port[8], *out = NULL;
	size_t outlen = 0, n = 0;
	struct cfg_assign a[3];
	int r;

	r = cfg_parse_mem(&fuzz_table, &c, "fuzz.conf", (const char *)data, size, quiet, NULL,
			  err, sizeof(err));
	if (r != 0)
		return 0;
	cfg_foreach(&fuzz_table, &c, visit, &n);
	snprintf(port, sizeof(port), "%u", 1u + (size > 0 ? data[0] : 0u));
	a[0] = (struct cfg_assign){"port", port};
	a[1] = (struct cfg_assign){"Ped", "usb:1234:5678"};
	a[2] = (struct cfg_assign){"LogLevel", "3"};
	r = cfg_set_mem(&fuzz_table, "fuzz.conf", (const char *)data, size, a, 3, quiet, NULL,
			&out, &outlen, err, sizeof(err));
	/* Only growth past the size limit may stop a rewrite of a valid file. */
	if (r != 0 && r != PED_E_TOO_LONG)
		abort();
	free(out);
	return 0;
}
