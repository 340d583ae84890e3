/* ctl.h - the emulator's control channel: a Unix socket (mode 0600, peer
 * uid checked) or a loopback TCP port (-control tcp:127.0.0.1:PORT, also
 * the one channel of pedemu.exe) whose client must first send "AUTH <token>"
 * with the token of KEYDIR/control.token (private, new at each start, the
 * admin channel's scheme: common/admin.h). Then one text command per line,
 * each answered by zero or more lines and then "OK" or "ERR <reason>"
 * (docs/pedemu.md). */
#ifndef PED_EMU_CTL_H
#define PED_EMU_CTL_H

#include <stdbool.h>

#include <uv.h>

#include "usbped/emu/emu.h"

#define CTL_LINE_MAX 256
#define CTL_WAIT_DEFAULT_MS 5000

typedef struct ctl ctl_t;

/* Runtime files of a TCP control channel, in the key directory. */
#define CTL_TOKEN_FILE "control.token"
#define CTL_PORT_FILE "control.port"

/* spec: a socket path, or "tcp:HOST:PORT" with a numeric loopback HOST
 * (its token and port files go to keydir). 0, PED_E_INVAL (not loopback),
 * PED_E_EXISTS (path is not a socket), PED_E_IO, PED_E_NOMEM. */
int ctl_open(uv_loop_t *loop, const char *spec, const char *keydir, emu_t *emu, ctl_t **out);
/* spec names a TCP control channel. */
bool ctl_is_tcp(const char *spec);
/* The LCD changed: answers the "wait" commands it satisfies. */
void ctl_notify(ctl_t *c);
/* Stops listening and closes every client once its answers are written;
 * frees itself when the loop has closed the handles. Does not unlink the
 * socket path; removes a TCP channel's token and port files. NULL: no-op. */
void ctl_close(ctl_t *c);

#endif
