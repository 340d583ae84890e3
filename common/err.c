/* err.c - names and messages of the error table in err.h. */
#include "err.h"

#include <stddef.h>

#define PED_ERR_ROW(sym, num, name, msg) [num] = {name, msg},
static const struct {
	const char *name;
	const char *msg;
} err_table[] = {
	[0] = {"OK", "no error"},
	PED_ERR_MAP(PED_ERR_ROW)
};
#undef PED_ERR_ROW

#define ERR_COUNT (sizeof(err_table) / sizeof(err_table[0]))

const char *ped_errname(int code)
{
	unsigned idx = code <= 0 ? (unsigned)-code : ERR_COUNT;
	if (idx >= ERR_COUNT || err_table[idx].name == NULL)
		return "UNKNOWN_ERROR";
	return err_table[idx].name;
}

const char *ped_strerror(int code)
{
	unsigned idx = code <= 0 ? (unsigned)-code : ERR_COUNT;
	if (idx >= ERR_COUNT || err_table[idx].msg == NULL)
		return "unknown error";
	return err_table[idx].msg;
}
