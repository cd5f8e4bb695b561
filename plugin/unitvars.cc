/* SPDX-License-Identifier: MIT */
/*
 * unitvars.cc - step 5b: the variables of this file that another file's
 * service may hold.
 *
 * capture.cc captures what the tagged function's own file reads, but a
 * service also links the program's other files (docs/multifile.md), and
 * their code may read variables that main set before the call. Which of
 * them a service keeps is known only at its link, at the first call; what
 * they are is known only here, with the types. So every unit folder gets
 *
 *   <unit>/vars.txt   file=<source base name>
 *                     var=<symbol> <size> <flags>   one per variable
 *
 * for each variable this file defines at file scope that is not const,
 * where flags has
 *
 *   s  static (internal linkage: the symbol is local to this file)
 *   w  may change at run time: visible to other files, or stored to or
 *      address-taken by some code here (a static nothing writes keeps its
 *      initial value in every process and needs no capture)
 *   p  holds a pointer somewhere (its bytes mean nothing in another process)
 *   c  is a char pointer: a C string, which travels as text
 *   k  marked TURBOLIFT_STATIC: its initial value is fine in the service
 *   t  thread-local
 *
 * The runtime reads it after the service's link (runtime/client/
 * tl_unit_globals.c): the kept variables without p travel with each call
 * as bytes, char pointers as strings; the others with p must be unchanged
 * since the program started.
 *
 * capture.cc warns at the writes that the tagged function's own file
 * makes; what code of other files the service runs is known only at its
 * link. So the table also says what this file's code writes, calls and
 * refers to (runtime/client/tl_unit_writes.c walks it from the tagged
 * function and warns at each write the service makes):
 *
 *   write=<var> <l|g> <function> <l|g> <t|-> <line>:<col> <name> <file>
 *                     a store to a file-scope or static variable (t: a
 *                     thread-local), named as written (<name>); the
 *                     column as GCC's own diagnostics count it
 *   libc=<callee> <function> <l|g> <line>:<col> <file>
 *                     a call of a C library function with hidden state
 *   def=<symbol> <l|g>
 *                     a function or variable defined here (the runtime
 *                     compiles and links only the units that define what
 *                     the tagged function reaches)
 *   ref=<from> <l|g> <to> <l|g>
 *                     a call or a reference from something defined here
 *   werror=1          built with -fplugin-arg-turbolift-werror
 *
 * where l is a symbol local to this file (static) and g one the link
 * resolves by name.
 *
 * The table is made when the call graph is complete, before any IPA pass
 * (references are exact, nothing is removed yet), and written with the
 * unit. Nothing here changes code generation.
 */
#include "tl_plugin.h"
#include "cgraph.h"
#include "stringpool.h"
#include "attribs.h"
#include "diagnostic-core.h"
#include "diagnostic.h"

static struct tl_strbuf tl_unit_vars_text;

/* Does a value of this type hold an address anywhere? Unknown shapes count
 * as yes: only bytes known to be plain data may travel. */
static bool tl_type_holds_pointer(tree type, unsigned depth)
{
	tree field;

	if (depth > 32)
		return true;
	type = TYPE_MAIN_VARIANT(type);
	switch (TREE_CODE(type)) {
	case INTEGER_TYPE:
	case REAL_TYPE:
	case BOOLEAN_TYPE:
	case ENUMERAL_TYPE:
	case COMPLEX_TYPE:
	case VECTOR_TYPE:
	case FIXED_POINT_TYPE:
		return false;
	case ARRAY_TYPE:
		return tl_type_holds_pointer(TREE_TYPE(type), depth + 1);
	case RECORD_TYPE:
	case UNION_TYPE:
	case QUAL_UNION_TYPE:
		for (field = TYPE_FIELDS(type); field; field = DECL_CHAIN(field))
			if (TREE_CODE(field) == FIELD_DECL &&
			    tl_type_holds_pointer(TREE_TYPE(field), depth + 1))
				return true;
		return false;
	default:
		return true;	/* pointers, and anything else */
	}
}

/* Stored to, or its address taken (then anything may store through it),
 * by any function or initializer of this file. */
