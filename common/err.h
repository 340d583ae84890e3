/* err.h - the project's one error list.
 *
 * Every function that can fail returns 0 on success or a negative PED_E_* code.
 * The table below (code, name, message) generates the enum, ped_errname() and
 * ped_strerror(); names are stable and appear in logs and on the console.
 * The numbers are stable too: the PED link and the wire protocol carry them
 * as status codes (the positive number). Never renumber; only append. */
#ifndef PED_ERR_H
#define PED_ERR_H

#define PED_ERR_MAP(X)                                                          \
	X(INTERNAL, 1, "INTERNAL_ERROR", "internal error")                          \
	X(NOMEM, 2, "OUT_OF_MEMORY", "out of memory")                               \
	X(INVAL, 3, "INVALID_ARGUMENT", "invalid argument")                         \
	X(INCOMPLETE, 4, "INCOMPLETE", "more bytes are needed")                     \
	X(NOSPACE, 5, "NO_SPACE", "output buffer too small")                        \
	X(TOO_LONG, 6, "TOO_LONG", "length exceeds the limit")                      \
	X(TRAILING, 7, "TRAILING_BYTES", "unexpected bytes after the end")          \
	X(CRYPTO, 8, "CRYPTO_ERROR", "cryptographic library failure")               \
	X(BAD_KEY, 9, "BAD_PUBLIC_KEY", "public key is invalid")                    \
	X(BAD_SCALAR, 10, "BAD_PRIVATE_KEY", "private key is invalid")              \
	X(KC_FAILED, 11, "KEY_CONFIRMATION_FAILED",                                 \
	  "key confirmation failed (wrong RPV, wrong static key or tampering)")    \
	X(BAD_TAG, 12, "BAD_RECORD_MAC", "record authentication failed")            \
	X(BAD_RECORD, 13, "BAD_RECORD", "malformed record")                         \
	X(CHAN_DEAD, 14, "CHANNEL_CLOSED", "channel is closed after an error")      \
	X(SEQ_EXHAUSTED, 15, "SEQUENCE_EXHAUSTED",                                  \
	  "record sequence numbers exhausted; the channel must be re-keyed")       \
	X(UNWRAP, 16, "UNWRAP_FAILED", "key unwrap failed (integrity check)")       \
	X(SHARE_BAD, 17, "BAD_SHARE", "malformed or inconsistent secret share")     \
	X(SHARE_DUP, 18, "DUPLICATE_SHARE", "the same share was given twice")       \
	X(SHARE_FEW, 19, "TOO_FEW_SHARES", "fewer shares than the threshold")       \
	X(RANGE, 20, "OUT_OF_RANGE", "value out of the allowed range")              \
	X(IO, 21, "IO_ERROR", "input/output error")                                 \
	X(PARSE, 22, "PARSE_ERROR", "cannot parse input")                           \
	X(VERSION, 23, "VERSION_MISMATCH", "unsupported protocol or format version")  \
	X(PED_TIMEOUT, 24, "PED_TIMEOUT", "the PED operation timed out")            \
	X(USER_CANCELLED, 25, "USER_CANCELLED", "the operation was cancelled on the PED") \
	X(WRONG_KEY_TYPE, 26, "WRONG_KEY_TYPE", "the PED key is of the wrong type or keyset") \
	X(KEY_UNREADABLE, 27, "KEY_UNREADABLE", "the PED key cannot be read")       \
	X(PED_BUSY, 28, "PED_BUSY", "the PED is busy with another operation")       \
	X(UNPLUGGED, 29, "CKR_PED_UNPLUGGED", "the PED is not connected")           \
	X(HOST_CANCELLED, 30, "HOST_CANCELLED", "the operation was cancelled by the host") \
	X(BAD_REQUEST, 31, "BAD_REQUEST", "the request is malformed or not allowed now") \
	X(WRONG_MODE, 32, "PED_WRONG_MODE", "the PED is not in the mode this needs") \
	X(NOT_FOUND, 33, "NOT_FOUND", "no such item")                               \
	X(EXISTS, 34, "ALREADY_EXISTS", "the item already exists")                \
	X(PIN_INCORRECT, 35, "CKR_PIN_INCORRECT",                                   \
	  "authentication failed (wrong PIN or wrong PED key)")                    \
	X(PIN_LOCKED, 36, "CKR_PIN_LOCKED",                                         \
	  "the role is locked after too many failed logins")                       \
	X(NOT_INITIALIZED, 37, "NOT_INITIALIZED",                                   \
	  "the HSM, partition, role or RPV is not initialized")                    \
	X(NOT_LOGGED_IN, 38, "CKR_USER_NOT_LOGGED_IN",                              \
	  "the role that may do this is not logged in")                            \
	X(STATE_CORRUPT, 39, "STATE_CORRUPT",                                       \
	  "the HSM state file is corrupt or not an HSM state file") \
	X(RPV_MISMATCH, 40, "RPV_MISMATCH",                                         \
	  "the orange key does not match this HSM (wrong RPV or PED key)")        \
	X(SERVER_BUSY, 41, "SERVER_BUSY", "the PED server is serving another HSM")  \
	X(HANDSHAKE_TIMEOUT, 42, "HANDSHAKE_TIMEOUT",                               \
	  "the peer did not complete the handshake in time")                     \
	X(DISCONNECTED, 43, "DISCONNECTED", "the session was closed by the peer")  \
	X(PEER_TIMEOUT, 44, "PEER_TIMEOUT", "the peer stopped answering (ping timeout)") \
	X(IDLE_TIMEOUT, 45, "IDLE_TIMEOUT", "the session was idle too long")         \
	X(PASSWORD_INCORRECT, 46, "PASSWORD_INCORRECT",                             \
	  "the one-time password does not match (a new ped connect -password is needed)") \
	X(RPV_INITIALIZED, 47, "RPV_ALREADY_INITIALIZED",                           \
	  "the RPV is already initialized: use ped connect with the orange key")      \
	X(PED_IN_USE, 48, "PED_IN_USE", "the PED is held by another program")      \
	X(KEY_PROOF, 49, "HSM_KEY_PROOF_FAILED",                                    \
	  "the HSM did not prove that it holds its static key")                    \
	X(USB_ACCESS, 50, "USB_ACCESS_DENIED",                                      \
	  "no permission on the PED's USB device node (see docs/usb.md, udev rule)") \
	X(PED_AMBIGUOUS, 51, "PED_AMBIGUOUS",                                       \
	  "several PEDs match: name one with usb:VID:PID:SERIAL")                  \
	X(USB_STALL, 52, "USB_STALL", "the PED stalled a USB endpoint")            \
	X(USB_OVERFLOW, 53, "USB_OVERFLOW",                                         \
	  "the PED sent more than a USB transfer could take")                      \
	X(USB_TIMEOUT, 54, "USB_TIMEOUT", "the PED stopped taking USB transfers")   \
	X(NOT_ACTIVATED, 55, "CKR_NOT_ACTIVATED",                                  \
	  "the role is not activated: log it in with its PED keys")                \
	X(CHALLENGE_BAD, 56, "CHALLENGE_INVALID",                                   \
	  "the challenge secret breaks the rules (7-255 printable characters)")     \
	X(AUDIT_BROKEN, 60, "AUDIT_BROKEN",                                         \
	  "the audit trail is broken: a record is altered, missing or out of order") \
	X(HSM_NOT_ALLOWED, 61, "HSM_NOT_ALLOWED",                                   \
	  "the HSM's key is not on the PED server's allowlist (HsmPolicy list or tofu)") \
	X(HSM_DECLINED, 62, "HSM_DECLINED",                                         \
	  "the key holder answered NO to this HSM on the PED")                     \
	X(BAD_FINGERPRINT, 63, "BAD_FINGERPRINT",                                   \
	  "not an HSM key fingerprint (64 hex digits: SHA-256 of its public key)")  \
	X(ALLOWLIST_FULL, 64, "ALLOWLIST_FULL",                                     \
	  "the HSM allowlist is full: delete an entry first")                      \
	X(WINDOWS_ONLY, 67, "WINDOWS_ONLY",                                         \
	  "Windows services exist only on Windows (use the systemd unit here)")    \
	X(SERVICE_FAILED, 68, "SERVICE_FAILED",                                     \
	  "the Windows service control manager refused the request")              \
	X(SERVICE_EXISTS, 69, "SERVICE_EXISTS",                                     \
	  "the Windows service is already installed (-mode uninstall first)")      \
	X(SERVICE_NOT_INSTALLED, 70, "SERVICE_NOT_INSTALLED",                       \
	  "the Windows service is not installed")                                  \
	X(TLS_HANDSHAKE, 71, "TLS_HANDSHAKE_FAILED",                                \
	  "the TLS handshake of a PED-initiated link failed")                      \
	X(CERT_UNKNOWN, 72, "CERT_NOT_REGISTERED",                                  \
	  "the peer's certificate is not registered on this host")                 \
	X(CERT_BAD, 73, "BAD_CERTIFICATE",                                          \
	  "the certificate file is malformed or not a P-256/P-521 ECDSA certificate") \
	X(REG_FULL, 74, "TOO_MANY_REGISTRATIONS",                                   \
	  "at most 20 certificates may be registered")                             \
	X(REG_DUP, 75, "NAME_ALREADY_REGISTERED", "that name is already registered") \
	X(REG_UNKNOWN, 76, "NAME_NOT_REGISTERED", "no registration has that name")  \
	X(CERT_EXISTS, 77, "CERTIFICATE_EXISTS",                                    \
	  "a key and certificate exist already (use -force to replace them)")      \
	X(NO_LINK, 78, "NO_PED_LINK", "no PED-initiated link is connected")         \
	X(TLS_TIMEOUT, 79, "TLS_HANDSHAKE_TIMEOUT",                                 \
	  "the TLS peer did not finish its handshake in time")                     \
	X(NO_CERT, 80, "NO_CERTIFICATE",                                            \
	  "this host has no TLS key and certificate yet (use -regen)") \
	X(RESUME_UNKNOWN, 81, "RESUME_UNKNOWN",                                     \
	  "no session to resume with this secret (stale, replayed or foreign)")    \
	X(RESUME_REFUSED, 82, "RESUME_REFUSED",                                     \
	  "the resume's key confirmation failed (wrong resumption secret)")        \
	X(RESUME_EXPIRED, 83, "RESUME_WINDOW_EXPIRED",                              \
	  "the link did not come back within the resume window")                   \
	X(RESUME_WRONG_SERVER, 84, "RESUME_WRONG_SERVER",                           \
	  "the server answering the resume is not the one of the session") \
	X(RESUMING, 85, "SESSION_RESUMING",                                         \
	  "the link to the PED server is down and the session is resuming: try again shortly") \
	X(NOT_ON_WINDOWS, 86, "NOT_ON_WINDOWS",                                     \
	  "not available on Windows (docs/windows.md)") \
	X(BAD_PREFIX, 90, "BAD_ADDRESS_PREFIX",                                     \
	  "not an IPv4 or IPv6 address or prefix with its host bits clear (192.0.2.7, 10.0.0.0/8, 2001:db8::/48)") \
	X(TOO_MANY_PREFIXES, 91, "TOO_MANY_PREFIXES",                               \
	  "at most 16 addresses or prefixes may be exempt from penalties")         \
	X(NO_SOCKET_FILTER, 92, "NO_SOCKET_FILTER",                                 \
	  "this system cannot drop a source's new connections in the kernel: penalised sources are refused at accept")

enum ped_err {
	PED_OK = 0,
#define PED_ERR_ENUM(sym, num, name, msg) PED_E_##sym = -(num),
	PED_ERR_MAP(PED_ERR_ENUM)
#undef PED_ERR_ENUM
};

/* Stable upper-case name of an error code, e.g. "BAD_RECORD_MAC". */
const char *ped_errname(int code);
/* Human-readable message for an error code. */
const char *ped_strerror(int code);

#endif
