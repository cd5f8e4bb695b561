/* SPDX-License-Identifier: MIT */
/*
 * attribute.cc - step 1: the turbolift("target") function attribute.
 *
 * The handler validates where the attribute stands and what it says, so a
 * mistake is a compile error at the user's line, and records each tagged
 * function for the later steps. Types are checked once the definition is
 * parsed (signature.cc), because parameter attributes such as access() may
 * come after ours.
 */
#include "tl_plugin.h"
#include "stringpool.h"
#include "attribs.h"
#include "diagnostic-core.h"

static const char *const tl_targets[] = { "local", "k8s" };

static bool tl_known_target(const char *target)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(tl_targets); i++)
		if (!strcmp(target, tl_targets[i]))
			return true;
	return false;
}

struct tl_tagged *tl_find_tagged(tree decl)
{
	unsigned i;

	for (i = 0; i < tl_tagged_count; i++)
		if (tl_tagged_functions[i].decl == decl)
			return &tl_tagged_functions[i];
	return NULL;
}

static void tl_record_tagged(tree decl, const char *target)
{
	struct tl_tagged *t = tl_find_tagged(decl);

	if (t) {
		t->target = target;
		return;
	}
	tl_tagged_functions = XRESIZEVEC(struct tl_tagged, tl_tagged_functions, tl_tagged_count + 1);
	t = &tl_tagged_functions[tl_tagged_count++];
	memset(t, 0, sizeof(*t));
	t->decl = decl;
	t->target = target;
}

static tree tl_handle_attribute(tree *node, tree name, tree args, int flags ATTRIBUTE_UNUSED,
				bool *no_add_attrs)
{
	tree decl = *node;
	tree arg = args ? TREE_VALUE(args) : NULL_TREE;
	location_t loc = DECL_P(decl) ? DECL_SOURCE_LOCATION(decl) : input_location;
	const char *target;

	*no_add_attrs = true;

	/* 1. only a function at file scope can become a service */
	if (TREE_CODE(decl) != FUNCTION_DECL) {
		error_at(loc, "turbolift: %qE applies to functions only", name);
		return NULL_TREE;
	}
	/* while a body is being parsed, a function declared in it is nested */
	if (decl_function_context(decl) || current_function_decl) {
		error_at(loc, "turbolift: nested function %qD cannot become a service; "
			 "move it to file scope", decl);
		return NULL_TREE;
	}
	if (MAIN_NAME_P(DECL_NAME(decl))) {
		error_at(loc, "turbolift: %<main%> cannot become a service; tag the function it calls");
		return NULL_TREE;
	}

	/* 2. the target is one string we know */
	if (!arg || TREE_CODE(arg) != STRING_CST) {
		error_at(loc, "turbolift: %qE takes one string, the target: "
			 "%<\"local\"%> or %<\"k8s\"%>", name);
		return NULL_TREE;
	}
	target = TREE_STRING_POINTER(arg);
	if (!tl_known_target(target)) {
		error_at(loc, "turbolift: unknown target %qs for %qD; "
			 "use %<\"local\"%> or %<\"k8s\"%>", target, decl);
		return NULL_TREE;
	}

	/* 3. a variadic function has no signature that fits on the wire */
	if (stdarg_p(TREE_TYPE(decl))) {
		error_at(loc, "turbolift: variadic function %qD cannot become a service; "
			 "pass the variable part as a pointer and a count with "
			 "%<__attribute__((access(read_only, N, M)))%>", decl);
		return NULL_TREE;
	}

	tl_record_tagged(decl, xstrdup(target));
	/* a tag the file's own text does not spell (a project's macro in a
	 * header): its service needs the second preprocessing after all */
	if (tl_build_mode_option == TL_BUILD_DISTRIBUTED)
		tl_preprocess_start();
	*no_add_attrs = false;
	return NULL_TREE;
}

static struct attribute_spec tl_attribute;

/* turbolift_static (TURBOLIFT_STATIC): "the service's own copy is fine" on a
 * variable with static storage, or on a C library function with hidden
 * state; read by capture.cc. */
static tree tl_handle_static_attribute(tree *node, tree name, tree args ATTRIBUTE_UNUSED,
				       int flags ATTRIBUTE_UNUSED, bool *no_add_attrs)
{
	tree decl = *node;

	if ((TREE_CODE(decl) == VAR_DECL && (TREE_STATIC(decl) || DECL_EXTERNAL(decl))) ||
	    TREE_CODE(decl) == FUNCTION_DECL)
		return NULL_TREE;
	*no_add_attrs = true;
	error_at(DECL_P(decl) ? DECL_SOURCE_LOCATION(decl) : input_location,
		 "turbolift: %qE applies to global and static variables (and to C library "
		 "functions with hidden state) only", name);
	return NULL_TREE;
}

static struct attribute_spec tl_static_attribute;

void tl_register_attributes(void *gcc_data ATTRIBUTE_UNUSED, void *user_data ATTRIBUTE_UNUSED)
{
	tl_static_attribute.name = "turbolift_static";
	tl_static_attribute.min_length = 0;
	tl_static_attribute.max_length = 0;
	tl_static_attribute.decl_required = true;
	tl_static_attribute.handler = tl_handle_static_attribute;
	register_attribute(&tl_static_attribute);

	/* Member by member, so that a GCC with another field order cannot
	 * shift them (the kernel's gcc-plugins do the same). */
	tl_attribute.name = "turbolift";
	tl_attribute.min_length = 1;		/* exactly one argument: the target */
	tl_attribute.max_length = 1;
	tl_attribute.decl_required = true;
	tl_attribute.type_required = false;
	tl_attribute.function_type_required = false;
	tl_attribute.affects_type_identity = false;
	tl_attribute.handler = tl_handle_attribute;
	tl_attribute.exclude = NULL;
	register_attribute(&tl_attribute);
}
