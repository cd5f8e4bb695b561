/* SPDX-License-Identifier: MIT */
/*
 * slice.cc - step 5: the unit text and the service translation unit.
 *
 * Both are cut from the translation unit exactly as the compiler saw it:
 * cc1 preprocesses the input again with the same options, and the text is
 * split into top-level declarations. For a file with a tagged function
 * that happens at the build, in a child started beside cc1's parse; for
 * any other file at the first call that needs its unit, when the runtime
 * runs cc1 with this plugin in mode=unit on the recipe the build left
 * (recipe.cc). The unit text (what unit.cc stores for every file compiled
 * with the plugin) is all of them except
 *
 *   - main (the service's main is in libturbolift-service.a);
 *   - constructors and destructors that nothing in the text names (they
 *     would run in every service; the tagged function does not reach them).
 *
 * Which functions and data a service contains is decided at its link, by
 * the linker: units are compiled with -ffunction-sections -fdata-sections
 * and linked with --gc-sections from the dispatcher (docs/multifile.md), so
 * a service holds what the tagged function reaches in any unit, and
 * nothing else. #line directives keep diagnostics pointing at the user's
 * files. The service text is the tagged function's own unit plus a note
 * naming that unit; emit.cc adds the dispatcher (docs/abi.md, section 4).
 */
#include "tl_plugin.h"
#include "options.h"
#include "opts.h"
#include "toplev.h"
#include "stringpool.h"
#include "cgraph.h"
#include "diagnostic-core.h"
#include <sys/stat.h>
#include <fcntl.h>
#include <signal.h>

enum tl_tok_kind { TOK_IDENT, TOK_PUNCT, TOK_OP, TOK_LITERAL, TOK_DIRECTIVE };

struct tl_token {
	unsigned start, len;
	unsigned line;
	unsigned file;		/* index into tl_lexer.files */
	enum tl_tok_kind kind;
	char punct;		/* for TOK_PUNCT */
};

enum tl_chunk_kind { CHUNK_DIRECTIVE, CHUNK_FUNCTION, CHUNK_DECLARATION };

struct tl_chunk {
	unsigned first, last;		/* token range, inclusive */
	enum tl_chunk_kind kind;
	tree name;			/* CHUNK_FUNCTION: the function defined */
};

struct tl_lexer {
	const char *text;
	size_t size;
	vec<tl_token> tokens;
	vec<const char *> files;
	vec<tl_chunk> chunks;
};

/* ---- 1. preprocess the input again, with the options cc1 got ---------- */

static bool tl_skip_option(const struct cl_decoded_option *opt)
{
	const char *text = opt->canonical_option[0];

	switch (opt->opt_index) {
	case OPT_SPECIAL_program_name:
	case OPT_o:
	case OPT_dumpbase:
	case OPT_dumpbase_ext:
	case OPT_dumpdir:
	case OPT_M: case OPT_MM: case OPT_MD: case OPT_MMD: case OPT_MF:
	case OPT_MT: case OPT_MQ: case OPT_MP: case OPT_MG:
	/* the preprocessor needs only the plugin's macro (given instead below),
	 * not a second load of the plugin */
	case OPT_fplugin_: case OPT_fplugin_arg_:
	/* what the first call adds to a recipe's options (mode=unit) */
	case OPT_fsyntax_only:
		return true;
	default:
		break;
	}
	return !text || !strncmp(text, "-fdump", 6) || !strncmp(text, "-aux-info", 9) ||
	       !strncmp(text, "-fstack-usage", 13) || !strncmp(text, "-fcallgraph-info", 16);
}

/* The input file as cc1 got it: a path, or "-" for stdin. */
static const char *tl_input_file(void)
{
	unsigned i;

	for (i = 0; i < save_decoded_options_count; i++)
		if (save_decoded_options[i].opt_index == OPT_SPECIAL_input_file)
			return save_decoded_options[i].arg;
	return NULL;
}

