/* SPDX-License-Identifier: MIT */
/*
 * capture.cc - step 4b: the globals a service reads and writes.
 *
 * A service runs in other processes, which start from the globals' initial
 * values. So, for each tagged function, over the same call graph reach.cc
 * walks (docs/remote.md):
 *
 *   - a file-scope variable the slice reads and the program may change is
 *     captured: its type goes into the signature after ';', the stub sends
 *     its value with each call (stub.cc) and the dispatcher installs it
 *     before the function runs (emit.cc). "May change": not const, and
 *     visible to other files, or written or address-taken by code outside
 *     the slice. Strings (char pointers) travel as strings; any other
 *     pointer, or a type the codec cannot carry, is an error at the
 *     variable's line;
 *   - a write to a global or static variable (thread-locals too) in the
 *     slice is a warning at the write, with the call path: each worker has
 *     its own copy;
 *   - a call of a C library function with hidden state (rand, strtok, ...)
 *     is a warning likewise.
 * TURBOLIFT_STATIC (turbolift_static) on a variable or such a function says
 * "the service's own copy is fine": not captured, not warned.
 * -fplugin-arg-turbolift-werror turns the warnings into errors.
 *
 * Runs when the call graph is built and bodies are GIMPLE with a CFG, before
 * any IPA pass: the references (loads, stores, addresses) are exact and
 * nothing is inlined yet.
 */
#include "tl_plugin.h"
#include "cgraph.h"
#include "hash-map.h"
#include "stringpool.h"
#include "attribs.h"
#include "basic-block.h"
#include "function.h"
#include "gimple.h"
#include "gimple-iterator.h"
#include "diagnostic-core.h"

typedef hash_map<symtab_node *, symtab_node *> tl_parents;

static bool tl_is_static_marked(tree decl)
{
	return lookup_attribute("turbolift_static", DECL_ATTRIBUTES(decl)) != NULL_TREE;
}

/* Breadth first from the tagged function, over calls and references, so that
 * the parent chain of each symbol is a shortest call path. */
static void tl_walk(struct tl_tagged *tagged, tl_parents *parent, auto_vec<symtab_node *> *order)
{
	cgraph_node *root = cgraph_node::get(tagged->decl);
	unsigned i;

	if (!root)
		return;
	parent->put(root, NULL);
	order->safe_push(root);
	for (i = 0; i < order->length(); i++) {
		symtab_node *node = (*order)[i];
		cgraph_node *fn = dyn_cast<cgraph_node *>(node);
		ipa_ref *ref;
		unsigned k;

		if (!node->definition || tl_is_own_symbol(node->decl))
			continue;
		if (fn)
			for (cgraph_edge *e = fn->callees; e; e = e->next_callee)
				if (!parent->get(e->callee)) {
					parent->put(e->callee, node);
					order->safe_push(e->callee);
				}
		for (k = 0; node->iterate_reference(k, ref); k++)
			if (!parent->get(ref->referred)) {
				parent->put(ref->referred, node);
				order->safe_push(ref->referred);
			}
	}
}

/* "compute -> helper -> crc_init" */
static char *tl_call_path(tl_parents *parent, symtab_node *node)
{
	auto_vec<const char *> names;
	struct tl_strbuf b = { NULL, 0, 0 };
	unsigned i;

	while (node) {
		symtab_node **up = parent->get(node);

		names.safe_push(DECL_NAME(node->decl) ? IDENTIFIER_POINTER(DECL_NAME(node->decl))
						      : node->name());
		node = up ? *up : NULL;
	}
	for (i = names.length(); i-- > 0;) {
		tl_buf_puts(&b, names[i]);
		if (i)
			tl_buf_puts(&b, " -> ");
	}
	return b.data;
}

/* ---- 1. captured globals ------------------------------------------------ */

/* Does the slice read the variable, and may the program change it? */
static bool tl_wants_capture(varpool_node *var, tl_parents *parent)
{
	tree decl = var->decl;
	bool read = false, changed = TREE_PUBLIC(decl) || DECL_EXTERNAL(decl);
	ipa_ref *ref;
	unsigned k;

	if (TREE_READONLY(decl) || DECL_ARTIFICIAL(decl) || !DECL_NAME(decl) ||
	    tl_is_own_symbol(decl) || DECL_IN_SYSTEM_HEADER(decl) || tl_is_static_marked(decl) ||
	    DECL_HARD_REGISTER(decl))
		return false;
	/* a static local is seen by its own function only, which is in the slice */
	if (DECL_CONTEXT(decl) && TREE_CODE(DECL_CONTEXT(decl)) == FUNCTION_DECL)
		return false;
	for (k = 0; var->iterate_referring(k, ref); k++) {
		bool inside = parent->get(ref->referring) != NULL;

		if (inside && (ref->use == IPA_REF_LOAD || ref->use == IPA_REF_ADDR))
			read = true;
		if (!inside && (ref->use == IPA_REF_STORE || ref->use == IPA_REF_ADDR))
			changed = true;
	}
	return read && changed;
}

