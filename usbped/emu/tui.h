/* tui.h - the emulator's terminal UI: the LCD in a box, a status line and
 * the keypad on the keyboard (raw mode, restored on close). */
#ifndef PED_EMU_TUI_H
#define PED_EMU_TUI_H

#include <uv.h>

#include "usbped/emu/emu.h"

typedef struct tui tui_t;

/* Fails unless stdin and stdout are terminals. */
int tui_open(uv_loop_t *loop, emu_t *emu, tui_t **out);
void tui_redraw(tui_t *t);
/* Restores the terminal and frees itself once its handles are closed. */
void tui_close(tui_t *t);

#endif