/* -fpreprocessed: the input is already the text (-save-temps, distcc). */
static bool tl_input_preprocessed(void)
{
	unsigned i;

	for (i = 0; i < save_decoded_options_count; i++)
		if (save_decoded_options[i].opt_index == OPT_fpreprocessed)
			return true;
	return false;
}

/* cc1's options for the second preprocessing, the input file among them,
 * without the ones that write files or load plugins: what the child gets
 * after "cc1 -E -D__TURBOLIFT__=1", and what a deferred unit's recipe
 * records for the first call (recipe.cc). The strings are cc1's. */
vec<const char *> tl_preprocess_options(void)
{
	vec<const char *> args = vNULL;
	unsigned i, j;

	for (i = 0; i < save_decoded_options_count; i++) {
		const struct cl_decoded_option *opt = &save_decoded_options[i];

		if (tl_skip_option(opt))
			continue;
		if (opt->opt_index == OPT_SPECIAL_input_file) {
			args.safe_push(opt->arg);
			continue;
		}
		for (j = 0; j < opt->canonical_option_num_elements; j++)
			args.safe_push(opt->canonical_option[j]);
	}
	return args;
}

/*
 * The second preprocessing runs beside cc1: tl_preprocess_start forks it,
 * and tl_read_preprocessed collects it after parsing. It does less than
 * cc1 has done by then (cc1 preprocesses too, and parses), so on a free CPU
 * the build hardly waits for it (docs/multifile.md, "Build time").
 *
 * Only a file with a tagged function needs it at the build: the others
 * leave a recipe instead (recipe.cc), and their text is made at the first
 * call that needs it. So the child starts when the unit starts only if the
 * file's own code names the tag (TURBOLIFT(...), the attribute), and
 * otherwise as soon as the attribute handler sees a tag that came from
 * elsewhere (a project's macro in a header): a file that is untagged
 * never forks, and one that only looked tagged stops its child as soon as
 * the call graph shows no service (tl_preprocess_cancel).
 */
static struct tl_child tl_cpp_child = { -1, -1 };
static char *tl_cpp_output;		/* the .i it writes, or the input itself */
static bool tl_cpp_input_preprocessed;	/* -fpreprocessed: nothing to run     */
static bool tl_cpp_started;		/* tl_preprocess_start ran             */
static bool tl_cpp_failed_to_start;
static char *tl_cpp_stdin;		/* stdin's bytes, kept for the child   */

/*
 * cc1 reads stdin (gcc -x c -) once, so the child could not read it again:
 * before cc1 reads it (plugin_init runs first), copy it into a file and put
 * that file on cc1's stdin; the child gets the same file as its stdin, so
 * its text names "<stdin>" as cc1's does. Such a file can only be a unit
 * made at the build (tl_unit_deferrable).
 */
