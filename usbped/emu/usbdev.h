/* usbdev.h - the PED end of the link as a USB device (the emulator's USB
 * personality, docs/usb.md): a device with one vendor-specific interface and
 * a bulk IN/OUT endpoint pair, presented in a umockdev testbed directory.
 * A host process run with the umockdev preload library and UMOCKDEV_DIR set
 * to that directory finds it through libudev/sysfs exactly like a real USB
 * device, and its usbdevfs ioctls (SUBMITURB, REAPURBNDELAY, DISCARDURB,
 * CLAIMINTERFACE, control transfers for the string descriptors...) are
 * answered here. Link frames (usbped/link.h) travel over the bulk pipe.
 *
 * Several emulators may share one testbed directory: each claims its own
 * bus number there. Frames and up/down are delivered with the same callbacks
 * as the pty personality (port.h). */
#ifndef PED_EMU_USBDEV_H
#define PED_EMU_USBDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "usbped/emu/port.h"

typedef struct usbdev usbdev_t;

/* The USB personality exists on this system (Linux with umockdev: yes;
 * Windows: no, usbdev_win.c refuses it). */
bool usbdev_supported(void);

#define USBDEV_SERIAL_MAX 32

/* Misbehaviours a test can switch on (control socket "usbfault"). */
enum usbdev_fault {
	USBDEV_FAULT_NONE = 0,
	USBDEV_FAULT_STALL,  /* bulk IN halts (EPIPE) until the host clears it */
	USBDEV_FAULT_BABBLE, /* the next IN transfer overflows (EOVERFLOW) */
	USBDEV_FAULT_MUTE,   /* transfers are never completed: the PED hangs */
};

/* umockdev's testbed must run inside its own mock environment (its uevents
 * are built with libudev reading the testbed's /sys): when this process is
 * not in it yet, re-executes argv with the preload library and
 * UMOCKDEV_DIR=beddir. Returns 0 when already inside, else an error (the
 * exec failed). */
int usbdev_enter_mock(const char *beddir, char **argv);
/* Opens the testbed in beddir (created if missing), adds the device and
 * starts answering. vid/pid/serial: the identity presented. */
int usbdev_open(uv_loop_t *loop, const char *beddir, uint16_t vid, uint16_t pid,
		const char *serial, const port_cb_t *cb, usbdev_t **out);
/* Encodes and queues one frame for the IN endpoint; dropped when no host
 * has the interface claimed. */
int usbdev_send(usbdev_t *u, uint8_t type, uint16_t id, const uint8_t *payload, size_t len);
/* Device removal (remove uevent, the node disappears, pending transfers fail
 * with ENODEV) and arrival (a new device number, add uevent).
 * PED_E_UNPLUGGED / PED_E_EXISTS when already in that state. */
int usbdev_unplug(usbdev_t *u);
int usbdev_plug(usbdev_t *u);
int usbdev_set_fault(usbdev_t *u, enum usbdev_fault f);
/* "usbfault" argument names: "none", "stall", "babble", "mute"; -1 if none. */
int usbdev_fault_from_name(const char *name);
/* "/dev/bus/usb/BBB/DDD" of the present device ("" when unplugged). */
const char *usbdev_node(const usbdev_t *u);
/* Removes the device and frees everything once the loop has closed the
 * handles. NULL is a no-op. */
void usbdev_close(usbdev_t *u);

#endif
