/* pedhsm.c - the software HSM's console: LunaCM's PED-related commands,
 * sent to pedclient over STATEDIR/hsm.sock (pedclient/hsmsock.h).
 *
 *   pedhsm [-statedir DIR] [-slot N] <command...>   one command, exit 0 / 1
 *   pedhsm [-statedir DIR] [-slot N]                 a shell: pedhsm:> prompt,
 *                                                   one command per line,
 *                                                   exit / quit / EOF end it
 *   pedhsm [-statedir DIR] -slot 0,1,2 <cmd> [; <cmd>...]
 *                                                   one sitting: the commands,
 *                                                   in order, on each slot in
 *                                                   turn (a slot's first failure
 *                                                   skips its other commands);
 *                                                   exit 0 if every slot passed
 *
 * For each command it prints "Please attend to the PED." when pedclient
 * says `attend`, the PED's progress lines and other output, then
 * "Command Result : No Error" or "Command Result : <NAME> (<message>)". */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/prog.h"
#include "pedclient/hsmsock.h"

#define PROG "pedhsm"
#define SITTING_MAX 16 /* slots in one sitting (pedclient has at most 16) */

static const char *const help_text[] = {
	"ped connect [-ip A] [-port P] [-ped ID] [-slot S]  open a Remote PED session (orange key)",
	"ped connect [-ped NAME]                   through a PED-initiated link (no address: any that is up)",
	"ped connect -password [NNNNNNNN] [...]   first contact before RPV init (one-time password)",
	"ped disconnect                            close the Remote PED session",
	"ped set -ip A -port P                     the slot's default Remote PED server",
	"ped show                                  the slot's PED connection",
	"ped vector init                           initialize (or rotate) the RPV (orange keyset)",
	"hsm init -label L                         initialize the HSM (blue SO + red domain)",
	"hsm show                                  the HSM's state and roles",
	"partition init -label L                   initialize the partition (needs SO)",
	"role init -name co|cu|lco|au              create a role's keyset",
	"role login -name so|po|co|cu|lco|au       log a role in with its PED keys; co/cu, once",
	"    [-password S]                         activated: with the challenge S, no PED",
	"role logout                               log every role out",
	"role changepw -name so|po|co|cu|lco|au    the role logged in: current keys, then new ones",
	"role resetpw -name co|cu                  a new keyset for a CO (by the PO) or CU (by the CO)",
	"role createchallenge -name co|cu -challengesecret S   the role's challenge (PO for co, CO for cu)",
	"role deactivate -name co|cu               ends the role's activation",
	"partition changepolicy -policy 22|23 -value 0|1   activation / auto-activation (the PO)",
	"partition showpolicies                    partition policies 22 and 23",
	"slot list                                 the slots of this pedclient",
	"help / exit / quit",
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: " PROG " [-statedir DIR] [-slot N] [command...]\n"
		   "       " PROG " [-statedir DIR] -slot N,N,... command [';' command...]\n"
		   "without a command: an interactive shell. With several slots: the\n"
		   "commands (separated by a ';' word) on each slot in turn, e.g.\n"
		   "  " PROG " -slot 0,1 ped connect ';' role login -name so ';' ped disconnect\n"
		   "Commands:\n");
	for (i = 0; i < sizeof(help_text) / sizeof(help_text[0]); i++)
		fprintf(f, "  %s\n", help_text[i]);
}

static int connect_sock(const char *statedir, char *why, size_t whylen)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", statedir, HSMSOCK_FILE) >= sizeof(path)) {
		snprintf(why, whylen, "%s/%s: path too long", statedir, HSMSOCK_FILE);
		return -1;
	}
	if ((fd = sys_ipc_connect(path)) < 0)
		snprintf(why, whylen, "cannot reach pedclient at %s: %s (is pedclient running "
				      "with -statedir %s?)", path, strerror(errno), statedir);
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void result(const char *name, const char *msg)
{
	if (name == NULL)
		printf("Command Result : No Error\n");
	else if (msg != NULL && msg[0] != '\0')
		printf("Command Result : %s (%s)\n", name, msg);
	else
		printf("Command Result : %s\n", name);
	fflush(stdout);
}

