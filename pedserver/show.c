/* show.c - pedserver's status report for `-mode show` (admin verb "show")
 * and `-mode show -json` ("show-json"): the facts of the reference's status
 * block (server, PED, client, ports, times), for people or as one JSON
 * object with schema_version 1. Both are built from one snapshot. */
#include "pedserver/pedserver.h"
#include "pedserver/allow.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/daemon.h"

struct snapshot {
	char host[256];
	const char *addrs;
	const pedhost_info_t *ped; /* NULL: not connected */
	const char *spec;
	int server_port, admin_port;
	bool ext_server, ext_admin;
	unsigned long up_s, idle_s, idle_timeout_s;
	unsigned idle_pct;
	const struct server_stats *st;
	bool have_client;
	struct server_client cl;
	const pedhost_status_t *pst; /* NULL: unknown */
	char rpks[PEDHOST_MAX_KEYS * 40 + 8];
};

static void snap(const struct pedserver *ps, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	if (gethostname(s->host, sizeof(s->host) - 1) != 0)
		snprintf(s->host, sizeof(s->host), "unknown");
	s->addrs = server_addresses(ps->server);
	s->ped = pedatt_info(ps->ped);
	s->spec = pedatt_spec(ps->ped);
	s->server_port = ps->cfg->Port;
	s->admin_port = admin_server_port(ps->admin);
	s->ext_server = ps->cfg->ExternalServer;
	s->ext_admin = ps->cfg->ExternalAdmin;
	s->up_s = daemon_uptime();
	s->st = server_stats(ps->server);
	s->have_client = server_client(ps->server, &s->cl);
	s->pst = pedatt_status(ps->ped);
	pedatt_refresh_status(ps->ped); /* for the next show */
	s->rpks[0] = '\0';
	for (unsigned i = 0; s->pst != NULL && i < s->pst->rpk_count && i < PEDHOST_MAX_KEYS; i++)
		snprintf(s->rpks + strlen(s->rpks), sizeof(s->rpks) - strlen(s->rpks), "%s%.32s",
			 i > 0 ? ", " : "", s->pst->rpk_serial[i]);
	/* idle: no session holds the server (past sessions' connection time,
	 * the current one's) */
	s->idle_s = s->up_s - (unsigned long)s->st->session_total_s -
		    (s->have_client && s->cl.open ? (unsigned long)s->cl.conn_s : 0);
	if (s->idle_s > s->up_s)
		s->idle_s = 0;
	s->idle_pct = s->up_s > 0 ? (unsigned)(100 * s->idle_s / s->up_s) : 100;
	s->idle_timeout_s = (unsigned long)ps->cfg->IdleTimeout;
}

static const char *yes_no(bool b)
{
	return b ? "Yes" : "No";
}

/* "  Label:                    value": the reference's column (label and
 * value as in its status block; labels longer than the column get one
 * space). */
