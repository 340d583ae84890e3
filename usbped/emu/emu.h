/* emu.h - what the emulator's front ends (control socket, terminal UI) may
 * ask of the program that hosts the PED (pedemu.c). */
#ifndef PED_EMU_EMU_H
#define PED_EMU_EMU_H

#include <stdbool.h>

#include "usbped/emu/ped.h"

typedef struct emu emu_t;

ped_t *emu_ped(emu_t *e);
/* Closes the pty master: the host sees the link drop. PED_E_UNPLUGGED if
 * already unplugged. */
int emu_unplug(emu_t *e);
/* Opens a new pty and re-publishes the link symlink. PED_E_EXISTS if plugged. */
int emu_plug(emu_t *e);
bool emu_plugged(const emu_t *e);
/* USB personality only (PED_E_WRONG_MODE otherwise): makes the device
 * misbehave ("none", "stall", "babble", "mute"; usbdev.h). */
int emu_usbfault(emu_t *e, const char *name);
/* Leaves the loop cleanly once pending answers are written. */
void emu_quit(emu_t *e);

#endif
