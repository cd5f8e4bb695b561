/* SPDX-License-Identifier: MIT */
/*
 * slice.cc - step 5: the service translation unit.
 *
 * The service is cut from the translation unit exactly as the compiler saw
 * it: cc1 preprocesses the input again with the same options, the text is
 * split into top-level declarations, and only what the tagged function
 * reaches is kept:
 *
 *   - every type, typedef, prototype, extern declaration and pragma (cheap,
 *     and the kept code may need any of them);
 *   - the definitions of reachable functions and reachable globals;
 *   - no other function body, no other global, never main; a dropped global
 *     that also defines a struct keeps just the struct.
 *
 * The call graph (reach.cc) decides what is reachable; a textual pass then
 * adds file-scope names the kept text still mentions but the front end has
 * folded away (a static const read as a constant, an operand of sizeof), so
 * the service always compiles. #line directives keep diagnostics pointing at
 * the user's files. emit.cc appends the dispatcher (docs/abi.md, section 4).
 */
#include "tl_plugin.h"
#include "options.h"
#include "opts.h"
#include "toplev.h"
#include "stringpool.h"
#include "diagnostic-core.h"

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
	bool is_typedef, is_extern, has_initializer, is_asm, defines_variable;
	unsigned type_body_end;		/* token index of the '}' closing a struct body, or 0 */
	bool keep;
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
		return true;
	default:
		break;
	}
	return !text || !strncmp(text, "-fdump", 6) || !strncmp(text, "-aux-info", 9) ||
	       !strncmp(text, "-fstack-usage", 13) || !strncmp(text, "-fcallgraph-info", 16);
}

bool tl_read_preprocessed(struct tl_strbuf *out)
{
	vec<const char *> argv = vNULL;
	char *output = NULL, *tmp = NULL;
	const char *cc1 = tl_cc1_path();
	unsigned i, j;
	bool ok, preprocessed_input = false;
	FILE *f;

	for (i = 0; i < save_decoded_options_count; i++)
		if (save_decoded_options[i].opt_index == OPT_fpreprocessed) {
			/* the input is already the preprocessed text (-save-temps);
			 * main_input_filename names the original source by then */
			for (j = 0; j < save_decoded_options_count; j++)
				if (save_decoded_options[j].opt_index == OPT_SPECIAL_input_file)
					tmp = xstrdup(save_decoded_options[j].arg);
			if (!tmp)
				tmp = xstrdup(main_input_filename);
			preprocessed_input = true;
			goto read;
		}
	if (!cc1) {
		error("turbolift: cannot find cc1 to preprocess %qs", main_input_filename);
		return false;
	}
	tmp = xstrdup("/tmp/turbolift-cpp-XXXXXX.i");
	{
		int fd = mkstemps(tmp, 2);

		if (fd < 0) {
			error("turbolift: cannot create a temporary file: %s", xstrerror(errno));
			free(tmp);
			return false;
		}
		close(fd);
	}
	argv.safe_push(cc1);
	argv.safe_push("-E");
	for (i = 0; i < save_decoded_options_count; i++) {
		const struct cl_decoded_option *opt = &save_decoded_options[i];

		if (tl_skip_option(opt))
			continue;
		if (opt->opt_index == OPT_SPECIAL_input_file) {
			argv.safe_push(opt->arg);
			continue;
		}
		for (j = 0; j < opt->canonical_option_num_elements; j++)
			argv.safe_push(opt->canonical_option[j]);
	}
	argv.safe_push("-o");
	argv.safe_push(tmp);
	argv.safe_push(NULL);
	ok = tl_run(argv.address(), NULL, &output);
	argv.release();
	if (!ok) {
		error("turbolift: preprocessing %qs again for the service failed: %s",
		      main_input_filename, output ? output : "no output");
		free(output);
		unlink(tmp);
		free(tmp);
		return false;
	}
	free(output);

read:
	f = fopen(tmp, "rb");
	if (f) {
		char block[65536];
		size_t n;

		while ((n = fread(block, 1, sizeof(block), f)) > 0)
			tl_buf_append(out, block, n);
		fclose(f);
	}
	if (!preprocessed_input)
		unlink(tmp);
	free(tmp);
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
			lx->chunks.safe_push(chunk);
			open = false;
		}
	}
}

