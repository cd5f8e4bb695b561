/* SPDX-License-Identifier: MIT */
/*
 * stub.cc - step 3: the prologue that hands a call of a tagged function to
 * the runtime.
 *
 * Rather than renaming the function and redirecting every reference to a
 * stub, the stub goes inside the function: whatever reaches it (a direct
 * call, a function pointer, a call from another translation unit) runs
 *
 *	T tl_arg_i = param_i; ...
 *	void *tl_args[] = { &tl_arg_0, ... };
 *	R tl_result;
 *	if (__turbolift_call_captured(descriptor, &state, tl_args, &tl_result,
 *				      captured) == 0)
 *		return tl_result;
 *	<the original body, for in-process execution>
 *
 * The descriptor is a static pointer whose initializer is filled in once the
 * service exists and its hash is known (emit.cc); docs/abi.md, section 3.
 * captured is NULL here: which globals travel with each call (capture.cc)
 * is known only once the whole file is parsed and the call graph built, so
 * the emit step points it at a local table of their addresses, filled
 * right before the call (tl_fill_captures).
 * Built as GENERIC right after parsing, so the gimplifier does the rest.
 */
#include "tl_plugin.h"
#include "stringpool.h"
#include "cgraph.h"
#include "varasm.h"
#include "toplev.h"
#include "fold-const.h"
#include "tree-iterator.h"
#include "basic-block.h"
#include "function.h"
#include "gimple.h"
#include "gimple-iterator.h"
#include "diagnostic-core.h"
#include "tl_abi.h"

static tree tl_void_const_ptr_ptr(void)
{
	return build_pointer_type(build_qualified_type(ptr_type_node, TYPE_QUAL_CONST));
}

static tree tl_runtime_entry(void)
{
	static tree entry;
	tree fntype;

	if (entry)
		return entry;
	fntype = build_function_type_list(integer_type_node,
					  tl_const_char_pointer(),
					  build_pointer_type(ptr_type_node),
					  tl_void_const_ptr_ptr(),
					  ptr_type_node,
					  tl_void_const_ptr_ptr(), NULL_TREE);
	entry = build_fn_decl(TL_ABI_CALL_CAPTURED, fntype);
	return entry;
}

/* A file-scope static the compiler emits even though no source declares it. */
static tree tl_static_variable(location_t loc, tree type, const char *role, tree fndecl)
{
	const char *fn = IDENTIFIER_POINTER(DECL_NAME(fndecl));
	tree var = build_decl(loc, VAR_DECL,
			      get_identifier(ACONCAT(("__turbolift_", role, "_", fn, NULL))),
			      type);

	/* a dot keeps the symbol out of the C namespace, so it cannot clash */
	SET_DECL_ASSEMBLER_NAME(var, get_identifier(ACONCAT(("__turbolift.", role, ".", fn, NULL))));
	TREE_STATIC(var) = 1;
	TREE_PUBLIC(var) = 0;
	TREE_USED(var) = 1;
	DECL_ARTIFICIAL(var) = 1;
	DECL_IGNORED_P(var) = 1;
	rest_of_decl_compilation(var, 1, 0);
	return var;
}

static tree tl_local_variable(location_t loc, tree type, tree fndecl, tree *chain)
{
	tree var = build_decl(loc, VAR_DECL, NULL_TREE, TYPE_MAIN_VARIANT(type));

	DECL_CONTEXT(var) = fndecl;
	DECL_ARTIFICIAL(var) = 1;
	DECL_IGNORED_P(var) = 1;
	TREE_USED(var) = 1;
	TREE_ADDRESSABLE(var) = 1;
	DECL_CHAIN(var) = *chain;
	*chain = var;
	return var;
}