static bool tl_capture(struct tl_tagged *tagged, varpool_node *var, struct tl_strbuf *sig)
{
	tree decl = var->decl;
	tree type = TREE_TYPE(decl);
	location_t loc = DECL_SOURCE_LOCATION(decl);
	struct tl_strbuf spelled = { NULL, 0, 0 };

	if (TREE_CODE(type) == POINTER_TYPE &&
	    TYPE_MAIN_VARIANT(TREE_TYPE(type)) != char_type_node) {
		error_at(loc, "turbolift: %qD, read by the service for %qD, is a pointer the "
			 "program may change, and what it points at cannot be sent with each "
			 "call; make it a parameter, make it const, or mark it "
			 "%<TURBOLIFT_STATIC%> if its initial value is fine", decl, tagged->decl);
		return false;
	}
	if (!COMPLETE_TYPE_P(type) || int_size_in_bytes(type) <= 0) {
		error_at(loc, "turbolift: %qD, read by the service for %qD, has no size here, "
			 "so its value cannot be sent with each call; declare it with its size, "
			 "make it a parameter, make it const, or mark it %<TURBOLIFT_STATIC%> if its "
			 "initial value is fine", decl, tagged->decl);
		return false;
	}
	if (!tl_capture_type(&spelled, decl, tagged->decl)) {
		inform(loc, "%qD is read by the service for %qD and may change, so its value "
		       "would be sent with each call; make it a parameter, make it const, or "
		       "mark it %<TURBOLIFT_STATIC%> if its initial value is fine",
		       decl, tagged->decl);
		tl_buf_free(&spelled);
		return false;
	}
	tagged->captures = XRESIZEVEC(struct tl_capture, tagged->captures,
				      tagged->capture_count + 1);
	tagged->captures[tagged->capture_count].var = decl;
	tagged->captures[tagged->capture_count].type = spelled.data;
	tagged->capture_count++;
	tl_buf_puts(sig, tagged->capture_count == 1 ? ";" : ",");
	tl_buf_puts(sig, spelled.data);
	if (tl_verbose)
		inform(loc, "turbolift: %qD captures %qD (%s, %wd bytes): the service gets its "
		       "value at the time of each call", tagged->decl, decl, spelled.data,
		       int_size_in_bytes(type));
	return true;
}

/* ---- 2. writes and hidden C library state ------------------------------- */

/* A warning, or an error under -fplugin-arg-turbolift-werror. */
static bool tl_diagnose(location_t loc, const char *fmt, ...)
{
	va_list ap;
	bool shown;

	va_start(ap, fmt);
	shown = emit_diagnostic_valist(tl_werror ? DK_ERROR : DK_WARNING, loc, 0, fmt, &ap);
	va_end(ap);
	return shown;
}

/* C library functions whose results depend on state they keep between calls
 * (docs/remote.md): in a service that state is each worker's. */
static const char *const tl_stateful_libc[] = {
	"rand", "srand", "random", "srandom", "initstate", "setstate",
	"drand48", "lrand48", "mrand48", "srand48", "seed48", "lcong48",
	"strtok", "getopt", "setlocale", "mblen", "mbtowc", "wctomb",
	"hcreate", "hsearch", "hdestroy", "setenv", "putenv", "unsetenv",
};

static bool tl_is_stateful_libc(tree fndecl)
{
	const char *name;
	unsigned i;

	if (!fndecl || !DECL_NAME(fndecl) || !DECL_EXTERNAL(fndecl) ||
	    !DECL_IN_SYSTEM_HEADER(fndecl) || tl_is_static_marked(fndecl))
		return false;
	name = IDENTIFIER_POINTER(DECL_NAME(fndecl));
	for (i = 0; i < ARRAY_SIZE(tl_stateful_libc); i++)
		if (!strcmp(name, tl_stateful_libc[i]))
			return true;
	return false;
}

/* The global or static variable a store goes to, if any. */
static tree tl_stored_global(tree lhs)
{
	tree base;

	if (!lhs)
		return NULL_TREE;
	base = get_base_address(lhs);
	if (!base || !VAR_P(base) || !is_global_var(base))
		return NULL_TREE;
	if (TREE_READONLY(base) || DECL_ARTIFICIAL(base) || !DECL_NAME(base) ||
	    tl_is_own_symbol(base) || tl_is_static_marked(base))
		return NULL_TREE;
	return base;
}

static void tl_warn_write(struct tl_tagged *tagged, tl_parents *parent, symtab_node *fn,
			  location_t loc, tree var, hash_set<tree> *warned)
{
	char *path;

	if (warned->add(var))
		return;		/* once per variable and function */
	path = tl_call_path(parent, fn);
	if (tl_diagnose(loc, "turbolift: %s%qD is written in code that runs in the service "
			"for %qD (%s): each worker has its own copy, so the program does not "
			"see the change and calls on different workers see different values; "
			"mark %qD %<TURBOLIFT_STATIC%> if that is intended",
			DECL_THREAD_LOCAL_P(var) ? "thread-local " : "", var, tagged->decl,
			path, var))
		inform(DECL_SOURCE_LOCATION(var), "%qD declared here", var);
	free(path);
}