/* Prints one answer line; 1 when it was the last (OK: *ok = 1). */
static int answer_line(char *line, int *ok)
{
	char *sp;

	if (strcmp(line, "OK") == 0) {
		*ok = 1;
		result(NULL, NULL);
		return 1;
	}
	if (strncmp(line, "ERR ", 4) == 0) {
		*ok = 0;
		sp = strchr(line + 4, ' ');
		if (sp != NULL)
			*sp++ = '\0';
		result(line + 4, sp);
		return 1;
	}
	if (strcmp(line, "attend") == 0)
		printf("Please attend to the PED.\n");
	else if (strncmp(line, "ped ", 4) == 0)
		printf("  PED: %s\n", line + 4);
	else if (strncmp(line, "out ", 4) == 0)
		printf("%s\n", line + 4);
	else if (strcmp(line, "out") == 0)
		printf("\n");
	fflush(stdout);
	return 0;
}

/* Runs one command (words); returns 0 on "No Error", else 1. */
static int run_command(const char *statedir, unsigned slot, int argc, char **argv)
{
	char req[HSMSOCK_LINE_MAX + 2], why[PATH_MAX + 200];
	char buf[4096], line[HSMSOCK_LINE_MAX + 512];
	size_t used = 0, ll = 0;
	int fd, i, ok = 0, done = 0;
	ssize_t n;

	used = (size_t)snprintf(req, sizeof(req), "%u", slot);
	for (i = 0; i < argc; i++) {
		if (argv[i][0] == '\0' || strpbrk(argv[i], " \t\r\n") != NULL) {
			result("INVALID_ARGUMENT", "a word may not contain spaces");
			return 1;
		}
		if (used + 1 + strlen(argv[i]) + 1 >= sizeof(req)) {
			result("TOO_LONG", "the command is too long");
			return 1;
		}
		used += (size_t)snprintf(req + used, sizeof(req) - used, " %s", argv[i]);
	}
	req[used++] = '\n';
	if ((fd = connect_sock(statedir, why, sizeof(why))) < 0) {
		result("IO_ERROR", why);
		return 1;
	}
	i = write_all(fd, req, used);
	OPENSSL_cleanse(req, sizeof(req)); /* may hold a one-time password */
	if (i != 0) {
		close(fd);
		result("IO_ERROR", "cannot send the command to pedclient");
		return 1;
	}
	while (!done && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n && !done; i++) {
			if (buf[i] == '\n') {
				line[ll] = '\0';
				done = answer_line(line, &ok);
				ll = 0;
			} else if (ll < sizeof(line) - 1) {
				line[ll++] = buf[i];
			}
		}
	}
	close(fd);
	if (!done) {
		/* pedclient stopped or crashed mid-command: its HSM state is the old
		 * one (commits are atomic), the command can be run again */
		result("DISCONNECTED", "pedclient closed the connection without a result: "
				       "is it running? (pedclient -mode show)");
		return 1;
	}
	return ok ? 0 : 1;
}

static int split(char *line, char **argv, int max)
{
	char *save = NULL, *w;
	int n = 0;

	for (w = strtok_r(line, " \t\r\n", &save); w != NULL; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return -1;
		argv[n++] = w;
	}
	return n;
}

static int shell(const char *statedir, unsigned slot)
{
	char line[HSMSOCK_LINE_MAX + 2];
	char *argv[HSMSOCK_ARGS_MAX + 1];
	int argc, rc = 0, tty = isatty(STDIN_FILENO);

	if (tty)
		printf("pedhsm - software HSM console (slot %u). 'help' lists the commands.\n",
		       slot);
	for (;;) {
		printf("pedhsm:> ");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL) {
			if (tty)
				printf("\n");
			break;
		}
		if (strchr(line, '\n') == NULL && !feof(stdin)) {
			int c;
			while ((c = getchar()) != EOF && c != '\n')
				;
			printf("\n");
			result("TOO_LONG", "the command is too long");
			rc = 1;
			continue;
		}
		if (!tty)
			printf("%s", line); /* echo, so a transcript reads like a session */
		argc = split(line, argv, HSMSOCK_ARGS_MAX);
		if (argc == 0)
			continue;
		if (argc < 0) {
			result("TOO_LONG", "too many words");
			rc = 1;
			continue;
		}
		if (strcasecmp(argv[0], "exit") == 0 || strcasecmp(argv[0], "quit") == 0)
			break;
		if (strcasecmp(argv[0], "help") == 0) {
			usage(stdout);
			continue;
		}
		rc = run_command(statedir, slot, argc, argv);
	}
	return rc;
}