void tl_insert_stub(struct tl_tagged *tagged)
{
	tree fndecl = tagged->decl;
	tree body = DECL_SAVED_TREE(fndecl);
	location_t loc = DECL_SOURCE_LOCATION(fndecl);
	tree ret_type = TREE_TYPE(TREE_TYPE(fndecl));
	tree vars = NULL_TREE, stmts = alloc_stmt_list();
	tree args_array = NULL_TREE;
	tree args_ptr, result_ptr, call, leave, parm;
	tree void_ptr_ptr = build_pointer_type(build_qualified_type(ptr_type_node, TYPE_QUAL_CONST));
	unsigned count = list_length(DECL_ARGUMENTS(fndecl)), i;

	if (!body || TREE_CODE(body) != BIND_EXPR) {
		error_at(loc, "turbolift: cannot instrument the body of %qD", fndecl);
		return;
	}

	/* 1. the two statics the runtime needs: descriptor and state slot */
	tagged->descriptor_var = tl_static_variable(loc, tl_const_char_pointer(), "descriptor", fndecl);
	tagged->state_var = tl_static_variable(loc, ptr_type_node, "state", fndecl);

	/* 2. copy each argument and point the argument array at the copies */
	if (count) {
		args_array = tl_local_variable(loc, build_array_type_nelts(ptr_type_node, count),
					       fndecl, &vars);
		for (parm = DECL_ARGUMENTS(fndecl), i = 0; parm; parm = DECL_CHAIN(parm), i++) {
			tree copy = tl_local_variable(loc, TREE_TYPE(parm), fndecl, &vars);
			tree slot = build4(ARRAY_REF, ptr_type_node, args_array, size_int(i),
					   NULL_TREE, NULL_TREE);

			append_to_statement_list(build2(MODIFY_EXPR, TREE_TYPE(copy), copy,
							fold_convert(TREE_TYPE(copy), parm)), &stmts);
			append_to_statement_list(build2(MODIFY_EXPR, ptr_type_node, slot,
							fold_convert(ptr_type_node,
								     build_fold_addr_expr(copy))), &stmts);
		}
		args_ptr = fold_convert(void_ptr_ptr, build_fold_addr_expr(args_array));
	} else {
		args_ptr = build_int_cst(void_ptr_ptr, 0);
	}

	/* 3. where the runtime writes the answer */
	if (VOID_TYPE_P(ret_type)) {
		result_ptr = build_int_cst(ptr_type_node, 0);
		leave = build1(RETURN_EXPR, void_type_node, NULL_TREE);
	} else {
		tree res = DECL_RESULT(fndecl);
		tree result = tl_local_variable(loc, ret_type, fndecl, &vars);

		result_ptr = fold_convert(ptr_type_node, build_fold_addr_expr(result));
		leave = build1(RETURN_EXPR, void_type_node,
			       build2(MODIFY_EXPR, TREE_TYPE(res), res,
				      fold_convert(TREE_TYPE(res), result)));
	}

	/* 4. if (__turbolift_call_captured(...) == 0) return result; */
	call = build_call_expr_loc(loc, tl_runtime_entry(), 5, tagged->descriptor_var,
				   build_fold_addr_expr(tagged->state_var), args_ptr, result_ptr,
				   build_int_cst(tl_void_const_ptr_ptr(), 0));
	append_to_statement_list(build3_loc(loc, COND_EXPR, void_type_node,
					    build2(EQ_EXPR, boolean_type_node, call,
						   integer_zero_node),
					    leave, build_empty_stmt(loc)), &stmts);

	/* 5. prologue first, then the original body, in the outermost scope */
	append_to_statement_list(BIND_EXPR_BODY(body), &stmts);
	BIND_EXPR_BODY(body) = stmts;
	if (vars) {
		tree last = vars;

		while (DECL_CHAIN(last))
			last = DECL_CHAIN(last);
		DECL_CHAIN(last) = BIND_EXPR_VARS(body);
		BIND_EXPR_VARS(body) = vars;
	}
}

/* Hand the runtime the captured globals' addresses: in the stub's call,
 * now GIMPLE, replace the NULL captured argument by a local table filled
 * right before the call,
 *
 *	tl_captured[i] = &global_i; ...
 *	__turbolift_call_captured(..., &tl_captured);
 *
 * Computed at each call, on the calling thread, so that a thread-local's
 * address is this thread's. The references make the globals' addresses
 * escape into the call, so that no store to them is moved past it. */
void tl_fill_captures(struct tl_tagged *tagged)
{
	tree fndecl = tagged->decl;
	function *fun = DECL_STRUCT_FUNCTION(fndecl);
	cgraph_node *node = cgraph_node::get(fndecl);
	tree entry = tl_runtime_entry();
	tree type, table, temp;
	basic_block bb;
	unsigned i;

	if (!tagged->capture_count || !fun || !fun->cfg || !node)
		return;
	FOR_EACH_BB_FN(bb, fun) {
		gimple_stmt_iterator gsi;

		for (gsi = gsi_start_bb(bb); !gsi_end_p(gsi); gsi_next(&gsi)) {
			gimple *stmt = gsi_stmt(gsi);

			if (!is_gimple_call(stmt) || gimple_call_fndecl(stmt) != entry)
				continue;
			type = build_array_type_nelts(ptr_type_node, tagged->capture_count);
			table = build_decl(DECL_SOURCE_LOCATION(fndecl), VAR_DECL,
					   get_identifier("tl_captured"), type);
			temp = build_decl(DECL_SOURCE_LOCATION(fndecl), VAR_DECL,
					  get_identifier("tl_captured_address"), ptr_type_node);
			DECL_CONTEXT(table) = DECL_CONTEXT(temp) = fndecl;
			DECL_ARTIFICIAL(table) = DECL_ARTIFICIAL(temp) = 1;
			DECL_IGNORED_P(table) = DECL_IGNORED_P(temp) = 1;
			TREE_USED(table) = TREE_USED(temp) = 1;
			TREE_ADDRESSABLE(table) = 1;
			add_local_decl(fun, table);
			add_local_decl(fun, temp);
			for (i = 0; i < tagged->capture_count; i++) {
				tree var = tagged->captures[i].var;
				tree slot = build4(ARRAY_REF, ptr_type_node, table, size_int(i),
						   NULL_TREE, NULL_TREE);
				gimple *take;

				TREE_ADDRESSABLE(var) = 1;
				take = gimple_build_assign(temp, build_fold_addr_expr_with_type(
								   var, ptr_type_node));
				gsi_insert_before(&gsi, take, GSI_SAME_STMT);
				gsi_insert_before(&gsi, gimple_build_assign(slot, temp), GSI_SAME_STMT);
				node->create_reference(varpool_node::get_create(var), IPA_REF_ADDR, take);
			}
			gimple_call_set_arg(stmt, 4, build_fold_addr_expr_with_type(
							     table, tl_void_const_ptr_ptr()));
			return;
		}
	}
}