/* ---- 4. what each chunk declares --------------------------------------- */

static bool tl_is_qualifier(const struct tl_lexer *lx, unsigned k)
{
	return tl_tok_is(lx, k, "const") || tl_tok_is(lx, k, "volatile") ||
	       tl_tok_is(lx, k, "restrict") || tl_tok_is(lx, k, "__restrict") ||
	       tl_tok_is(lx, k, "__restrict__") || tl_tok_is(lx, k, "_Atomic");
}

/* "( * const name": the name of a pointer (to function or array) declarator. */
static bool tl_in_pointer_declarator(const struct tl_lexer *lx, unsigned first, unsigned k)
{
	bool star = false;

	while (k > first) {
		k--;
		if (tl_tok_punct(lx, k, '*'))
			star = true;
		else if (tl_tok_punct(lx, k, '('))
			return star;
		else if (!tl_is_qualifier(lx, k))
			return false;
	}
	return false;
}

static void tl_describe(struct tl_lexer *lx, struct tl_chunk *c, hash_set<tree> *declared)
{
	unsigned k;
	int paren = 0, brace = 0;
	unsigned skip_until_paren = 0;	/* inside attribute/asm/typeof group at this depth */
	bool in_initializer = false;

	if (c->kind == CHUNK_DIRECTIVE)
		return;
	c->is_asm = tl_is_group_keyword(lx, c->first) &&
		    (tl_tok_is(lx, c->first, "asm") || tl_tok_is(lx, c->first, "__asm__") ||
		     tl_tok_is(lx, c->first, "__asm"));

	for (k = c->first; k <= c->last; k++) {
		const struct tl_token *t = &lx->tokens[k];

		if (t->kind == TOK_PUNCT) {
			switch (t->punct) {
			case '(': case '[':
				paren++;
				break;
			case ')': case ']':
				if (skip_until_paren && paren == (int)skip_until_paren)
					skip_until_paren = 0;
				paren--;
				break;
			case '{':
				if (c->kind == CHUNK_FUNCTION && brace == 0 && paren == 0)
					return;	/* the body: nothing more is declared */
				brace++;
				break;
			case '}':
				brace--;
				if (brace == 0 && paren == 0 && !in_initializer && !c->type_body_end)
					c->type_body_end = k;
				break;
			case '=':
				if (brace == 0 && paren == 0) {
					in_initializer = true;
					c->has_initializer = true;
				}
				break;
			case ',':
				if (brace == 0 && paren == 0)
					in_initializer = false;
				break;
			default:
				break;
			}
			continue;
		}
		if (t->kind != TOK_IDENT || skip_until_paren || in_initializer || brace > 0)
			continue;
		if (tl_is_group_keyword(lx, k) && tl_tok_punct(lx, k + 1, '(')) {
			skip_until_paren = paren + 1;
			continue;
		}
		if (paren == 0 && tl_tok_is(lx, k, "typedef"))
			c->is_typedef = true;
		if (paren == 0 && tl_tok_is(lx, k, "extern"))
			c->is_extern = true;
		if (c->kind == CHUNK_FUNCTION) {
			/* the declarator's name comes before its parameters: the first
			 * function this file defines that the header names (which also
			 * finds "f" in "int (f)(void)" and "int (*f(void))(int)") */
			if (!c->name && tl_defined_functions->contains(tl_tok_identifier(lx, k)))
				c->name = tl_tok_identifier(lx, k);
			continue;
		}
		if (paren == 0 || (paren == 1 && tl_in_pointer_declarator(lx, c->first, k))) {
			tree id = tl_tok_identifier(lx, k);

			declared->add(id);
			if (tl_defined_variables->contains(id))
				c->defines_variable = true;
		}
	}
}

/* ---- 5. choose chunks: the call graph, then names the text still uses -- */