static bool tl_written_here(varpool_node *var)
{
	ipa_ref *ref;
	unsigned k;

	for (k = 0; var->iterate_referring(k, ref); k++)
		if (ref->use == IPA_REF_STORE || ref->use == IPA_REF_ADDR)
			return true;
	return false;
}

/* -fplugin-arg-turbolift-verbose: what a service that keeps it will do */
static void tl_note_unit_var(tree decl, const char *flags)
{
	location_t loc = DECL_SOURCE_LOCATION(decl);

	if (strchr(flags, 't'))
		inform(loc, "turbolift: in a service that links this file and keeps %qD, each "
		       "worker thread has its own (it is thread-local)", decl);
	else if (strchr(flags, 'c'))
		inform(loc, "turbolift: a service that links this file and keeps %qD gets its "
		       "text with each call once the program has changed it", decl);
	else if (strchr(flags, 'p'))
		inform(loc, "turbolift: a service that links this file and keeps %qD cannot get "
		       "its value (it holds a pointer): its calls fail once the program has "
		       "changed it", decl);
	else
		inform(loc, "turbolift: a service that links this file and keeps %qD gets its "
		       "value with each call once the program has changed it", decl);
}

static void tl_describe_writes(struct tl_strbuf *b);

/* 1. one line per file-scope, writable variable defined here, then what
 *    the code writes (2) */
void tl_describe_unit_vars(void)
{
	varpool_node *var;

	tl_buf_free(&tl_unit_vars_text);
	tl_buf_printf(&tl_unit_vars_text, "file=%s\n", lbasename(main_input_filename));
	FOR_EACH_VARIABLE(var) {
		tree decl = var->decl;
		const char *symbol;
		char flags[8];
		int n = 0;
		HOST_WIDE_INT size;

		if (!var->definition || DECL_EXTERNAL(decl) || TREE_READONLY(decl) ||
		    DECL_ARTIFICIAL(decl) || !DECL_NAME(decl) || DECL_HARD_REGISTER(decl))
			continue;
		/* a function's static local: only its own function sees it */
		if (DECL_CONTEXT(decl) && TREE_CODE(DECL_CONTEXT(decl)) == FUNCTION_DECL)
			continue;
		if (tl_is_own_symbol(decl))
			continue;
		size = int_size_in_bytes(TREE_TYPE(decl));
		if (size <= 0)
			continue;	/* nothing of it can be sent */
		symbol = IDENTIFIER_POINTER(DECL_ASSEMBLER_NAME(decl));
		if (*symbol == '*')
			symbol++;	/* asm("name"): the name as written */
		if (!TREE_PUBLIC(decl))
			flags[n++] = 's';
		if (TREE_PUBLIC(decl) || tl_written_here(var))
			flags[n++] = 'w';
		if (tl_type_holds_pointer(TREE_TYPE(decl), 0))
			flags[n++] = 'p';
		if (TREE_CODE(TREE_TYPE(decl)) == POINTER_TYPE &&
		    TYPE_MAIN_VARIANT(TREE_TYPE(TREE_TYPE(decl))) == char_type_node)
			flags[n++] = 'c';
		if (lookup_attribute("turbolift_static", DECL_ATTRIBUTES(decl)))
			flags[n++] = 'k';
		if (DECL_THREAD_LOCAL_P(decl))
			flags[n++] = 't';
		if (n == 0)
			flags[n++] = '-';
		flags[n] = '\0';
		tl_buf_printf(&tl_unit_vars_text, "var=%s %lld %s\n", symbol, (long long)size, flags);
		if (tl_verbose && strchr(flags, 'w') && !strchr(flags, 'k'))
			tl_note_unit_var(decl, flags);
	}
	tl_describe_writes(&tl_unit_vars_text);
}

/* The symbol the link knows, and whether it is local to this file. */
static const char *tl_symbol(symtab_node *node, char *scope)
{
	const char *name = node->asm_name();

	*scope = TREE_PUBLIC(node->decl) || DECL_EXTERNAL(node->decl) ? 'g' : 'l';
	return *name == '*' ? name + 1 : name;
}