/* "0,1,2": the slots in order, no duplicate; their count, or -1. */
static int parse_slots(const char *s, unsigned *slots, int max)
{
	char *end;
	int n = 0, j;
	long v;

	for (;;) {
		v = strtol(s, &end, 10);
		if (end == s || v < 0 || v > 99 || n == max)
			return -1;
		for (j = 0; j < n; j++)
			if (slots[j] == (unsigned)v)
				return -1;
		slots[n++] = (unsigned)v;
		if (*end == '\0')
			return n;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
}

/* One sitting (issue 16): the ';'-separated commands on each slot in turn,
 * each step announced with its slot; a summary line per slot at the end. */
static int sitting(const char *statedir, const unsigned *slots, int nslots, int argc,
		   char **argv)
{
	int failed[SITTING_MAX] = {0}, rc = 0, k, i, start;

	for (k = 0; k < nslots; k++) {
		for (start = 0; start < argc && !failed[k]; start = i + 1) {
			for (i = start; i < argc && strcmp(argv[i], ";") != 0; i++)
				;
			if (i == start)
				continue;
			printf("=== Slot %u: ", slots[k]);
			for (int w = start; w < i; w++) /* a -password value stays off the screen */
				printf("%s%s", w > start ? " " : "",
				       w > start && strcasecmp(argv[w - 1], "-password") == 0 ? "..."
											   : argv[w]);
			printf(" ===\n");
			fflush(stdout);
			failed[k] = run_command(statedir, slots[k], i - start, argv + start);
		}
		rc |= failed[k];
	}
	printf("=== Sitting: ");
	for (k = 0; k < nslots; k++)
		printf("%sslot %u %s", k > 0 ? ", " : "", slots[k], failed[k] ? "FAILED" : "passed");
	printf(" ===\n");
	return rc;
}

int main(int argc, char *argv[])
{
	char statedir[PATH_MAX];
	unsigned slot = 0, slots[SITTING_MAX];
	int i = 1, nslots = 1;

	statedir[0] = '\0';
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i] + (argv[i][1] == '-' ? 2 : 1);
		if (strcasecmp(o, "help") == 0 || strcasecmp(o, "h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcasecmp(o, "statedir") != 0 && strcasecmp(o, "slot") != 0) {
			fprintf(stderr, PROG ": %s: unknown option (see " PROG " -help)\n", argv[i]);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, PROG ": %s: missing value\n", argv[i]);
			return 2;
		}
		if (strcasecmp(o, "statedir") == 0) {
			if (strlen(argv[i + 1]) >= sizeof(statedir)) {
				fprintf(stderr, PROG ": -statedir: too long\n");
				return 2;
			}
			snprintf(statedir, sizeof(statedir), "%s", argv[i + 1]);
		} else if (strcasecmp(o, "slot") == 0) {
			nslots = parse_slots(argv[i + 1], slots, SITTING_MAX);
			if (nslots < 1) {
				fprintf(stderr, PROG ": -slot: a slot number 0-99, or several "
						"separated by commas (each once)\n");
				return 2;
			}
			slot = slots[0];
		}
		i++;
	}
	if (statedir[0] == '\0' &&
	    prog_default_statedir(statedir, sizeof(statedir), "pedclient") != 0) {
		fprintf(stderr, PROG ": no state dir (give -statedir)\n");
		return 2;
	}
	if (nslots > 1) {
		if (i >= argc) {
			fprintf(stderr, PROG ": several slots need a command\n");
			return 2;
		}
		return sitting(statedir, slots, nslots, argc - i, argv + i);
	}
	if (i >= argc)
		return shell(statedir, slot);
	if (argc - i > HSMSOCK_ARGS_MAX) {
		fprintf(stderr, PROG ": too many words\n");
		return 2;
	}
	return run_command(statedir, slot, argc - i, argv + i);
}
