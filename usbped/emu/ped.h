/* ped.h - the emulated PED: an 8x20 LCD, a keypad, one PED-key slot, the
 * Local/Remote/Admin modes and the operations of the PED link protocol
 * (usbped/link.h) as the PED side. It does no I/O of its own beyond the key
 * files in its key directory: frames go out through ped_io_t.send, and every
 * change of the LCD or of the slot is reported through ped_io_t.changed. */
#ifndef PED_EMU_PED_H
#define PED_EMU_PED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "usbped/link.h"

#define PED_LCD_LINES 8
#define PED_LCD_COLS 20
#define PED_FIRMWARE "pedemu 1.0"
#define PED_MODEL "pedemu"
#define PED_KEYNAME_MAX 64

/* Keypad keys: the digits are their ASCII characters. */
enum ped_key {
	PED_KEY_ENTER = 256,
	PED_KEY_YES,
	PED_KEY_NO,
	PED_KEY_CLEAR,
	PED_KEY_BACK, /* '<' */
	PED_KEY_LOG,  /* '>' */
};

typedef struct ped ped_t;

typedef struct ped_io {
	void *arg;
	/* One frame to the host; the PED does not care whether it arrives. */
	void (*send)(void *arg, uint8_t type, uint16_t id, const uint8_t *payload, size_t len);
	/* The LCD, the slot or the mode changed. */
	void (*changed)(void *arg);
} ped_io_t;

int ped_new(uv_loop_t *loop, const char *keydir, enum link_mode mode, const ped_io_t *io,
	    ped_t **out);
/* Abandons any operation, wipes secrets, closes the timer and frees the PED
 * once the loop has run the close callbacks. NULL is a no-op. */
void ped_close(ped_t *p);

/* A frame from the host. */
void ped_link_frame(ped_t *p, const link_frame_t *f);
/* The host went away (pty closed or unplugged): a running operation is
 * abandoned without a RESULT and the PED returns to idle. */
void ped_link_down(ped_t *p);
/* Drops the cached RPK (the PED lost power, or the host asked). */
void ped_forget_rpk(ped_t *p);

void ped_press(ped_t *p, int key);
/* "ENTER", "YES", "NO", "CLEAR", "BACK", "LOG" or one digit; -1 if none. */
int ped_key_from_name(const char *name);

/* PED_E_PED_BUSY while an operation runs. */
int ped_set_mode(ped_t *p, enum link_mode mode);
enum link_mode ped_mode(const ped_t *p);
const char *ped_mode_name(enum link_mode mode);

/* Key files: DIR/<name>.key; names are 1-32 of [A-Za-z0-9_.-], not starting with '.'. */
bool ped_keyname_ok(const char *name);
int ped_newkey(ped_t *p, const char *name);   /* PED_E_EXISTS */
int ped_insert(ped_t *p, const char *name);   /* PED_E_NOT_FOUND, PED_E_EXISTS (slot full) */
int ped_remove(ped_t *p);                     /* PED_E_NOT_FOUND (slot empty) */
/* The key in the slot, or NULL. */
const char *ped_slot(const ped_t *p);
/* Calls line() once per key file, "<name> <TYPE> <label>" (no secret). */
int ped_list_keys(ped_t *p, void (*line)(void *arg, const char *text), void *arg);

/* The PED's serial number ("EMU" and 8 hex digits, random per start). */
const char *ped_serial(const ped_t *p);
/* Sets it (1..19 printable characters; PED_E_INVAL otherwise). */
int ped_set_serial(ped_t *p, const char *serial);
/* LCD line i (0..7), NUL-terminated, at most 20 characters. */
const char *ped_lcd_line(const ped_t *p, unsigned i);
/* Whether one LCD line contains text. */
bool ped_lcd_contains(const ped_t *p, const char *text);
bool ped_busy(const ped_t *p);
bool ped_link_up(const ped_t *p);
/* Whether the link is secured (KEX_DONE 0 sent, keys not dropped since). */
bool ped_secure(const ped_t *p);
void ped_set_link_up(ped_t *p, bool up);

#endif
