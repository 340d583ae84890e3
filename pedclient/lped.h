/* lped.h - the Local PED: a PED attached to the HSM host (`-localped PATH`),
 * reached through usbped/pedhost.h. Before an operation for a slot the link
 * is secured with the One-Pass C(1e,1s) key agreement (pedhost_secure) in
 * which that slot's HSM is party V: its static key, derived inside the HSM
 * (hsm_channel_keys). A link secured for one slot is secured again when
 * another slot's operation comes. A PED that does not know the key
 * agreement (answers BAD_REQUEST) is used without it, with a warning in
 * the log: the Local PED sits on the trusted host.
 *
 * One operation at a time: a second gets PED_E_PED_BUSY. */
#ifndef PEDCLIENT_LPED_H
#define PEDCLIENT_LPED_H

#include <uv.h>

#include "pedclient/hsm.h"
#include "pedclient/pedport.h"

typedef struct lped lped_t;

/* Opens the PED at path (a tty/pty); a PED that is missing now is looked
 * for again at the next operation. 0 or PED_E_NOMEM / PED_E_INVAL. */
int lped_new(uv_loop_t *loop, const char *path, const char *host_name, lped_t **out);
/* Whether the link is up (HELLO answered). */
int lped_is_up(const lped_t *l);
const char *lped_path(const lped_t *l);
/* Starts req for the HSM hsm: brings the link up and secures it first when
 * needed. 0: owner->on_result fires exactly once later. Else a negative
 * code now (PED_E_PED_BUSY). */
int lped_start(lped_t *l, hsm_t *hsm, const struct pedreq *req,
	       const struct pedport_owner *owner);
/* The answer to EVENT NEED_SHARES of the running operation. */
int lped_send_shares(lped_t *l, const uint8_t keyset[LINK_KEYSET_ID_LEN],
		     const shamir_share_t *shares, unsigned count);
/* Cancels the running operation (its on_result still fires). */
void lped_cancel(lped_t *l);
/* Closes; no callback runs afterwards; closed(arg) once its handles are
 * gone. NULL is a no-op (closed is then not called). */
void lped_close(lped_t *l, void (*closed)(void *arg), void *arg);

#endif