static void tl_note_write(struct tl_strbuf *b, cgraph_node *fn, tree var, location_t loc)
{
	varpool_node *node = varpool_node::get(var);
	expanded_location at = expand_location(loc);
	const char *fname, *vname;
	char fscope, vscope;

	if (!node)
		return;
	fname = tl_symbol(fn, &fscope);
	vname = tl_symbol(node, &vscope);
	tl_buf_printf(b, "write=%s %c %s %c %c %d:%d %s %s\n", vname, vscope, fname, fscope,
		      DECL_THREAD_LOCAL_P(var) ? 't' : '-', at.line,
		      diagnostic_converted_column(global_dc, at),
		      IDENTIFIER_POINTER(DECL_NAME(var)), at.file ? at.file : "?");
}

struct tl_body_record {
	struct tl_strbuf *text;
	hash_set<tree> seen;		/* variables and callees, once each */
};

/* A store or a hidden-state call of one function (tl_walk_writes), at its
 * first place. */
static void tl_record_write(void *arg, cgraph_node *fn, location_t loc, tree var, tree callee)
{
	struct tl_body_record *r = (struct tl_body_record *)arg;
	expanded_location at;
	const char *name;
	char scope;

	if (r->seen.add(var ? var : callee))
		return;
	if (var) {
		tl_note_write(r->text, fn, var, loc);
		return;
	}
	at = expand_location(loc);
	name = tl_symbol(fn, &scope);
	tl_buf_printf(r->text, "libc=%s %s %c %d:%d %s\n", IDENTIFIER_POINTER(DECL_NAME(callee)),
		      name, scope, at.line, diagnostic_converted_column(global_dc, at),
		      at.file ? at.file : "?");
}

/* 2. what this file's code writes, calls and refers to, for the services
 *    of other files that link it (tl_unit_writes.c) */
static void tl_describe_writes(struct tl_strbuf *b)
{
	symtab_node *node;
	cgraph_node *fn;

	if (tl_werror)
		tl_buf_puts(b, "werror=1\n");
	FOR_EACH_SYMBOL(node) {
		cgraph_node *caller = dyn_cast<cgraph_node *>(node);
		hash_set<symtab_node *> named;	/* a load and a store: one line */
		const char *from;
		char from_scope, to_scope;
		ipa_ref *ref;
		unsigned k;

		if (!node->definition || tl_is_own_symbol(node->decl))
			continue;
		from = tl_symbol(node, &from_scope);
		tl_buf_printf(b, "def=%s %c\n", from, from_scope);
		for (cgraph_edge *e = caller ? caller->callees : NULL; e; e = e->next_callee)
			if (!tl_is_own_symbol(e->callee->decl) && !named.add(e->callee)) {
				const char *to = tl_symbol(e->callee, &to_scope);

				tl_buf_printf(b, "ref=%s %c %s %c\n", from, from_scope, to, to_scope);
			}
		for (k = 0; node->iterate_reference(k, ref); k++)
			if (!tl_is_own_symbol(ref->referred->decl) && !named.add(ref->referred)) {
				const char *to = tl_symbol(ref->referred, &to_scope);

				tl_buf_printf(b, "ref=%s %c %s %c\n", from, from_scope, to, to_scope);
			}
	}
	FOR_EACH_DEFINED_FUNCTION(fn)
		if (!tl_is_own_symbol(fn->decl)) {
			struct tl_body_record record;

			record.text = b;
			tl_walk_writes(fn, tl_record_write, &record);
		}
}

/* 3. written beside unit.txt, into a folder that is being made */
bool tl_write_unit_vars(const char *dir)
{
	char *path = concat(dir, "/vars.txt", NULL);
	bool ok;

	if (!tl_unit_vars_text.data)
		tl_describe_unit_vars();
	ok = tl_write_file(path, tl_unit_vars_text.data, tl_unit_vars_text.len);
	if (!ok)
		error("turbolift: cannot write %qs: %s", path, xstrerror(errno));
	free(path);
	return ok;
}
