/* sysprivate - tests only: is each PATH private to its owner, as the system
 * layer judges it (sys_is_private: POSIX mode bits; Windows every allow entry
 * of the DACL is the owner, Administrators, SYSTEM or CREATOR OWNER)? The
 * Windows scenarios (tests/windows/pedemu.sh) run it under wine on the files
 * a Windows program wrote, since wine's icacls prints nothing.
 *
 *   sysprivate PATH...
 *
 * Exit 0 if every PATH is private; else 1, naming the first that is not. */
#include <stdio.h>

#include "common/sys.h"

int main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: sysprivate PATH...\n");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (!sys_is_private(argv[i])) {
			printf("not private: %s\n", argv[i]);
			return 1;
		}
	}
	printf("private: %d path%s\n", argc - 1, argc == 2 ? "" : "s");
	return 0;
}
