/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_recipe.h - make a unit's text at its first call, from the recipe
 * the plugin left instead of it (runtime/common/tl_unit_recipe.h,
 * docs/multifile.md, "Build time").
 */
#ifndef TL_UNIT_RECIPE_CLIENT_H
#define TL_UNIT_RECIPE_CLIENT_H

#include <stddef.h>

/* Does <dir>/unit.txt hold a recipe (cc1=), not just how to compile? */
int tl_unit_recipe_is(const char *dir);

/*
 * Make <dir>/unit.i: check that every file the build read is still what it
 * read (size and mtime, else content), then run the recorded cc1, from the
 * recorded folder, with the plugin in mode=unit, which writes unit.i by
 * rename. source names the unit in messages. 0, or -1 with err set (a
 * changed or missing input names the file and says to rebuild).
 */
int tl_unit_recipe_make(const char *dir, const char *source, long timeout_ms,
                        char *err, size_t errlen);

#endif /* TL_UNIT_RECIPE_CLIENT_H */
