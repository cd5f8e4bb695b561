/* SPDX-License-Identifier: MIT */
/*
 * recipe.cc - step 5c: the recipe of a unit whose text is made later.
 *
 * A file without a tagged function needs its unit text (slice.cc) only
 * when a service of the program first reaches into it, at a first call,
 * and most files of most programs never are. Preprocessing each of them a
 * second time at the build cost 6-9% of an untagged build. So the build
 * records, in the unit's unit.txt, how that preprocessing would have run
 * and what it would have read (runtime/common/tl_recipe_format.h has
 * the format):
 *
 *   - cc1's path and options (the input among them), the working folder,
 *     the environment variables cc1 reads for include paths, the build's
 *     SOURCE_DATE_EPOCH (so __DATE__ and __TIME__ stay the build's), and
 *     this plugin's path;
 *   - every file the compile read, from the line maps: absolute path,
 *     size, mtime in nanoseconds and a hash of its content.
 *
 * At the first call that needs the unit the runtime (runtime/client/
 * tl_unit_recipe.c) checks every input: changed or gone fails the call,
 * saying which file and to rebuild, since the text would no longer be what
 * the program was compiled from. Otherwise it runs cc1 with these options,
 * -fsyntax-only and this plugin in mode=unit, which preprocesses exactly as
 * the build would have and writes unit.i into the folder (unit.cc).
 *
 * The folder's key hashes the recipe without the mtimes and the epoch, so
 * the same text compiled twice (another checkout, touch, two programs)
 * shares a folder, and any change of an input, an option or the compiler
 * makes another. Reading every input again costs about a millisecond per
 * hundred headers, from the page cache; the hash is what lets a compiler
 * cache's object (ccache), whose files have other mtimes, still be made.
 */
#include "tl_plugin.h"
#include "tl_recipe_format.h"
#include "input.h"
#include "diagnostic-core.h"
#include <sys/stat.h>
#include <fcntl.h>

/* A value that fits on one line of unit.txt. */
static bool tl_one_line(const char *s)
{
	return !strchr(s, '\n') && !strchr(s, '\r');
}

/* "key=value\n", folded into *key when key is not NULL. */
static void tl_recipe_line(struct tl_strbuf *text, uint64_t *key, const char *name,
			   const char *value)
{
	size_t start = text->len;

	tl_buf_printf(text, "%s=%s\n", name, value);
	if (key)
		*key = tl_fnv1a(*key, text->data + start, text->len - start);
}