/* One body's writes and hidden-state calls, for the checks below and for
 * unitvars.cc's records (tl_plugin.h). */
void tl_walk_writes(cgraph_node *fn, tl_write_seen seen, void *arg)
{
	function *fun = DECL_STRUCT_FUNCTION(fn->decl);
	basic_block bb;

	/* a system header's inline code is not the user's to change */
	if (!fun || !fun->cfg || DECL_IN_SYSTEM_HEADER(fn->decl))
		return;
	FOR_EACH_BB_FN(bb, fun) {
		gimple_stmt_iterator gsi;

		for (gsi = gsi_start_bb(bb); !gsi_end_p(gsi); gsi_next(&gsi)) {
			gimple *stmt = gsi_stmt(gsi);
			location_t loc = gimple_location(stmt);
			tree var, callee;

			if (loc == UNKNOWN_LOCATION)
				loc = DECL_SOURCE_LOCATION(fn->decl);
			if (is_gimple_assign(stmt) || is_gimple_call(stmt)) {
				var = tl_stored_global(gimple_get_lhs(stmt));
				if (var)
					seen(arg, fn, loc, var, NULL_TREE);
			}
			if (gasm *as = dyn_cast<gasm *>(stmt)) {
				unsigned i;

				for (i = 0; i < gimple_asm_noutputs(as); i++) {
					var = tl_stored_global(TREE_VALUE(gimple_asm_output_op(as, i)));
					if (var)
						seen(arg, fn, loc, var, NULL_TREE);
				}
			}
			if (!is_gimple_call(stmt))
				continue;
			callee = gimple_call_fndecl(stmt);
			if (tl_is_stateful_libc(callee))
				seen(arg, fn, loc, NULL_TREE, callee);
		}
	}
}

struct tl_body_check {
	struct tl_tagged *tagged;
	tl_parents *parent;
	hash_set<tree> warned;		/* variables and callees, once each */
};

static void tl_check_write(void *arg, cgraph_node *fn, location_t loc, tree var, tree callee)
{
	struct tl_body_check *c = (struct tl_body_check *)arg;
	char *path;

	if (var) {
		tl_warn_write(c->tagged, c->parent, fn, loc, var, &c->warned);
		return;
	}
	if (c->warned.add(callee))
		return;
	path = tl_call_path(c->parent, fn);
	tl_diagnose(loc, "turbolift: %qD keeps hidden state in the C library, "
		    "which in the service for %qD (%s) is each worker's own: "
		    "calls on different workers do not continue one sequence; "
		    "pass the state explicitly (e.g. %<rand_r%>, %<strtok_r%>), "
		    "or declare %qD %<TURBOLIFT_STATIC%> if that is intended",
		    callee, c->tagged->decl, path, callee);
	free(path);
}

static void tl_check_body(struct tl_tagged *tagged, tl_parents *parent, cgraph_node *fn)
{
	struct tl_body_check check;

	check.tagged = tagged;
	check.parent = parent;
	tl_walk_writes(fn, tl_check_write, &check);
}

static int tl_by_declaration(const void *a, const void *b)
{
	unsigned x = DECL_UID((*(varpool_node *const *)a)->decl);
	unsigned y = DECL_UID((*(varpool_node *const *)b)->decl);

	return x < y ? -1 : x > y;
}

bool tl_check_globals(struct tl_tagged *tagged)
{
	tl_parents parent;
	auto_vec<symtab_node *> order;
	auto_vec<varpool_node *> wanted;
	struct tl_strbuf sig = { NULL, 0, 0 };
	bool ok = true;
	unsigned i;

	tl_walk(tagged, &parent, &order);

	/* 1. captured globals, in the order of their declarations */
	for (i = 0; i < order.length(); i++) {
		varpool_node *var = dyn_cast<varpool_node *>(order[i]);

		if (var && tl_wants_capture(var, &parent))
			wanted.safe_push(var);
	}
	wanted.qsort(tl_by_declaration);
	for (i = 0; i < wanted.length(); i++)
		if (!tl_capture(tagged, wanted[i], &sig))
			ok = false;

	/* 2. writes and hidden state, in every body of the slice */
	for (i = 0; i < order.length(); i++) {
		cgraph_node *fn = dyn_cast<cgraph_node *>(order[i]);

		if (fn && fn->definition && !tl_is_own_symbol(fn->decl))
			tl_check_body(tagged, &parent, fn);
	}

	/* 3. "f8(f8)" + ";f8,i4" -> "f8(f8;f8,i4)" */
	if (sig.data && ok) {
		size_t len = strlen(tagged->signature);
		char *full = XNEWVEC(char, len + sig.len + 1);

		gcc_assert(len > 0 && tagged->signature[len - 1] == ')');
		memcpy(full, tagged->signature, len - 1);
		memcpy(full + len - 1, sig.data, sig.len);
		strcpy(full + len - 1 + sig.len, ")");
		free(tagged->signature);
		tagged->signature = full;
	}
	tl_buf_free(&sig);
	return ok;
}
