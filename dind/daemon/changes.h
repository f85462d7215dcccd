/* changes: `docker diff` from a container's overlay upper dir (changes.c). Prefix: chg_. */
#ifndef DINDD_CHANGES_H
#define DINDD_CHANGES_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "dind/base.h"

/* Docker's change kinds, as the API numbers them. */
enum chg_kind { CHG_MODIFY = 0, CHG_ADD = 1, CHG_DELETE = 2 };

/* overlayfs' whiteout: a character device 0:0. */
bool chg_is_whiteout(const struct stat *st);
/* The kind of an upper-dir entry: a whiteout is a deletion, else a modification when the lower
 * layers have the path, else an addition. */
enum chg_kind chg_kind_of(bool upper_whiteout, bool in_lower);
/* Whether path (relative) is visible in the union of lowers (NULL-terminated, top layer first). */
bool chg_in_lower(char *const *lowers, const char *path);
/* [{"Path": "/abs", "Kind": n}, ...] sorted by path, for an upper dir over lowers. */
int chg_compute(const char *upper, char *const *lowers, json_t **ret, dd_err *e);

#endif