static long long tl_mtime_ns(const struct stat *st)
{
	return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* The whole file in *buf (grown as needed); false when it cannot be read. */
static bool tl_read_whole(int fd, size_t size, char **buf, size_t *cap)
{
	size_t len = 0;
	ssize_t n;

	if (size + 1 > *cap) {
		*cap = size + 1;
		*buf = (char *)xrealloc(*buf, *cap);
	}
	while (len < size) {
		n = read(fd, *buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		len += n;
	}
	return true;
}

/* input=SIZE MTIME HASH PATH for the file cc1 read as name. */
static bool tl_recipe_input(struct tl_strbuf *text, uint64_t *key, const char *name,
			    char **buf, size_t *cap)
{
	char *path = IS_ABSOLUTE_PATH(name) ? xstrdup(name) : concat(getpwd(), "/", name, NULL);
	char *line = NULL;
	struct stat st;
	uint64_t h;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = false;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && tl_one_line(path) &&
	    tl_read_whole(fd, st.st_size, buf, cap)) {
		h = tl_content_hash(TL_RECIPE_HASH_SEED, *buf, st.st_size);
		/* the key: what the file is, not when it was written */
		line = xasprintf("%lld %016llx %s", (long long)st.st_size, (unsigned long long)h,
				 path);
		*key = tl_fnv1a(*key, line, strlen(line) + 1);
		free(line);
		line = xasprintf("%lld %lld %016llx %s", (long long)st.st_size, tl_mtime_ns(&st),
				 (unsigned long long)h, path);
		tl_recipe_line(text, NULL, "input", line);
		free(line);
		ok = true;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return ok;
}

/* Every file the line maps name, once: the main file, each header, each
 * -include. Built-in and command-line text ("<built-in>") is no file. */
static bool tl_recipe_inputs(struct tl_strbuf *text, uint64_t *key)
{
	hash_set<const char *, false, nofree_string_hash> seen;
	const char *last = NULL;
	char *buf = NULL;
	size_t cap = 0;
	unsigned i, n = LINEMAPS_ORDINARY_USED(line_table);
	bool ok = true;

	for (i = 0; i < n && ok; i++) {
		const line_map_ordinary *map = LINEMAPS_ORDINARY_MAP_AT(line_table, i);
		const char *name = ORDINARY_MAP_FILE_NAME(map);

		/* consecutive maps of one file share its name */
		if (!name || name == last || !*name || *name == '<')
			continue;
		last = name;
		if (seen.add(name))
			continue;
		ok = tl_recipe_input(text, key, name, &buf, &cap);
	}
	free(buf);
	return ok;
}

/*
 * Append this compile's recipe lines to text, folding all but the mtimes
 * and the epoch into *key. False when this compile cannot have one (no
 * cc1 or plugin path, a line break in an option, an input that cannot be
 * read): then the unit is made at the build, as before.
 */
bool tl_recipe_write(struct tl_strbuf *text, uint64_t *key)
{
	static const char *const env[] = TL_RECIPE_ENV;
	const char *cc1 = tl_cc1_path();
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	vec<const char *> options = tl_preprocess_options();
	struct stat st;
	char *line;
	unsigned i;
	bool ok = cc1 && tl_plugin_path && tl_one_line(cc1) && tl_one_line(tl_plugin_path) &&
		  tl_one_line(getpwd()) && stat(cc1, &st) == 0;

	for (i = 0; ok && i < options.length(); i++)
		ok = tl_one_line(options[i]);
	for (i = 0; ok && i < ARRAY_SIZE(env); i++)
		ok = !getenv(env[i]) || tl_one_line(getenv(env[i]));
	if (!ok) {
		options.release();
		return false;
	}
	tl_recipe_line(text, key, "cwd", getpwd());
	tl_recipe_line(text, key, "cc1", cc1);
	line = xasprintf("%lld %lld %s", (long long)st.st_size, tl_mtime_ns(&st), cc1);
	tl_recipe_line(text, key, "tool", line);
	free(line);
	tl_recipe_line(text, key, "plugin", tl_plugin_path);
	tl_recipe_line(text, key, "plugin_base", tl_plugin_base);
	/* __DATE__ and __TIME__ of the build, not of the first call */
	if (epoch && *epoch && strspn(epoch, "0123456789") == strlen(epoch))
		line = xstrdup(epoch);
	else
		line = xasprintf("%lld", (long long)time(NULL));
	tl_recipe_line(text, NULL, "epoch", line);
	free(line);
	for (i = 0; i < ARRAY_SIZE(env); i++)
		if (getenv(env[i])) {
			line = concat(env[i], "=", getenv(env[i]), NULL);
			tl_recipe_line(text, key, "env", line);
			free(line);
		}
	for (i = 0; i < options.length(); i++)
		tl_recipe_line(text, key, "arg", options[i]);
	options.release();
	return tl_recipe_inputs(text, key);
}

/* mode=unit: the options a recipe recorded, for the preprocessing child
 * (slice.cc), so that it runs exactly as the build's would have. */
vec<const char *> tl_recipe_options(const char *dir)
{
	vec<const char *> options = vNULL;
	char *path = concat(dir, "/unit.txt", NULL);
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		fatal_error(UNKNOWN_LOCATION, "turbolift: cannot read the recipe %qs: %s", path,
			    xstrerror(errno));
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (!strncmp(line, "arg=", 4))
			options.safe_push(xstrdup(line + 4));
	}
	free(line);
	fclose(f);
	free(path);
	return options;
}
