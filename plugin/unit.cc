/* SPDX-License-Identifier: MIT */
/*
 * unit.cc - step 5a: this file as a unit of the program's services.
 *
 * A tagged function may reach code in any of the program's files. Every
 * file compiled with the plugin in distributed mode, tagged or not, gets
 *
 *   <outdir>/units/<base>-<key>/unit.txt   how to compile it: source=,
 *                                          compiler=, flag= lines
 *   <outdir>/units/<base>-<key>/vars.txt   its variables (unitvars.cc)
 *   <outdir>/units/<base>-<key>/unit.i     the unit text (slice.cc): the
 *                                          preprocessed file without main
 *
 * and that folder's absolute path in its object, in the section
 * "turbolift_units": not allocated, so the program loads no byte of it and
 * neither --gc-sections nor strip removes it, and the object's code and
 * data stay exactly a plain build's. The linker concatenates the sections
 * of exactly the objects it links, archive members included only when
 * pulled in, so the running program lists the units it was made of: not
 * an older build of a file, not another program's. The runtime compiles
 * unit.i with -ffunction-sections -fdata-sections when a service first
 * needs it and links every unit into the service with --gc-sections
 * (runtime/client/tl_build.c, docs/multifile.md).
 *
 * A file with a tagged function writes unit.i at the build (its service
 * text is made from it). Any other file writes only a recipe into unit.txt
 * (recipe.cc), and the first call that needs the unit runs cc1 with this
 * plugin in mode=unit, which writes unit.i into that folder
 * (tl_emit_unit_into): the build does not preprocess it twice.
 *
 * A made unit's key hashes its text, the code generation options and the
 * compiler; a recipe's key hashes the recipe (recipe.cc). Either way a
 * folder never changes once written (files appear by rename, unit.i of a
 * recipe too) and concurrent builds of one file share it.
 */
#include "tl_plugin.h"
#include "version.h"
#include "stringpool.h"
#include "cgraph.h"
#include "diagnostic-core.h"
#include "output.h"
#include <sys/stat.h>

char *tl_unit_dir;

/* The file's base name without extension, as [A-Za-z0-9_] only. */
static char *tl_unit_base(void)
{
	char *base = xstrdup(lbasename(main_input_filename));
	char *dot = strrchr(base, '.'), *p;

	if (dot && dot != base)
		*dot = '\0';
	for (p = base; *p; p++)
		if (!ISALNUM(*p) && *p != '_')
			*p = '_';
	return base;
}

/* unit.txt's first lines: one "key=value" per line; values are never
 * quoted, and an option is one line, so options with spaces survive. */
static void tl_unit_recipe_head(struct tl_strbuf *text, vec<const char *> *flags)
{
	const char *driver = getenv("COLLECT_GCC");
	char *source = tl_absolute(main_input_filename);
	unsigned i;

	tl_buf_printf(text, "source=%s\ncompiler=%s\n", source, driver && *driver ? driver : "gcc");
	for (i = 0; i < flags->length(); i++)
		tl_buf_printf(text, "flag=%s\n", (*flags)[i]);
	free(source);
}

static bool tl_write_unit_recipe(const char *path, vec<const char *> *flags)
{
	struct tl_strbuf text = { NULL, 0, 0 };
	bool ok;

	tl_unit_recipe_head(&text, flags);
	ok = tl_write_file(path, text.data, text.len);
	tl_buf_free(&text);
	return ok;
}

/* <outdir>/units/<base>-<key>, absolute */
static char *tl_unit_folder(uint64_t key)
{
	char *outdir = tl_absolute(tl_outdir);
	char *base = tl_unit_base();
	char *dir = xasprintf("%s/units/%s-%016llx", outdir, base, (unsigned long long)key);

	free(base);
	free(outdir);
	return dir;
}

/* The folder's path in this object's turbolift_units section, as an asm
 * string (gas escapes: backslash and double quote): a top-level asm of the
 * unit before code generation, or straight into cc1's assembly output at
 * the end of the unit (tl_emit_unit_untagged). */
static void tl_emit_units_entry(const char *dir, bool now)
{
	struct tl_strbuf text = { NULL, 0, 0 };
	const char *p;

	tl_buf_puts(&text, "\t.pushsection " TL_UNITS_SECTION ",\"\",@progbits\n\t.asciz \"");
	for (p = dir; *p; p++) {
		if (*p == '"' || *p == '\\')
			tl_buf_puts(&text, "\\");
		tl_buf_append(&text, p, 1);
	}
	tl_buf_puts(&text, "\"\n\t.popsection");
	if (now)
		fprintf(asm_out_file, "%s\n", text.data);
	else
		symtab->finalize_toplevel_asm(build_string(text.len, text.data));
	tl_buf_free(&text);
}

