/* config.h - pedclient's configuration keys, one X-macro table (cfg.h) that
 * generates the struct, the defaults, the parser, `-mode config -show|-set`
 * and conf/pedclient.conf. Key names shared with pedserver (AdminPort,
 * LogFileName, the timeouts...) are the ones common/prog.h looks up. */
#ifndef PEDCLIENT_CONFIG_H
#define PEDCLIENT_CONFIG_H

#include "common/cfg.h"

#define PEDCLIENT_VERSION "0.1.0"
/* pedclient's admin port: pedserver has 1502 and serves on 1503. */
#define PEDCLIENT_ADMIN_PORT 1505
#define PEDCLIENT_SLOTS_MAX 16

#define PEDCLIENT_CFG(X)                                                                \
	X(Admin, AdminPort, INT, PEDCLIENT_ADMIN_PORT, 0, 65535,                                       \
	  "admin TCP port (0: any free port, recorded in STATEDIR/admin.port)")         \
	X(Admin, ExternalAdmin, BOOL, 0, 0, 1,                                          \
	  "admin port on every address instead of loopback only (-eadmin)")            \
	X(Client, IdleTimeout, INT, 1800, 0, 86400,                                     \
	  "seconds a PED session may stay idle before it is closed (0: never)")        \
	X(Client, IgnoreIdleTimeout, BOOL, 0, 0, 1,                                     \
	  "do not apply the idle timeout to sessions of assigned PED IDs")             \
	X(Client, SocketReadTimeout, INT, 20, 1, 3600,                                  \
	  "seconds to wait for data from a pedserver (also the testid deadline)")      \
	X(Client, SocketWriteTimeout, INT, 20, 1, 3600,                                 \
	  "seconds a write to a pedserver may take")                                   \
	X(Client, PingInterval, INT, 60, 1, 3600,                                       \
	  "seconds between keep-alive pings on an idle session")                       \
	X(Client, PingTimeout, INT, 30, 1, 3600,                                        \
	  "seconds without an answer to a ping before the session is dropped")         \
	X(Client, ResumeWindow, INT, 300, 0, 86400,                                     \
	  "seconds to reconnect and resume a session whose link broke, without the "   \
	  "orange key (0: no resumption)")                                             \
	X(Process, InternalShutdownTimeout, INT, 10, 1, 3600,                           \
	  "seconds a shutdown may take before the process exits anyway")              \
	X(Process, BgProcessStartupTimeout, INT, 10, 1, 3600,                           \
	  "seconds -mode start waits for the daemon to be ready")                     \
	X(Process, BgProcessShutdownTimeout, INT, 25, 1, 3600,                          \
	  "seconds -mode stop waits for the daemon to exit")                          \
	X(Logging, LogFileName, PATH, "", 0, 0,                                         \
	  "log file (empty: STATEDIR/pedclient.log, or stderr in the foreground)")     \
	X(Logging, MaxLogFileSize, INT, 4096, 0, 1048576,                               \
	  "log file size in KB before rotation (0: no limit)")                         \
	X(Logging, LogInfo, BOOL, 1, 0, 1, "log info messages")                         \
	X(Logging, LogWarning, BOOL, 1, 0, 1, "log warnings")                           \
	X(Logging, LogError, BOOL, 1, 0, 1, "log errors")                               \
	X(Logging, LogTrace, BOOL, 0, 0, 1, "log trace messages (verbose)")             \
	X(Hsm, Slots, INT, 1, 1, 16, "number of software-HSM slots (each has its own serial)") \
	X(Hsm, LocalPed, PATH, "", 0, 0,                                                \
	  "PED attached to this host (tty/pty path) for the Local PED case, or empty") \
	X(PedInitiated, Listen, BOOL, 0, 0, 1,                                          \
	  "1: accept PED-initiated links from registered pedservers (TLS 1.3)")        \
	X(PedInitiated, Port, INT, 9697, 1, 65535, "port of the PED-initiated links")  \
	X(PedInitiated, Ip, STRING, "", 0, 64,                                          \
	  "listen for PED-initiated links on this one address (empty: every address)") \
	X(PedInitiated, HandshakeTimeout, INT, 5, 1, 600,                               \
	  "seconds a pedserver may take for its TLS handshake")

CFG_STRUCT(pedclient_cfg, PEDCLIENT_CFG);
extern const struct cfg_table pedclient_cfg_table;

#endif
