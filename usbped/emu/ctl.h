/* ctl.h - the emulator's control socket: a Unix socket (mode 0600, peer
 * uid checked) taking one text command per line, each answered by zero or
 * more lines and then "OK" or "ERR <reason>" (docs/pedemu.part.md). */
#ifndef PED_EMU_CTL_H
#define PED_EMU_CTL_H

#include <uv.h>

#include "usbped/emu/emu.h"

#define CTL_LINE_MAX 256
#define CTL_WAIT_DEFAULT_MS 5000

typedef struct ctl ctl_t;

int ctl_open(uv_loop_t *loop, const char *path, emu_t *emu, ctl_t **out);
/* The LCD changed: answers the "wait" commands it satisfies. */
void ctl_notify(ctl_t *c);
/* Stops listening and closes every client once its answers are written;
 * frees itself when the loop has closed the handles. Does not unlink the
 * socket path. NULL is a no-op. */
void ctl_close(ctl_t *c);

#endif