static bool tl_store_unit(const struct tl_strbuf *unit, bool now)
{
	vec<const char *> flags = tl_compile_flags();
	char *dir, *c_path, *txt_path;
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned i;
	bool ok = true;
	struct stat st;

	h = tl_fnv1a(h, unit->data, unit->len);
	for (i = 0; i < flags.length(); i++)
		h = tl_fnv1a(h, flags[i], strlen(flags[i]) + 1);
	h = tl_fnv1a(h, version_string, strlen(version_string));
	dir = tl_unit_folder(h);
	c_path = concat(dir, "/unit.i", NULL);
	txt_path = concat(dir, "/unit.txt", NULL);

	/* unit.i last: its presence means the folder is complete */
	if (stat(c_path, &st) != 0) {
		if (!tl_mkdir_p(dir)) {
			error("turbolift: cannot create %qs: %s", dir, xstrerror(errno));
			ok = false;
		} else if (!tl_write_unit_recipe(txt_path, &flags) || !tl_write_unit_vars(dir) ||
			   !tl_write_file(c_path, unit->data, unit->len)) {
			error("turbolift: cannot write the unit of %qs into %qs: %s",
			      main_input_filename, dir, xstrerror(errno));
			ok = false;
		}
	} else {
		/* a folder an older plugin made has no vars.txt: without it,
		 * the variables of this file would not travel */
		char *vars_path = concat(dir, "/vars.txt", NULL);

		if (stat(vars_path, &st) != 0 && !tl_write_unit_vars(dir))
			ok = false;
		free(vars_path);
	}
	if (ok) {
		tl_emit_units_entry(dir, now);
		tl_unit_dir = dir;
	} else {
		free(dir);
	}
	flags.release();
	free(c_path);
	free(txt_path);
	return ok;
}

bool tl_emit_unit(const struct tl_strbuf *unit)
{
	return tl_store_unit(unit, false);
}

/*
 * A unit whose text is made at its first call: unit.txt holds the recipe
 * (recipe.cc) and is written last, so its presence means the folder is
 * complete. False when this compile cannot have a recipe; true once the
 * folder is named in the object, or an error was reported.
 */
static bool tl_store_recipe(bool now)
{
	vec<const char *> flags = tl_compile_flags();
	struct tl_strbuf text = { NULL, 0, 0 };
	uint64_t h = 0xcbf29ce484222325ULL;
	char *dir = NULL, *txt_path = NULL;
	struct stat st;
	bool ok = true;

	tl_unit_recipe_head(&text, &flags);
	h = tl_fnv1a(h, text.data, text.len);
	if (!tl_recipe_write(&text, &h)) {
		ok = false;
		goto done;
	}
	h = tl_fnv1a(h, version_string, strlen(version_string));
	dir = tl_unit_folder(h);
	txt_path = concat(dir, "/unit.txt", NULL);
	if (stat(txt_path, &st) != 0) {
		if (!tl_mkdir_p(dir)) {
			error("turbolift: cannot create %qs: %s", dir, xstrerror(errno));
			goto done;
		}
		if (!tl_write_unit_vars(dir))
			goto done;
		if (!tl_write_file(txt_path, text.data, text.len)) {
			error("turbolift: cannot write the unit of %qs into %qs: %s",
			      main_input_filename, dir, xstrerror(errno));
			goto done;
		}
	}
	tl_emit_units_entry(dir, now);
	tl_unit_dir = dir;
	dir = NULL;
done:
	flags.release();
	tl_buf_free(&text);
	free(dir);
	free(txt_path);
	return ok;
}

/*
 * A file without a tagged function: a recipe, and no second preprocessing
 * (docs/multifile.md, "Build time"); one whose text cannot be read again
 * (stdin, -fpreprocessed input) or that cannot have a recipe stores its
 * text now, as a tagged file does. now: straight into the assembly output
 * (PLUGIN_FINISH_UNIT runs before the target's end of file), else a
 * top-level asm (an LTO object, whose assembly is not what the final link
 * reads, at ALL_IPA_PASSES_START).
 */
void tl_emit_unit_untagged(bool now)
{
	struct tl_strbuf preprocessed = { NULL, 0, 0 }, unit = { NULL, 0, 0 };

	if (seen_error() || (now && !asm_out_file))
		return;
	if (tl_unit_deferrable() && tl_store_recipe(now)) {
		tl_preprocess_cancel();	/* started for a mention of turbolift */
		return;
	}
	if (tl_read_preprocessed(&preprocessed) && tl_unit_text(&preprocessed, &unit))
		tl_store_unit(&unit, now);
	tl_buf_free(&preprocessed);
	tl_buf_free(&unit);
}

/* mode=unit, at the end of cc1: the recipe's text into its folder, by
 * rename (two programs may make the same folder's unit at once). */
void tl_emit_unit_into(const char *dir)
{
	struct tl_strbuf preprocessed = { NULL, 0, 0 }, unit = { NULL, 0, 0 };
	char *path = concat(dir, "/unit.i", NULL);

	if (!seen_error() && tl_read_preprocessed(&preprocessed) &&
	    tl_unit_text(&preprocessed, &unit) && !tl_write_file(path, unit.data, unit.len))
		error("turbolift: cannot write %qs: %s", path, xstrerror(errno));
	tl_buf_free(&preprocessed);
	tl_buf_free(&unit);
	free(path);
}