void tl_preprocess_init(void)
{
	const char *input = tl_input_file();
	char buf[65536];
	ssize_t n;
	int fd, in;
	bool ok = true;

	if (!input || strcmp(input, "-"))
		return;
	tl_cpp_stdin = xstrdup("/tmp/turbolift-stdin-XXXXXX");
	fd = mkstemp(tl_cpp_stdin);
	if (fd < 0) {
		free(tl_cpp_stdin);
		tl_cpp_stdin = NULL;
		return;	/* reported when the text is needed */
	}
	while (ok && (n = read(0, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0 && write(fd, buf, n) == n;
	}
	close(fd);
	in = ok ? open(tl_cpp_stdin, O_RDONLY) : -1;
	if (in < 0 || dup2(in, 0) < 0)
		fatal_error(UNKNOWN_LOCATION, "turbolift: cannot keep a copy of stdin in %qs: %s",
			    tl_cpp_stdin, xstrerror(errno));
	close(in);
}

/* Is text[0..len) the name of the tag: TURBOLIFT (the macro), turbolift or
 * __turbolift__ (the attribute), in any case? */
static bool tl_tag_word(const char *text, size_t len)
{
	if (len == 13 && !strncmp(text, "__", 2) && !strncmp(text + 11, "__", 2)) {
		text += 2;
		len -= 4;
	}
	return len == 9 && !strncasecmp(text, "turbolift", 9);
}

/*
 * Does the code of text[0..len) name the tag, outside comments, string and
 * character literals and #include lines? The runtime's own files, a log
 * message or a comment about the plugin do not make a file tagged, and
 * neither does <turbolift.h> alone; a tag the text does not spell is found
 * by the attribute handler anyway, only later.
 */
static bool tl_spells_tag(const char *s, size_t n)
{
	size_t i = 0, start;
	bool line_start = true;

	while (i < n) {
		char c = s[i];

		if (c == '\n') {
			line_start = true;
			i++;
		} else if (c == '/' && i + 1 < n && s[i + 1] == '/') {
			while (i < n && s[i] != '\n')
				i += s[i] == '\\' ? 2 : 1;
		} else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
			for (i += 2; i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'); i++)
				;
			i += 2;
		} else if (c == '"' || c == '\'') {
			for (i++; i < n && s[i] != c && s[i] != '\n'; i++)
				if (s[i] == '\\')
					i++;
			i++;
		} else if (c == '#' && line_start) {
			size_t p = i + 1;

			while (p < n && (s[p] == ' ' || s[p] == '\t'))
				p++;
			if (p + 7 <= n && (!strncmp(s + p, "include", 7) || !strncmp(s + p, "import", 6)))
				while (i < n && s[i] != '\n')
					i++;
			else
				i = p;
			line_start = false;
		} else if (ISIDST(c)) {
			for (start = i; i < n && ISIDNUM(s[i]); i++)
				;
			if (tl_tag_word(s + start, i - start))
				return true;
			line_start = false;
		} else {
			line_start = line_start && ISSPACE(c);
			i++;
		}
	}
	return false;
}

/* Does the file's code name the tag (tl_spells_tag)? Unreadable: yes,
 * which only means preprocessing as before. */
static bool tl_mentions_turbolift(const char *path)
{
	struct stat st;
	char *text;
	size_t len = 0;
	ssize_t n;
	bool found = true;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return true;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return true;
	}
	text = XNEWVEC(char, st.st_size + 1);
	while (len < (size_t)st.st_size && (n = read(fd, text + len, st.st_size - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += n;
	}
	close(fd);
	if (len == (size_t)st.st_size)
		found = tl_spells_tag(text, len);
	free(text);
	return found;
}

void tl_preprocess_start(void)
{
	vec<const char *> argv = vNULL, options;
	const char *cc1 = tl_cc1_path();
	const char *input;
	unsigned i;
	int fd;

	if (tl_cpp_started)
		return;
	tl_cpp_started = true;
	if (tl_input_preprocessed()) {
		/* the input is already the preprocessed text (-save-temps);
		 * main_input_filename names the original source by then */
		input = tl_input_file();
		tl_cpp_output = xstrdup(tl_cpp_stdin ? tl_cpp_stdin :
					input ? input : main_input_filename);
		tl_cpp_input_preprocessed = true;
		return;
	}
	tl_cpp_failed_to_start = true;
	if (!cc1)
		return;
	tl_cpp_output = xstrdup("/tmp/turbolift-cpp-XXXXXX.i");
	fd = mkstemps(tl_cpp_output, 2);
	if (fd < 0) {
		free(tl_cpp_output);
		tl_cpp_output = NULL;
		return;
	}
	close(fd);
	/* mode=unit makes the text a recipe describes: exactly its options */
	options = tl_build_mode_option == TL_BUILD_UNIT ? tl_recipe_options(tl_unit_dir_option)
							: tl_preprocess_options();
	argv.safe_push(cc1);
	argv.safe_push("-E");
	argv.safe_push("-D__TURBOLIFT__=1");	/* what tl_predefine_macro defines */
	for (i = 0; i < options.length(); i++)
		argv.safe_push(options[i]);
	argv.safe_push("-o");
	argv.safe_push(tl_cpp_output);
	argv.safe_push(NULL);
	tl_cpp_failed_to_start = !tl_run_start_input(argv.address(), &tl_cpp_child, tl_cpp_stdin);
	argv.release();
	options.release();
}

/* When the unit starts, before cc1 parses: a file whose code names the tag
 * (or that comes from stdin, or is already preprocessed, or is a recipe
 * being made) gets its text now; any other file only once a tag turns up. */
void tl_preprocess_unit_start(void)
{
	const char *input = tl_input_file();

	if (tl_build_mode_option == TL_BUILD_UNIT || !tl_unit_deferrable() ||
	    tl_mentions_turbolift(input))
		tl_preprocess_start();
}

/* Can this file's text be made later, from its recipe? Not from stdin
 * (gone after the build) nor from text that was preprocessed elsewhere. */
bool tl_unit_deferrable(void)
{
	const char *input = tl_input_file();

	return input && strcmp(input, "-") && !tl_cpp_stdin && !tl_input_preprocessed();
}

/* Reap the child and remove its output, whether or not it was read (a file
 * with errors never reads it). */
void tl_preprocess_discard(void)
{
	char *output = NULL;

	if (tl_cpp_child.pid > 0) {
		tl_run_wait(&tl_cpp_child, &output);
		free(output);
		tl_cpp_child.pid = -1;
	}
	if (tl_cpp_output && !tl_cpp_input_preprocessed)
		unlink(tl_cpp_output);
	free(tl_cpp_output);
	tl_cpp_output = NULL;
	if (tl_cpp_stdin) {
		unlink(tl_cpp_stdin);
		free(tl_cpp_stdin);
		tl_cpp_stdin = NULL;
	}
}

/* A file that turned out to have no service leaves a recipe: a child
 * started because its code seemed to name the tag is not waited for. A
 * later tl_preprocess_start starts afresh. */
void tl_preprocess_cancel(void)
{
	if (tl_cpp_child.pid > 0)
		kill(tl_cpp_child.pid, SIGKILL);
	tl_preprocess_discard();
	tl_cpp_started = tl_cpp_input_preprocessed = tl_cpp_failed_to_start = false;
}

bool tl_read_preprocessed(struct tl_strbuf *out)
{
	char *output = NULL;
	FILE *f;
	bool ok;

	tl_preprocess_start();	/* at once, if nothing started it before */
	if (!tl_cpp_input_preprocessed) {
		if (tl_cpp_failed_to_start || tl_cpp_child.pid <= 0) {
			error("turbolift: cannot start cc1 to preprocess %qs again for the service: %s",
			      main_input_filename, tl_cc1_path() ? xstrerror(errno) : "cc1 not found");
			tl_preprocess_discard();
			return false;
		}
		ok = tl_run_wait(&tl_cpp_child, &output);
		tl_cpp_child.pid = -1;
		if (!ok) {
			error("turbolift: preprocessing %qs again for the service failed: %s",
			      main_input_filename, output ? output : "no output");
			free(output);
			tl_preprocess_discard();
			return false;
		}
		free(output);
	}
	f = fopen(tl_cpp_output, "rb");
	if (f) {
		char block[65536];
		size_t n;

		while ((n = fread(block, 1, sizeof(block), f)) > 0)
			tl_buf_append(out, block, n);
		fclose(f);
	}
	tl_preprocess_discard();
	if (!out->data) {
		error("turbolift: cannot read the preprocessed %qs", main_input_filename);
		return false;
	}
	return true;
}

/* ---- 2. tokens, just enough of C to find top-level declarations -------- */

static bool tl_is_ident_start(char c)
{
	return ISALPHA(c) || c == '_' || c == '$';
}

static unsigned tl_file_index(struct tl_lexer *lx, const char *name, size_t len)
{
	unsigned i;

	for (i = 0; i < lx->files.length(); i++)
		if (strlen(lx->files[i]) == len && !memcmp(lx->files[i], name, len))
			return i;
	lx->files.safe_push(xstrndup(name, len));
	return lx->files.length() - 1;
}

static void tl_lex(struct tl_lexer *lx)
{
	const char *s = lx->text;
	size_t n = lx->size, i = 0;
	unsigned line = 1, file = tl_file_index(lx, main_input_filename, strlen(main_input_filename));
	bool line_start = true;

	while (i < n) {
		char c = s[i];
		struct tl_token tok;

		if (c == '\n') {
			line++;
			line_start = true;
			i++;
			continue;
		}
		if (ISSPACE(c)) {
			i++;
			continue;
		}
		tok.start = i;
		tok.line = line;
		tok.file = file;
		tok.punct = 0;
		if (c == '#' && line_start) {
			size_t end = i;
			size_t p = i + 1;

			while (end < n && s[end] != '\n')
				end++;
			while (p < end && (s[p] == ' ' || s[p] == '\t'))
				p++;
			if (p < end && ISDIGIT(s[p])) {
				/* line marker: # N "file" flags */
				unsigned next_line = (unsigned)atoi(s + p);
				const char *q = (const char *)memchr(s + p, '"', end - p);

				if (q) {
					const char *qe = q + 1;

					while (qe < s + end && *qe != '"')
						qe += (*qe == '\\') ? 2 : 1;
					file = tl_file_index(lx, q + 1, qe - q - 1);
				}
				i = end < n ? end + 1 : end;
				line = next_line;
				continue;
			}
			tok.kind = TOK_DIRECTIVE;
			tok.len = end - i;
			lx->tokens.safe_push(tok);
			i = end;
			continue;
		}
		line_start = false;
		if (c == '/' && i + 1 < n && s[i + 1] == '*') {
			const char *e = strstr(s + i + 2, "*/");
			size_t stop = e ? (size_t)(e - s) + 2 : n;

			for (; i < stop; i++)
				line += s[i] == '\n';
			continue;
		}
		if (c == '/' && i + 1 < n && s[i + 1] == '/') {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		if (tl_is_ident_start(c)) {
			while (i < n && (ISALNUM(s[i]) || s[i] == '_' || s[i] == '$'))
				i++;
			tok.kind = TOK_IDENT;
		} else if (ISDIGIT(c) || (c == '.' && i + 1 < n && ISDIGIT(s[i + 1]))) {
			while (i < n && (ISALNUM(s[i]) || s[i] == '_' || s[i] == '.' ||
					 ((s[i] == '+' || s[i] == '-') &&
					  strchr("eEpP", s[i - 1]))))
				i++;
			tok.kind = TOK_LITERAL;
		} else if (c == '"' || c == '\'') {
			i++;
			while (i < n && s[i] != c && s[i] != '\n')
				i += (s[i] == '\\') ? 2 : 1;
			i++;
			tok.kind = TOK_LITERAL;
		} else if (i + 1 < n && s[i + 1] == '=' && strchr("=!<>+-*/%&|^", c)) {
			i += 2;
			tok.kind = TOK_OP;
		} else if (i + 1 < n && c == '-' && s[i + 1] == '>') {
			i += 2;
			tok.kind = TOK_OP;
		} else {
			i++;
			tok.kind = TOK_PUNCT;
			tok.punct = c;
		}
		tok.len = i - tok.start;
		lx->tokens.safe_push(tok);
	}
}

static bool tl_tok_is(const struct tl_lexer *lx, unsigned k, const char *word)
{
	const struct tl_token *t = &lx->tokens[k];

	return t->kind == TOK_IDENT && strlen(word) == t->len &&
	       !memcmp(lx->text + t->start, word, t->len);
}

static bool tl_tok_punct(const struct tl_lexer *lx, unsigned k, char c)
{
	return k < lx->tokens.length() && lx->tokens[k].kind == TOK_PUNCT && lx->tokens[k].punct == c;
}

/* Parenthesised groups whose contents declare nothing. */
static bool tl_is_group_keyword(const struct tl_lexer *lx, unsigned k)
{
	static const char *const words[] = {
		"__attribute__", "__attribute", "__asm__", "__asm", "asm",
		"__typeof__", "__typeof", "typeof", "_Alignas", "_Static_assert",
		"__declspec", "__alignof__", "_Alignof", "sizeof",
	};
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (tl_tok_is(lx, k, words[i]))
			return true;
	return false;
}

static tree tl_tok_identifier(const struct tl_lexer *lx, unsigned k)
{
	const struct tl_token *t = &lx->tokens[k];

	return get_identifier_with_length(lx->text + t->start, t->len);
}

/* ---- 3. split into top-level chunks ------------------------------------- */

/* "int f(a, b) int a; char *b; { ... }": the ';' of each parameter
 * declaration ended a chunk. Join the body with the chunks back to the one
 * whose declarator list closes with ')' followed by more declarations, so
 * that the definition is one function chunk (and main is found by name). */
static void tl_join_old_style(struct tl_lexer *lx, struct tl_chunk *body)
{
	unsigned n = lx->chunks.length(), back, k;

	for (back = 1; back <= n && back <= 64; back++) {
		const struct tl_chunk *c = &lx->chunks[n - back];
		int depth = 0;

		if (c->kind != CHUNK_DECLARATION)
			return;
		for (k = c->first; k < c->last; k++) {
			if (tl_tok_punct(lx, k, '(') || tl_tok_punct(lx, k, '['))
				depth++;
			else if (tl_tok_punct(lx, k, ')') || tl_tok_punct(lx, k, ']'))
				depth--;
			if (depth == 0 && tl_tok_punct(lx, k, ')') &&
			    lx->tokens[k + 1].kind == TOK_IDENT && !tl_is_group_keyword(lx, k + 1)) {
				body->first = c->first;
				lx->chunks.truncate(n - back);
				return;
			}
		}
	}
}

static void tl_split(struct tl_lexer *lx)
{
	unsigned count = lx->tokens.length(), k, first = 0;
	int paren = 0, brace = 0;
	bool is_body = false, top_equals = false, open = false;
	unsigned group_opener_prev = UINT_MAX, last_group_prev = UINT_MAX;

	for (k = 0; k < count; k++) {
		const struct tl_token *t = &lx->tokens[k];
		struct tl_chunk chunk;
		bool end = false;

		memset(&chunk, 0, sizeof(chunk));
		if (!open && t->kind == TOK_DIRECTIVE) {
			chunk.first = chunk.last = k;
			chunk.kind = CHUNK_DIRECTIVE;
			lx->chunks.safe_push(chunk);
			continue;
		}
		if (!open) {
			open = true;
			first = k;
			is_body = top_equals = false;
			group_opener_prev = last_group_prev = UINT_MAX;
		}
		if (t->kind == TOK_OP || t->kind != TOK_PUNCT)
			continue;
		switch (t->punct) {
		case '(':
		case '[':
			if (paren == 0 && brace == 0)
				group_opener_prev = k > first ? k - 1 : UINT_MAX;
			paren++;
			break;
		case ')':
		case ']':
			paren--;
			if (paren == 0 && brace == 0)
				last_group_prev = group_opener_prev;
			break;
		case '=':
			if (paren == 0 && brace == 0)
				top_equals = true;
			break;
		case '{':
			if (paren == 0 && brace == 0 && !top_equals && k > first &&
			    tl_tok_punct(lx, k - 1, ')') &&
			    !(last_group_prev != UINT_MAX && tl_is_group_keyword(lx, last_group_prev)))
				is_body = true;
			/* nothing at file scope starts with '{' but the body of an
			 * old-style definition, after its parameter declarations */
			if (paren == 0 && brace == 0 && k == first)
				is_body = true;
			brace++;
			break;
		case '}':
			brace--;
			if (brace == 0 && paren == 0 && is_body)
				end = true;
			break;
		case ';':
			if (brace == 0 && paren == 0)
				end = true;
			break;
		default:
			break;
		}
		/* cc1 accepted this text, so its brackets balance; a negative
		 * depth means the lexer above is wrong, which must not pass
		 * unnoticed into a service. */
		gcc_assert(brace >= 0 && paren >= 0);
		if (end) {
			chunk.first = first;
			chunk.last = k;
			chunk.kind = is_body ? CHUNK_FUNCTION : CHUNK_DECLARATION;
			if (is_body && tl_tok_punct(lx, first, '{'))
				tl_join_old_style(lx, &chunk);
			lx->chunks.safe_push(chunk);
			open = false;
		}
	}
	/* cc1 accepted the text, so it ends with a complete declaration; this
	 * only keeps a lexer mistake from dropping the last one */
	if (open) {
		struct tl_chunk chunk;

		memset(&chunk, 0, sizeof(chunk));
		chunk.first = first;
		chunk.last = count - 1;
		chunk.kind = CHUNK_DECLARATION;
		lx->chunks.safe_push(chunk);
	}
}

/* ---- 4. the name a function definition defines ------------------------ */

/* The declarator's name comes before its parameters: the first function
 * this file defines that the header names (which also finds "f" in
 * "int (f)(void)" and "int (*f(void))(int)"), skipping attribute, asm and
 * typeof groups. */
static void tl_describe(struct tl_lexer *lx, struct tl_chunk *c)
{
	unsigned k;
	int paren = 0;
	unsigned skip_until_paren = 0;

	if (c->kind != CHUNK_FUNCTION)
		return;
	for (k = c->first; k <= c->last && !c->name; k++) {
		const struct tl_token *t = &lx->tokens[k];

		if (t->kind == TOK_PUNCT) {
			if (t->punct == '(' || t->punct == '[')
				paren++;
			else if (t->punct == ')' || t->punct == ']') {
				if (skip_until_paren && paren == (int)skip_until_paren)
					skip_until_paren = 0;
				paren--;
			} else if (t->punct == '{' && paren == 0)
				return;	/* the body: nothing more is declared */
			continue;
		}
		if (t->kind != TOK_IDENT || skip_until_paren)
			continue;
		if (tl_is_group_keyword(lx, k) && tl_tok_punct(lx, k + 1, '(')) {
			skip_until_paren = paren + 1;
			continue;
		}
		if (tl_defined_functions->contains(tl_tok_identifier(lx, k)))
			c->name = tl_tok_identifier(lx, k);
	}
}

/* ---- 5. choose chunks: all but main and constructors nothing names ------ */

/* Constructors and destructors run in a process whether or not anything
 * reaches them: the linker keeps .init_array. Leaving them out keeps the
 * service to what the tagged function reaches; one that the text calls or
 * takes the address of stays (then it is reached). */
static void tl_find_constructors(hash_set<tree> *ctors)
{
	cgraph_node *node;

	FOR_EACH_FUNCTION(node)
		if ((DECL_STATIC_CONSTRUCTOR(node->decl) || DECL_STATIC_DESTRUCTOR(node->decl)) &&
		    DECL_NAME(node->decl))
			ctors->add(DECL_NAME(node->decl));
}

/* Does another function body, or an initializer, name c's function? */
static bool tl_named_elsewhere(struct tl_lexer *lx, const struct tl_chunk *c)
{
	unsigned i, k;

	for (i = 0; i < lx->chunks.length(); i++) {
		const struct tl_chunk *o = &lx->chunks[i];
		bool used = o->kind == CHUNK_FUNCTION;

		if (o == c || o->kind == CHUNK_DIRECTIVE)
			continue;
		for (k = o->first; k <= o->last; k++) {
			if (tl_tok_punct(lx, k, '='))
				used = true;	/* from here on: an initializer */
			else if (used && lx->tokens[k].kind == TOK_IDENT &&
				 tl_tok_identifier(lx, k) == c->name)
				return true;
		}
	}
	return false;
}

static bool tl_chunk_wanted(struct tl_lexer *lx, const struct tl_chunk *c, hash_set<tree> *ctors)
{
	if (c->kind != CHUNK_FUNCTION || !c->name)
		return true;
	if (MAIN_NAME_P(c->name))
		return false;
	return !ctors->contains(c->name) || tl_named_elsewhere(lx, c);
}

/* ---- 6. write the unit and the service text ---------------------------- */

static void tl_emit_range(struct tl_lexer *lx, struct tl_strbuf *out, unsigned first, unsigned last)
{
	const struct tl_token *a = &lx->tokens[first], *b = &lx->tokens[last];

	/* a line marker: the form a preprocessed (.i) file may hold */
	tl_buf_printf(out, "# %u \"%s\"\n", a->line, lx->files[a->file]);
	tl_buf_append(out, lx->text + a->start, b->start + b->len - a->start);
	tl_buf_puts(out, "\n");
}

bool tl_unit_text(const struct tl_strbuf *preprocessed, struct tl_strbuf *unit)
{
	struct tl_lexer lx;
	hash_set<tree> ctors;
	unsigned i;

	memset(&lx, 0, sizeof(lx));
	lx.text = preprocessed->data;
	lx.size = preprocessed->len;
	tl_lex(&lx);
	tl_split(&lx);
	tl_find_constructors(&ctors);

	tl_buf_printf(unit, "/* %s as turbolift links it into services: without main "
		      "and unnamed constructors. */\n", main_input_filename);
	for (i = 0; i < lx.chunks.length(); i++)
		tl_describe(&lx, &lx.chunks[i]);
	for (i = 0; i < lx.chunks.length(); i++) {
		struct tl_chunk *c = &lx.chunks[i];

		if (tl_chunk_wanted(&lx, c, &ctors))
			tl_emit_range(&lx, unit, c->first, c->last);
	}
	lx.tokens.release();
	lx.chunks.release();
	lx.files.release();
	return true;
}

/* "text" as a C string literal. */
static void tl_c_string(struct tl_strbuf *out, const char *text)
{
	tl_buf_puts(out, "\"");
	for (; *text; text++) {
		if (*text == '"' || *text == '\\')
			tl_buf_puts(out, "\\");
		tl_buf_append(out, text, 1);
	}
	tl_buf_puts(out, "\"");
}

bool tl_slice_service(const struct tl_strbuf *unit, struct tl_tagged *tagged,
		      struct tl_reach *reach ATTRIBUTE_UNUSED, struct tl_strbuf *service)
{
	/* The unit whole: the service link's --gc-sections keeps what the
	 * dispatcher reaches. The note says which unit this object stands for,
	 * so that the link does not take that unit a second time. */
	tl_buf_printf(service, "/* Service for %s, generated by turbolift from %s. */\n"
		      "__attribute__((section(\"" TL_UNIT_OF_SECTION "\"), used))\n"
		      "static const char __turbolift_unit_of[] = ",
		      IDENTIFIER_POINTER(DECL_NAME(tagged->decl)), main_input_filename);
	tl_c_string(service, tl_unit_dir);
	tl_buf_puts(service, ";\n");
	tl_buf_append(service, unit->data, unit->len);
	return true;	/* emit.cc appends the dispatcher */
}
