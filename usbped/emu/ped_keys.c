/* ped_keys.c - the emulated PED's key store: PED-key files DIR/<name>.key,
 * the slot, the listing. */
#include "usbped/emu/ped_int.h"

int ped_key_path(const ped_t *p, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s.key", p->keydir, name);
	return n < 0 || (size_t)n >= cap ? PED_E_TOO_LONG : 0;
}

/* Loads the key in the slot into *k. */
int ped_load_slot(ped_t *p, pedkey_t *k)
{
	char path[4096];
	int r;

	memset(k, 0, sizeof(*k));
	if (!p->slot_full)
		return PED_E_NOT_FOUND;
	if ((r = ped_key_path(p, p->slot, path, sizeof(path))) != 0)
		return r;
	return pedkey_load(path, k);
}

bool ped_keyname_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n < 1 || n > 32 || name[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

int ped_newkey(ped_t *p, const char *name)
{
	char path[4096];
	pedkey_t k;
	int r = PED_E_INVAL;

	memset(&k, 0, sizeof(k));
	if (!ped_keyname_ok(name))
		goto out;
	if ((r = ped_key_path(p, name, path, sizeof(path))) != 0)
		goto out;
	r = PED_E_EXISTS;
	if (sys_exists(path))
		goto out;
	if ((r = pedkey_blank(&k, "")) != 0 || (r = pedkey_save(path, &k)) != 0)
		goto out;
	log_info("new blank key %s", name);
	r = 0;
out:
	pedkey_wipe(&k);
	return r;
}

int ped_insert(ped_t *p, const char *name)
{
	char path[4096];
	struct stat st;
	int r;

	if (!ped_keyname_ok(name))
		return PED_E_INVAL;
	if ((r = ped_key_path(p, name, path, sizeof(path))) != 0)
		return r;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return PED_E_NOT_FOUND;
	if (p->slot_full)
		return PED_E_EXISTS;
	snprintf(p->slot, sizeof(p->slot), "%s", name);
	p->slot_full = true;
	log_info("key %s inserted", name);
	ped_refresh(p);
	if (p->io.changed != NULL)
		p->io.changed(p->io.arg);
	return 0;
}

int ped_remove(ped_t *p)
{
	if (!p->slot_full)
		return PED_E_NOT_FOUND;
	log_info("key %s removed", p->slot);
	p->slot_full = false;
	p->slot[0] = '\0';
	ped_refresh(p);
	if (p->io.changed != NULL)
		p->io.changed(p->io.arg);
	return 0;
}

const char *ped_slot(const ped_t *p)
{
	return p->slot_full ? p->slot : NULL;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ped_list_keys(ped_t *p, void (*line)(void *arg, const char *text), void *arg)
{
	char *names[LIST_MAX];
	char path[4096], text[128];
	size_t n = 0, i, len;
	struct dirent *de;
	pedkey_t k;
	DIR *d;
	int r = PED_E_IO;

	d = opendir(p->keydir);
	if (d == NULL)
		return PED_E_IO;
	while ((de = readdir(d)) != NULL && n < LIST_MAX) {
		len = strlen(de->d_name);
		if (len <= 4 || strcmp(de->d_name + len - 4, ".key") != 0)
			continue;
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			goto out;
		names[n][len - 4] = '\0';
		if (!ped_keyname_ok(names[n])) {
			free(names[n]);
			continue;
		}
		n++;
	}
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (i = 0; i < n; i++) {
		if (ped_key_path(p, names[i], path, sizeof(path)) != 0 || pedkey_load(path, &k) != 0)
			snprintf(text, sizeof(text), "%s UNREADABLE", names[i]);
		else if (k.label[0] == '\0')
			snprintf(text, sizeof(text), "%s %s", names[i], ped_type_name(k.type));
		else
			snprintf(text, sizeof(text), "%s %s %s", names[i], ped_type_name(k.type), k.label);
		pedkey_wipe(&k);
		line(arg, text);
	}
	r = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	closedir(d);
	return r;
}

