/* pedport.h - what a slot's PED operation looks like to the flows
 * (flows.c), whichever PED serves it: the Local PED (lped.h) or the PED of
 * an open remote session (remote.h). Both deliver the PED's progress and
 * result in the decoded forms of usbped/pedhost.h, with CSP blobs already
 * unwrapped (wrap = 0). */
#ifndef PEDCLIENT_PEDPORT_H
#define PEDCLIENT_PEDPORT_H

#include <stdint.h>

#include "usbped/link.h"
#include "usbped/pedhost.h"

#define PEDPORT_TITLE_MAX 20 /* what the PED shows of a title */

/* One PED operation to start. */
struct pedreq {
	uint8_t op;                /* LINK_READ_KEYSET or LINK_CREATE_KEYSET */
	uint8_t key_type;          /* enum link_key_type */
	uint32_t timeout_ms;
	char title[PEDHOST_STR];   /* the PED's second line */
	char label[PEDHOST_STR];   /* CREATE_KEYSET: the keys' label */
	int allow_reuse;           /* CREATE_KEYSET */
	int any_keyset;            /* READ_KEYSET: keyset ignored */
	uint8_t keyset[LINK_KEYSET_ID_LEN];
};

/* Who receives an operation's progress; exactly one on_result per started
 * operation (res->status 0 or a negative PED_E_* code). */
struct pedport_owner {
	void (*on_event)(void *arg, const pedhost_event_t *ev);
	void (*on_result)(void *arg, const pedhost_result_t *res);
	void *arg;
};

#endif