PED_PRINTF(3, 4) static void item(admin_reply_t *r, const char *label,
							const char *fmt, ...)
{
	char v[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	admin_reply_line(r, "  %-26s %s", label, v);
}

/* The reference's status block, its labels in its order, then ours under
 * "Additional Information:" (docs/pedserver.md). */
void pedserver_show(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	const struct pedserver *ps = ctx;
	struct snapshot s;
	unsigned long long core, cur_idle, tot, tot_idle;
	int dumpable;

	(void)argc;
	(void)argv;
	snap(ps, &s);
	admin_reply_line(r, "Ped Server launched in status mode.");
	admin_reply_line(r, "Server Information:");
	item(r, "Hostname:", "%s", s.host);
	item(r, "IP:", "%s", s.addrs);
	item(r, "Firmware Version:", "%s", s.ped ? s.ped->firmware : "-");
	if (s.ped != NULL)
		item(r, "PedII Protocol Version:", "%u", s.ped->version);
	else
		item(r, "PedII Protocol Version:", "-");
	item(r, "Software Version:", "%s", PEDSERVER_VERSION);
	item(r, "Ped2 Connection Status:", "%s", s.ped != NULL ? "Connected" : "Disconnected");
	item(r, "Ped2 RPK Count", "%u", s.pst ? s.pst->rpk_count : 0u);
	item(r, "Ped2 RPK Serial Numbers", "(%s)", s.rpks[0] ? s.rpks : "none");
	if (!s.have_client) {
		admin_reply_line(r, "%-28s %s", "Client Information:", "Not Available");
	} else {
		admin_reply_line(r, "Client Information:");
		item(r, "Client Hostname:", "%s", s.cl.name);
		item(r, "Client IP:", "%s", s.cl.addr);
		item(r, "HSM Serial Number:", "%s", s.cl.hsm_serial[0] ? s.cl.hsm_serial : "-");
		item(r, "Connected Since:", "%s UTC", s.cl.since);
		item(r, "Session State:", "%s", s.cl.state);
	}
	cur_idle = s.cl.idle_s;
	tot = s.st->session_total_s;
	tot_idle = s.st->session_idle_s;
	admin_reply_line(r, "Operating Information:");
	item(r, "Server Port:", "%d", s.server_port);
	item(r, "External Server Interface:", "%s", yes_no(s.ext_server));
	item(r, "Admin Port:", "%d", s.admin_port);
	item(r, "External Admin Interface:", "%s", yes_no(s.ext_admin));
	item(r, "Server Up Time:", "%lu (secs)", s.up_s);
	item(r, "Server Idle Time:", "%lu (secs) (%u%%)", s.idle_s, s.idle_pct);
	item(r, "Idle Timeout Value:", "%lu (secs)", s.idle_timeout_s);
	item(r, "Current Connection Time:", "%llu (secs)", (unsigned long long)s.cl.conn_s);
	item(r, "Current Connection Idle Time:", "%llu (secs)", cur_idle);
	item(r, "Current Connection Total Idle Time:", "%llu (secs) (%llu%%)", cur_idle,
	     s.cl.conn_s > 0 ? 100 * cur_idle / s.cl.conn_s : 100);
	item(r, "Total Connection Time:", "%llu (secs)", tot);
	item(r, "Total Connection Idle Time:", "%llu (secs) (%llu%%)", tot_idle,
	     tot > 0 ? 100 * tot_idle / tot : 100);
	admin_reply_line(r, "Additional Information:");
	item(r, "Process:", "pedserver %s is running (pid %ld)", PEDSERVER_VERSION, (long)getpid());
	item(r, "PED Device:", "%s", s.spec);
	item(r, "PED Model, Serial:", "%s, %s", s.ped ? s.ped->model : "-",
	     s.ped ? s.ped->serial : "-");
	daemon_hygiene_status(&dumpable, &core);
	item(r, "Dumpable, Core Limit:", "%d, %llu", dumpable, core);
	item(r, "Sessions Opened, Busy:", "%lu, %lu", s.st->sessions, s.st->busy);
	item(r, "Probes Answered, Refused:", "%lu, %lu", s.st->probes, s.st->refused);
	item(r, "Resumed, Refused, Expired:", "%lu, %lu, %lu", s.st->resumed,
	     s.st->resume_refused, s.st->resume_expired);
	item(r, "Resume Window:", "%d (secs)", ps->cfg->ResumeWindow);
	item(r, "Admission Refused, Evicted:", "rate %lu, per source %lu; evicted %lu",
	     s.st->refused_rate, s.st->refused_per_source, s.st->evicted);
	item(r, "Penalised Sources:", "%u now, %lu penalties imposed, %lu refused at accept; %s",
	     s.st->penalised, s.st->penalties, s.st->refused_penalty,
	     s.st->penalty_filter ? "dropped by the kernel filter" : "no kernel filter");
	item(r, "HSM Policy, Allowlist:", "%s, %zu HSM%s", allow_policy_name(server_policy(ps->server)),
	     allow_count(server_allow(ps->server)), allow_count(server_allow(ps->server)) == 1 ? "" : "s");
	allow_list_lines(server_allow(ps->server), r, "        ");
	outbound_describe(ps->outbound, r);
	admin_reply_line(r, "Show command passed.");
	admin_reply_end(r, 0);
}

/* "allowlist":{"policy":..,"hsms":[{...}, one line each]} and the end of
 * the object. */
static void allow_json(const struct pedserver *ps, admin_reply_t *r)
{
	const allow_t *a = server_allow(ps->server);
	char fp[ALLOW_FP_TEXT];

	admin_reply_line(r, "\"allowlist\":{\"policy\":\"%s\",\"hsms\":[",
			 allow_policy_name(server_policy(ps->server)));
	for (size_t i = 0; i < allow_count(a); i++) {
		const struct allow_entry *e = allow_at(a, i);

		/* the fields are [A-Za-z0-9._:-] words (allow.h): no escaping */
		allow_fp_text(e->fp, fp);
		admin_reply_line(r, "%s{\"serial\":\"%s\",\"name\":\"%s\",\"fingerprint\":\"%s\","
				 "\"added_utc\":\"%s\",\"how\":\"%s\"}", i ? "," : "", e->serial,
				 e->name, fp, e->added, e->how);
	}
	admin_reply_line(r, "]}}");
}

void pedserver_show_json(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	const struct pedserver *ps = ctx;
	struct snapshot s;
	char host[300], addrs[200], spec[300], fw[300], model[300], serial[300];
	char client[1600], rpks[PEDHOST_MAX_KEYS * 300 + 4];
	char cs[300], cn[300], ca[200], csince[80], cst[120];

	(void)argc;
	(void)argv;
	snap(ps, &s);
	prog_json_str(host, sizeof(host), s.host);
	prog_json_str(addrs, sizeof(addrs), s.addrs);
	prog_json_str(spec, sizeof(spec), s.spec);
	prog_json_str(fw, sizeof(fw), s.ped ? s.ped->firmware : "");
	prog_json_str(model, sizeof(model), s.ped ? s.ped->model : "");
	prog_json_str(serial, sizeof(serial), s.ped ? s.ped->serial : "");
	snprintf(rpks, sizeof(rpks), "[");
	for (unsigned i = 0; s.pst != NULL && i < s.pst->rpk_count && i < PEDHOST_MAX_KEYS; i++) {
		char one[300];
		prog_json_str(one, sizeof(one), s.pst->rpk_serial[i]);
		snprintf(rpks + strlen(rpks), sizeof(rpks) - strlen(rpks), "%s%s", i ? "," : "",
			 one);
	}
	snprintf(rpks + strlen(rpks), sizeof(rpks) - strlen(rpks), "]");
	if (s.have_client) {
		prog_json_str(cs, sizeof(cs), s.cl.hsm_serial);
		prog_json_str(cn, sizeof(cn), s.cl.name);
		prog_json_str(ca, sizeof(ca), s.cl.addr);
		prog_json_str(csince, sizeof(csince), s.cl.since);
		prog_json_str(cst, sizeof(cst), s.cl.state);
		snprintf(client, sizeof(client),
			 "{\"hsm_serial\":%s,\"host\":%s,\"address\":%s,\"since_utc\":%s,"
			 "\"state\":%s,\"open\":%s}",
			 cs, cn, ca, csince, cst, s.cl.open ? "true" : "false");
	} else {
		snprintf(client, sizeof(client), "null");
	}
	/* One JSON object, written in a few lines (each well under the admin
	 * channel's line limit). */
	admin_reply_line(r, "{\"schema_version\":1,\"running\":true,\"pid\":%ld,", (long)getpid());
	admin_reply_line(r, "\"server\":{\"hostname\":%s,\"listen\":%s,\"software_version\":\"%s\"},",
			 host, addrs, PEDSERVER_VERSION);
	admin_reply_line(r, "\"ped\":{\"device\":%s,\"connected\":%s,\"firmware\":%s,"
			 "\"protocol_version\":%u,\"model\":%s,\"serial\":%s,"
			 "\"rpk_count\":%u,\"rpk_serials\":%s},",
			 spec, s.ped ? "true" : "false", fw, s.ped ? s.ped->version : 0u, model, serial,
			 s.pst ? s.pst->rpk_count : 0u, rpks);
	admin_reply_line(r, "\"client\":%s,", client);
	admin_reply_line(r, "\"operating\":{\"server_port\":%d,\"external_server\":%s,"
			 "\"admin_port\":%d,\"external_admin\":%s,\"uptime_s\":%lu,"
			 "\"idle_s\":%lu,\"idle_pct\":%u,\"idle_timeout_s\":%lu,"
			 "\"current_connection_s\":%llu,\"current_connection_idle_s\":%llu,"
			 "\"total_connection_s\":%llu,\"total_connection_idle_s\":%llu,"
			 "\"sessions\":%lu,\"busy\":%lu,\"probes\":%lu,\"refused\":%lu}",
			 s.server_port, s.ext_server ? "true" : "false", s.admin_port,
			 s.ext_admin ? "true" : "false", s.up_s, s.idle_s, s.idle_pct,
			 s.idle_timeout_s, (unsigned long long)s.cl.conn_s,
			 (unsigned long long)s.cl.idle_s, (unsigned long long)s.st->session_total_s,
			 (unsigned long long)s.st->session_idle_s, s.st->sessions, s.st->busy,
			 s.st->probes, s.st->refused);
	admin_reply_line(r, ",\"admission\":{\"refused_rate\":%lu,\"refused_per_source\":%lu,"
			 "\"evicted\":%lu,\"penalised\":%u,\"penalties\":%lu,"
			 "\"refused_penalised\":%lu,\"penalty_filter\":%s},", s.st->refused_rate,
			 s.st->refused_per_source, s.st->evicted, s.st->penalised, s.st->penalties,
			 s.st->refused_penalty, s.st->penalty_filter ? "true" : "false");
	admin_reply_line(r, "\"resume\":{\"window_s\":%d,\"resumed\":%lu,\"refused\":%lu,"
			 "\"expired\":%lu},", ps->cfg->ResumeWindow, s.st->resumed,
			 s.st->resume_refused, s.st->resume_expired);
	allow_json(ps, r);
	admin_reply_end(r, 0);
}
