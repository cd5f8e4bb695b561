/* SPDX-License-Identifier: MIT */
/*
 * reach.cc - step 4: what a tagged function reaches, over the call graph.
 *
 * Runs when every function of the translation unit is lowered to GIMPLE and
 * the call graph is built, before inlining: direct callees (call edges),
 * functions whose address is taken and globals read or written (references,
 * from function bodies and from the initializers of reachable variables,
 * static locals included). What has no definition here is an external
 * symbol for the service's link, found in the program's other units
 * (docs/multifile.md).
 */
#include "tl_plugin.h"
#include "cgraph.h"
#include "diagnostic-core.h"

/* A name the service's own text does not define: the runtime's link finds
 * it in another unit of the program or in a library the program loaded
 * (docs/multifile.md), or says which unit needs it. Listed in the manifest
 * for people and tools. */
static void tl_note_external(struct tl_reach *reach, tree decl)
{
	const char *name = IDENTIFIER_POINTER(DECL_ASSEMBLER_NAME(decl));

	if (!strncmp(name, "__builtin_", 10))
		return;
	tl_buf_puts(&reach->externals, name);
	tl_buf_puts(&reach->externals, "\n");
}

bool tl_compute_reach(struct tl_tagged *tagged, struct tl_reach *reach)
{
	cgraph_node *root = cgraph_node::get(tagged->decl);
	auto_vec<symtab_node *> work;
	hash_set<symtab_node *> seen;

	/* a static function nobody calls is gone already: nothing to serve */
	if (!root || !root->definition)
		return false;
	work.safe_push(root);
	seen.add(root);

	while (!work.is_empty()) {
		symtab_node *node = work.pop();
		tree decl = node->decl;
		cgraph_node *fn = dyn_cast<cgraph_node *>(node);
		ipa_ref *ref;
		unsigned i;

		if (tl_is_own_symbol(decl))
			continue;

		/* 1. record the symbol: a body to ship, or a name to link against */
		if (!node->definition) {
			tl_note_external(reach, decl);
			continue;
		}
		if (fn) {
			if (DECL_NAME(decl) && MAIN_NAME_P(DECL_NAME(decl)) && DECL_FILE_SCOPE_P(decl)) {
				error_at(DECL_SOURCE_LOCATION(tagged->decl),
					 "turbolift: %qD reaches %<main%>, which a service cannot contain",
					 tagged->decl);
				return false;
			}
			/* outlined OpenMP bodies and the like live in their parent's text */
			if (!DECL_ARTIFICIAL(decl) && DECL_NAME(decl))
				reach->functions.add(DECL_NAME(decl));
		} else if (DECL_FILE_SCOPE_P(decl) && DECL_NAME(decl)) {
			reach->variables.add(DECL_NAME(decl));
		}

		/* 2. follow calls */
		if (fn)
			for (cgraph_edge *e = fn->callees; e; e = e->next_callee)
				if (!seen.add(e->callee))
					work.safe_push(e->callee);

		/* 3. follow references: addresses taken, globals read and written */
		for (i = 0; node->iterate_reference(i, ref); i++)
			if (!seen.add(ref->referred))
				work.safe_push(ref->referred);
	}
	/* -fplugin-arg-turbolift-verbose: this half's answer on its own, so
	 * tests/plugin/reach.sh can check it apart from the service link's cut */
	if (tl_verbose) {
		for (hash_set<tree>::iterator it = reach->functions.begin();
		     it != reach->functions.end(); ++it)
			inform(DECL_SOURCE_LOCATION(tagged->decl), "turbolift: %qD reaches function %qs",
			       tagged->decl, IDENTIFIER_POINTER(*it));
		for (hash_set<tree>::iterator it = reach->variables.begin();
		     it != reach->variables.end(); ++it)
			inform(DECL_SOURCE_LOCATION(tagged->decl), "turbolift: %qD reaches global %qs",
			       tagged->decl, IDENTIFIER_POINTER(*it));
	}
	return true;
}