static bool tl_chunk_wanted(const struct tl_chunk *c, hash_set<tree> *declared,
			    struct tl_reach *reach)
{
	if (c->kind == CHUNK_DIRECTIVE)
		return true;
	if (c->kind == CHUNK_FUNCTION)
		return c->name && reach->functions.contains(c->name) && !MAIN_NAME_P(c->name);
	if (c->is_asm)
		return false;
	if (c->is_typedef || (c->is_extern && !c->has_initializer))
		return true;
	/* an initializer makes a definition even where the declared name was
	 * not recognised: keep it (and what it names) rather than break the build */
	if (!c->defines_variable)
		return true;
	for (hash_set<tree>::iterator it = declared->begin(); it != declared->end(); ++it)
		if (reach->variables.contains(*it))
			return true;
	return false;
}

/* Add the file-scope functions and variables a kept body or initializer names. */
static bool tl_close_over_text(struct tl_lexer *lx, struct tl_chunk *c, struct tl_reach *reach)
{
	bool grew = false;
	unsigned k;

	for (k = c->first; k <= c->last; k++) {
		tree id;

		if (lx->tokens[k].kind != TOK_IDENT)
			continue;
		id = tl_tok_identifier(lx, k);
		if (tl_defined_functions->contains(id) && !MAIN_NAME_P(id) &&
		    !reach->functions.add(id))
			grew = true;
		else if (tl_defined_variables->contains(id) && !reach->variables.add(id))
			grew = true;
	}
	return grew;
}

/* ---- 6. write the service text ----------------------------------------- */

static void tl_emit_range(struct tl_lexer *lx, struct tl_strbuf *out, unsigned first, unsigned last)
{
	const struct tl_token *a = &lx->tokens[first], *b = &lx->tokens[last];

	tl_buf_printf(out, "#line %u \"%s\"\n", a->line, lx->files[a->file]);
	tl_buf_append(out, lx->text + a->start, b->start + b->len - a->start);
	tl_buf_puts(out, "\n");
}

bool tl_slice_service(const struct tl_strbuf *preprocessed, struct tl_tagged *tagged,
		      struct tl_reach *reach, struct tl_strbuf *service)
{
	struct tl_lexer lx;
	vec<hash_set<tree> *> declared = vNULL;
	unsigned i, rounds;
	bool grew = true;

	memset(&lx, 0, sizeof(lx));
	lx.text = preprocessed->data;
	lx.size = preprocessed->len;
	tl_lex(&lx);
	tl_split(&lx);
	for (i = 0; i < lx.chunks.length(); i++) {
		declared.safe_push(new hash_set<tree>());
		tl_describe(&lx, &lx.chunks[i], declared[i]);
	}

	/* grow the kept set until the text names nothing it lacks; each round
	 * adds at least one symbol, so this ends */
	for (rounds = 0; grew && rounds < 100000; rounds++) {
		grew = false;
		for (i = 0; i < lx.chunks.length(); i++) {
			struct tl_chunk *c = &lx.chunks[i];

			if (c->keep || !tl_chunk_wanted(c, declared[i], reach))
				continue;
			c->keep = true;
			if (c->kind == CHUNK_FUNCTION ||
			    (c->kind == CHUNK_DECLARATION && !c->is_typedef &&
			     (c->defines_variable || c->has_initializer)))
				grew |= tl_close_over_text(&lx, c, reach);
		}
	}

	tl_buf_printf(service, "/* Service for %s, generated by turbolift from %s. */\n",
		      IDENTIFIER_POINTER(DECL_NAME(tagged->decl)), main_input_filename);
	for (i = 0; i < lx.chunks.length(); i++) {
		struct tl_chunk *c = &lx.chunks[i];

		if (c->keep)
			tl_emit_range(&lx, service, c->first, c->last);
		else if (c->kind == CHUNK_DECLARATION && c->type_body_end) {
			/* keep the struct a dropped global defines */
			tl_emit_range(&lx, service, c->first, c->type_body_end);
			tl_buf_puts(service, ";\n");
		}
	}

	for (i = 0; i < declared.length(); i++)
		delete declared[i];
	declared.release();
	lx.tokens.release();
	lx.chunks.release();
	lx.files.release();
	return true;	/* emit.cc appends the dispatcher */
}
