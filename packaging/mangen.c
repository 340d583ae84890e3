/* mangen.c - the generated parts of the man pages and the udev rule, from
 * the tables the programs themselves use, so the pages cannot drift:
 *
 *   mangen modes  pedserver|pedclient   the -mode list (scdoc)
 *   mangen opts   pedserver|pedclient   the OPTIONS section (scdoc)
 *   mangen keys   pedserver|pedclient   the config keys by section (scdoc)
 *   mangen names  pedserver|pedclient   every option and key name, one a
 *                                       line (tests/scenario/packaging_man.sh
 *                                       checks each is on its page)
 *   mangen usbids                       "VVVV PPPP", the default PED ids
 *
 * A build tool: never installed. */
#include <stdio.h>
#include <string.h>

#include "common/cfg.h"
#include "common/cli.h"
#include "pedclient/config.h"
#include "pedclient/options.h"
#include "pedserver/pedserver.h"
#include "usbped/usbped.h"

struct page_src {
	const char *name;
	const struct cli_spec *cli;
	const struct cfg_table *cfg;
};

static const struct page_src progs[] = {
	{"pedserver", &pedserver_cli, &pedserver_cfg_table},
	{"pedclient", &pedclient_cli, &pedclient_cfg_table},
};

/* scdoc text: its markup characters escaped. */
static void put(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '*' || *s == '_' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
}

static const char *metavar(const struct cli_opt *o)
{
	if (o->metavar != NULL)
		return o->metavar;
	switch (o->type) {
	case CLI_INT: return "<n>";
	case CLI_PATH: return "<path>";
	case CLI_ENUM: return "<word>";
	default: return "<text>";
	}
}

static void modes(const struct page_src *p)
{
	size_t i;

	for (i = 0; i < p->cli->nmodes; i++) {
		printf("*-mode %s*\n\t", p->cli->modes[i].name);
		put(p->cli->modes[i].help);
		printf("\n\n");
	}
}

static void opts(const struct page_src *p)
{
	const struct cli_opt *o;
	size_t i, m;
	int first;

	for (i = 0; i < p->cli->nopts; i++) {
		o = &p->cli->opts[i];
		printf("*-%s*", o->name);
		if (o->alias != NULL)
			printf(", *-%s*", o->alias);
		if (o->type != CLI_FLAG) {
			printf(" _");
			put(metavar(o));
			printf("_");
		}
		printf("\n\t");
		put(o->help);
		if (o->type == CLI_INT && o->min != o->max)
			printf(" (%lld-%lld)", o->min, o->max);
		if (o->def != NULL) {
			printf("; default ");
			put(o->def);
		}
		if (o->cfgkey != NULL)
			printf("; config key *%s*", o->cfgkey);
		if (o->modes != 0) {
			printf("; with");
			for (m = 0, first = 1; m < p->cli->nmodes; m++)
				if (o->modes & CLI_MODE(m)) {
					printf("%s -mode %s", first ? "" : ",", p->cli->modes[m].name);
					first = 0;
				}
		}
		printf(".\n\n");
	}
}

static void keys(const struct page_src *p)
{
	const struct cfg_key *k;
	const char *section = "";
	size_t i;

	for (i = 0; i < p->cfg->nkeys; i++) {
		k = &p->cfg->keys[i];
		if (strcmp(section, k->section) != 0) {
			section = k->section;
			printf("## [%s]\n\n", section);
		}
		printf("*%s* = ", k->name);
		switch (k->type) {
		case CFG_INT:
			printf("_integer_\n\t");
			put(k->help);
			printf(" (%lld-%lld; default %lld).\n\n", k->min, k->max, k->def_num);
			break;
		case CFG_BOOL:
			printf("_boolean_\n\t");
			put(k->help);
			printf(" (0/1, yes/no, true/false, on/off; default %lld).\n\n", k->def_num);
			break;
		default:
			printf(k->type == CFG_PATH ? "_path_\n\t" : "_text_\n\t");
			put(k->help);
			printf(" (default ");
			if (k->def_str[0] == '\0')
				printf("empty");
			else
				put(k->def_str);
			printf(").\n\n");
			break;
		}
	}
}

static void names(const struct page_src *p)
{
	size_t i;

	for (i = 0; i < p->cli->nmodes; i++)
		printf("-mode %s\n", p->cli->modes[i].name);
	for (i = 0; i < p->cli->nopts; i++)
		printf("-%s\n", p->cli->opts[i].name);
	for (i = 0; i < p->cfg->nkeys; i++)
		printf("%s\n", p->cfg->keys[i].name);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && strcmp(argv[1], "usbids") == 0) {
		printf("%04x %04x\n", (unsigned)USBPED_DEFAULT_VID, (unsigned)USBPED_DEFAULT_PID);
		return 0;
	}
	for (i = 0; argc == 3 && i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (strcmp(argv[2], progs[i].name) != 0)
			continue;
		if (strcmp(argv[1], "modes") == 0)
			modes(&progs[i]);
		else if (strcmp(argv[1], "opts") == 0)
			opts(&progs[i]);
		else if (strcmp(argv[1], "keys") == 0)
			keys(&progs[i]);
		else if (strcmp(argv[1], "names") == 0)
			names(&progs[i]);
		else
			break;
		return fflush(stdout) == 0 ? 0 : 1;
	}
	fprintf(stderr, "usage: mangen modes|opts|keys|names pedserver|pedclient | mangen usbids\n");
	return 2;
}
