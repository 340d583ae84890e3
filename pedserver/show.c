/* show.c - pedserver's status report for `-mode show` (admin verb "show")
 * and `-mode show -json` ("show-json"): the facts of the reference's status
 * block (server, PED, client, ports, times), for people or as one JSON
 * object with schema_version 1. Both are built from one snapshot. */
#include "pedserver/pedserver.h"

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
	return b ? "yes" : "no";
}

void pedserver_show(void *ctx, admin_reply_t *r, int argc, char **argv)
{
	const struct pedserver *ps = ctx;
	struct snapshot s;
	unsigned long long core;
	int dumpable;

	(void)argc;
	(void)argv;
	snap(ps, &s);
	admin_reply_line(r, "pedserver %s is running (pid %ld)", PEDSERVER_VERSION,
			 (long)getpid());
	admin_reply_line(r, "Server");
	admin_reply_line(r, "  Host name:                  %s", s.host);
	admin_reply_line(r, "  Listening on:               %s", s.addrs);
	admin_reply_line(r, "  Software version:           %s", PEDSERVER_VERSION);
	daemon_hygiene_status(&dumpable, &core);
	admin_reply_line(r, "  Dumpable, core limit:       %d, %llu", dumpable, core);
	admin_reply_line(r, "PED");
	admin_reply_line(r, "  Device:                     %s", s.spec);
	admin_reply_line(r, "  Connection status:          %s",
			 s.ped != NULL ? "Connected" : "Disconnected");
	admin_reply_line(r, "  Firmware version:           %s", s.ped ? s.ped->firmware : "-");
	if (s.ped != NULL)
		admin_reply_line(r, "  Link protocol version:      %u", s.ped->version);
	else
		admin_reply_line(r, "  Link protocol version:      -");
	admin_reply_line(r, "  Model, serial:              %s, %s", s.ped ? s.ped->model : "-",
			 s.ped ? s.ped->serial : "-");
	admin_reply_line(r, "  Remote PED keys (RPK):      %u", s.pst ? s.pst->rpk_count : 0u);
	admin_reply_line(r, "  RPK serial numbers:         %s", s.rpks[0] ? s.rpks : "none");
	admin_reply_line(r, "Client");
	if (!s.have_client) {
		admin_reply_line(r, "  Connected HSM:              none");
	} else {
		admin_reply_line(r, "  Connected HSM:              %s",
				 s.cl.hsm_serial[0] ? s.cl.hsm_serial : "(no serial)");
		admin_reply_line(r, "  HSM host:                   %s", s.cl.name);
		admin_reply_line(r, "  Client address:             %s", s.cl.addr);
		admin_reply_line(r, "  Connected since:            %s UTC", s.cl.since);
		admin_reply_line(r, "  Session state:              %s", s.cl.state);
	}
	admin_reply_line(r, "Operation");
	admin_reply_line(r, "  Server port:                %d", s.server_port);
	admin_reply_line(r, "  Server port external:       %s", yes_no(s.ext_server));
	admin_reply_line(r, "  Admin port:                 %d", s.admin_port);
	admin_reply_line(r, "  Admin port external:        %s", yes_no(s.ext_admin));
	admin_reply_line(r, "  Up time:                    %lu s", s.up_s);
	admin_reply_line(r, "  Idle time:                  %lu s (%u%%)", s.idle_s, s.idle_pct);
	admin_reply_line(r, "  Idle timeout:               %lu s", s.idle_timeout_s);
	admin_reply_line(r, "  Current connection time:    %llu s (idle %llu s)",
			 (unsigned long long)s.cl.conn_s, (unsigned long long)s.cl.idle_s);
	admin_reply_line(r, "  Total connection time:      %llu s (idle %llu s)",
			 (unsigned long long)s.st->session_total_s,
			 (unsigned long long)s.st->session_idle_s);
	admin_reply_line(r, "  Sessions opened, busy:      %lu, %lu", s.st->sessions, s.st->busy);
	admin_reply_line(r, "  Probes answered, refused:   %lu, %lu", s.st->probes,
			 s.st->refused);
	admin_reply_line(r, "  Admission refused, evicted: rate %lu, per source %lu; evicted %lu",
			 s.st->refused_rate, s.st->refused_per_source, s.st->evicted);
	admin_reply_end(r, 0);
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
			 "\"evicted\":%lu}}", s.st->refused_rate, s.st->refused_per_source,
			 s.st->evicted);
	admin_reply_end(r, 0);
}
