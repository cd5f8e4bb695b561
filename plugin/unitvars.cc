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
 * The table is made when the call graph is complete, before any IPA pass
 * (references are exact, nothing is removed yet), and written with the
 * unit. Nothing here changes code generation.
 */
#include "tl_plugin.h"
#include "cgraph.h"
#include "stringpool.h"
#include "attribs.h"
#include "diagnostic-core.h"

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

/* 1. one line per file-scope, writable variable defined here */
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
		if (!strncmp(IDENTIFIER_POINTER(DECL_NAME(decl)), "__turbolift_", 12))
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
}

/* 2. written beside unit.txt, into a folder that is being made */
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
