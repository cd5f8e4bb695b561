/* SPDX-License-Identifier: MIT */
/*
 * turbolift_plugin.cc - GCC plugin that turns a tagged C function into a service.
 *
 * A function marked __attribute__((turbolift("local"|"k8s"))) (the
 * TURBOLIFT() macro of <turbolift.h>) is extracted, with every function,
 * global and type it reaches, into a self-contained service translation unit
 * plus a manifest; its body gets a prologue that hands each call to the
 * runtime (libturbolift), which sends it to a worker or pod as a msgpack
 * request. The original body stays for in-process execution.
 *
 * Pipeline, one file per step:
 *   1. attribute.cc  register and validate the attribute, predefine __TURBOLIFT__
 *   2. signature.cc  check parameter/return types, derive the signature string
 *   3. stub.cc       insert the runtime-call prologue (while parsing, GENERIC)
 *   4. reach.cc      walk the call graph from each tagged function
 *      capture.cc    globals the slice reads (captured: sent with each call)
 *                    and writes (warned), hidden C library state it reaches
 *   5. slice.cc      the file as a unit (without main), and the service text,
 *                    from a second preprocessing started beside cc1's parse
 *                    (only in a file that has a tag)
 *      unit.cc       store the unit, name it in the object (docs/multifile.md)
 *      recipe.cc     a file without a tag: instead of its text, how to make
 *                    it at the first call, and the files it is made from
 *      unitvars.cc   its writable variables, for the services that link it
 *   6. emit.cc       add the dispatcher, hash, write service.c, check it
 *                    (-fsyntax-only, beside cc1), then service.yaml; fill
 *                    the stub's descriptor (service.o is compiled at the
 *                    first call, runtime/client/tl_build.c)
 *
 * Options:
 *   -fplugin-arg-turbolift-mode=distributed|off
 *        distributed (default): tagged functions become services, and
 *        every file is a unit of them (its text, or its recipe).
 *        off: the attribute is still checked, code generation is untouched.
 *   -fplugin-arg-turbolift-mode=unit -fplugin-arg-turbolift-unitdir=DIR
 *        the runtime's, at a first call (runtime/client/tl_unit_recipe.c):
 *        cc1 -fsyntax-only with a recipe's options makes that unit's text
 *        and writes DIR/unit.i; nothing else.
 *   -fplugin-arg-turbolift-outdir=DIR
 *        where <function>-<hash>/ service folders and units/ go
 *        (default: $TURBOLIFT_OUTDIR, else ${XDG_CACHE_HOME:-~/.cache}/turbolift/src).
 *   -fplugin-arg-turbolift-verbose
 *        a note per captured global (docs/remote.md).
 *   -fplugin-arg-turbolift-werror
 *        writes to globals and hidden C library state in a slice are errors.
 *
 * Example:
 *   gcc -fplugin=./turbolift.so -O2 -c price.c
 *   gcc price.o -lturbolift -lm -o price && ./price
 */
#include "tl_plugin.h"
#include "tl_cache_root.h"
#include "cgraph.h"
#include "c-family/c-common.h"
#include "c-family/c-pragma.h"
#include "cpplib.h"
#include "diagnostic-core.h"
#include "langhooks.h"

/* GCC passes -fplugin on to lto1 too, which has no C preprocessor: a weak
 * reference lets the plugin load there and stand aside (the services were
 * made at compile time). */
#pragma weak parse_in

int plugin_is_GPL_compatible = 1;

enum tl_build_mode tl_build_mode_option = TL_BUILD_DISTRIBUTED;
const char *tl_outdir;
const char *tl_unit_dir_option;
const char *tl_plugin_path;
const char *tl_plugin_base;
bool tl_verbose;
bool tl_werror;
struct tl_tagged *tl_tagged_functions;
unsigned tl_tagged_count;
hash_set<tree> *tl_defined_variables;
hash_set<tree> *tl_defined_functions;

static struct plugin_info turbolift_plugin_info;
static const char turbolift_plugin_help[] =
	"Turbolift: run tagged C functions as services.\n"
	"  -fplugin-arg-turbolift-mode=distributed|off\n"
	"  -fplugin-arg-turbolift-outdir=DIR\n"
	"  -fplugin-arg-turbolift-mode=unit -fplugin-arg-turbolift-unitdir=DIR (the runtime's)\n"
	"  -fplugin-arg-turbolift-verbose\n"
	"  -fplugin-arg-turbolift-werror\n";

/* __TURBOLIFT__ must exist for the preprocessor, also under -E (which runs no
 * compilation callback), so define it when GCC asks plugins for pragmas. */
static void tl_predefine_macro(void *gcc_data ATTRIBUTE_UNUSED, void *user_data ATTRIBUTE_UNUSED)
{
	/* preprocessed input (-save-temps) already went through the macro */
	if (!cpp_get_options(parse_in)->preprocessed)
		cpp_define(parse_in, "__TURBOLIFT__=1");
}

/* Remember every file-scope variable that is defined here (not just declared):
 * the slicer must recognise its declarations in the text even when the call
 * graph dropped it as unused. */
static void tl_note_declaration(void *gcc_data, void *user_data ATTRIBUTE_UNUSED)
{
	tree decl = (tree)gcc_data;

	if (!decl || TREE_CODE(decl) != VAR_DECL || !DECL_NAME(decl))
		return;
	if (!DECL_FILE_SCOPE_P(decl) || DECL_EXTERNAL(decl))
		return;
	tl_defined_variables->add(DECL_NAME(decl));
}

/* Called for every function definition, before it is lowered. */
static void tl_note_function(void *gcc_data, void *user_data ATTRIBUTE_UNUSED)
{
	tree fndecl = (tree)gcc_data;
	struct tl_tagged *tagged;

	if (!fndecl || TREE_CODE(fndecl) != FUNCTION_DECL || !DECL_NAME(fndecl))
		return;
	if (DECL_FILE_SCOPE_P(fndecl))
		tl_defined_functions->add(DECL_NAME(fndecl));

	tagged = tl_find_tagged(fndecl);
	if (!tagged)
		return;
	tagged->has_body = true;
	tagged->signature = tl_derive_signature(fndecl);
	if (tagged->signature && tl_build_mode_option == TL_BUILD_DISTRIBUTED)
		tl_insert_stub(tagged);
}

/* The unit of a file without services, stored at the end of the compile. */
static bool tl_unit_late;

/* After the whole TU is parsed and lowered, before any interprocedural
 * optimisation: the call graph is complete and nothing is inlined yet. */
static void tl_build_services(void *gcc_data ATTRIBUTE_UNUSED, void *user_data ATTRIBUTE_UNUSED)
{
	struct tl_strbuf preprocessed = { NULL, 0, 0 }, unit = { NULL, 0, 0 };
	unsigned i;

	/* 1. a tag on a declaration that never gets a body cannot be served */
	for (i = 0; i < tl_tagged_count; i++) {
		struct tl_tagged *t = &tl_tagged_functions[i];

		if (!t->has_body && TREE_USED(t->decl))
			error_at(DECL_SOURCE_LOCATION(t->decl),
				 "turbolift: %qD is tagged but not defined in this file; "
				 "put the attribute on the definition of the function", t->decl);
		else if (!t->has_body)
			error_at(DECL_SOURCE_LOCATION(t->decl),
				 "turbolift: %qD is tagged but has no definition here; "
				 "tag the definition instead of the declaration", t->decl);
	}
	/* mode=off keeps the checks: globals that could not travel, writes
	 * (capture.cc); nothing it finds changes the code */
	if (tl_build_mode_option != TL_BUILD_DISTRIBUTED && !seen_error())
		for (i = 0; i < tl_tagged_count; i++)
			if (tl_tagged_functions[i].has_body && tl_tagged_functions[i].signature)
				tl_check_globals(&tl_tagged_functions[i]);
	if (tl_build_mode_option != TL_BUILD_DISTRIBUTED || seen_error())
		return;
	tl_describe_unit_vars();

	/* 2. every file is a unit that services may reach (docs/multifile.md);
	 *    a file without services stores it at the end (tl_finish_unit) */
	for (i = 0; i < tl_tagged_count; i++)
		if (tl_tagged_functions[i].has_body && tl_tagged_functions[i].signature)
			break;
	if (i == tl_tagged_count) {
		if (flag_generate_lto) {
			tl_emit_unit_untagged(false);
		} else {
			/* a child its text started is not needed: stop it now */
			if (tl_unit_deferrable())
				tl_preprocess_cancel();
			tl_unit_late = true;
		}
		return;
	}
	if (!tl_read_preprocessed(&preprocessed) || !tl_unit_text(&preprocessed, &unit) ||
	    !tl_emit_unit(&unit))
		i = tl_tagged_count;	/* the error is reported: no services */
	else
		i = 0;

	/* 3. one service per tagged function, each its unit plus a dispatcher */
	for (; i < tl_tagged_count; i++) {
		struct tl_tagged *t = &tl_tagged_functions[i];
		struct tl_reach *reach;
		struct tl_strbuf service = { NULL, 0, 0 };

		if (!t->has_body || !t->signature || !t->state_var)
			continue;
		reach = new struct tl_reach();
		if (tl_compute_reach(t, reach) && tl_check_globals(t) &&
		    tl_slice_service(&unit, t, reach, &service))
			tl_emit_service(t, reach, &service);
		tl_buf_free(&service);
		tl_buf_free(&reach->externals);
		delete reach;
	}
	tl_buf_free(&preprocessed);
	tl_buf_free(&unit);
}

static void tl_finish_unit(void *gcc_data ATTRIBUTE_UNUSED, void *user_data ATTRIBUTE_UNUSED)
{
	if (tl_unit_late)
		tl_emit_unit_untagged(true);
}

/* Before cc1 parses: the second preprocessing starts beside it when the
 * file may have a service (slice.cc). */
static void tl_start_unit(void *gcc_data ATTRIBUTE_UNUSED, void *user_data ATTRIBUTE_UNUSED)
{
	if (tl_build_mode_option == TL_BUILD_DISTRIBUTED || tl_build_mode_option == TL_BUILD_UNIT)
		tl_preprocess_unit_start();
}

/* At the end of cc1: the service checks run meanwhile (emit.cc), and the
 * preprocessing child when errors stopped the build before it was read.
 * mode=unit writes its unit.i here (-fsyntax-only ends cc1 after parsing). */
static void tl_collect_services(void *gcc_data ATTRIBUTE_UNUSED, void *user_data ATTRIBUTE_UNUSED)
{
	if (tl_build_mode_option == TL_BUILD_UNIT)
		tl_emit_unit_into(tl_unit_dir_option);
	tl_finish_services();
	tl_preprocess_discard();
}

static bool tl_parse_arguments(struct plugin_name_args *info)
{
	int i;

	for (i = 0; i < info->argc; i++) {
		const char *key = info->argv[i].key;
		const char *value = info->argv[i].value;

		if (!strcmp(key, "mode") && value && !strcmp(value, "distributed")) {
			tl_build_mode_option = TL_BUILD_DISTRIBUTED;
		} else if (!strcmp(key, "mode") && value && !strcmp(value, "off")) {
			tl_build_mode_option = TL_BUILD_OFF;
		} else if (!strcmp(key, "mode") && value && !strcmp(value, "unit")) {
			tl_build_mode_option = TL_BUILD_UNIT;
		} else if (!strcmp(key, "unitdir") && value && IS_ABSOLUTE_PATH(value)) {
			tl_unit_dir_option = xstrdup(value);
		} else if (!strcmp(key, "outdir") && value && *value) {
			tl_outdir = xstrdup(value);
		} else if (!strcmp(key, "verbose") && !value) {
			tl_verbose = true;
		} else if (!strcmp(key, "werror") && !value) {
			tl_werror = true;
		} else {
			error("turbolift: unknown plugin argument %<-fplugin-arg-%s-%s%s%s%>; "
			      "expected mode=distributed|off, outdir=DIR, verbose or werror",
			      info->base_name, key, value ? "=" : "", value ? value : "");
			return false;
		}
	}
	return true;
}

static const char *tl_default_outdir(void)
{
	const char *env = getenv("TURBOLIFT_OUTDIR");
	char path[4096];

	if (env && *env)
		return xstrdup(env);
	/* The runtime's rule for its cache, so both halves agree. */
	if (tl_cache_path(path, sizeof path, "src") == 0)
		return xstrdup(path);
	error("turbolift: neither %<XDG_CACHE_HOME%> nor %<HOME%> is an absolute path: "
	      "set %<TURBOLIFT_OUTDIR%> or %<-fplugin-arg-turbolift-outdir=DIR%>");
	return NULL;
}

int plugin_init(struct plugin_name_args *info, struct plugin_gcc_version *version)
{
	if (!plugin_default_version_check(version, &gcc_version)) {
		error("turbolift: this plugin was built for GCC %s; rebuild it for this compiler",
		      gcc_version.basever);
		return 1;
	}
	if (!&parse_in)
		return 0;	/* lto1: nothing to do */
	if (strstr(lang_hooks.name, "C++") || strncmp(lang_hooks.name, "GNU C", 5)) {
		error("turbolift: the plugin handles C only, not %s", lang_hooks.name);
		return 1;
	}
	if (!tl_parse_arguments(info))
		return 1;
	if ((tl_build_mode_option == TL_BUILD_UNIT) != (tl_unit_dir_option != NULL)) {
		error("turbolift: %<mode=unit%> and %<unitdir=DIR%> (an absolute path) go together; "
		      "the runtime gives them, to make a unit at its first call");
		return 1;
	}
	tl_plugin_path = tl_absolute(info->full_name);
	tl_plugin_base = info->base_name;
	if (tl_build_mode_option == TL_BUILD_DISTRIBUTED)
		tl_preprocess_init();	/* before cc1 reads stdin */
	/* mode=off writes nothing, so it needs no folder either */
	if (!tl_outdir && tl_build_mode_option == TL_BUILD_DISTRIBUTED &&
	    !(tl_outdir = tl_default_outdir()))
		return 1;
	tl_defined_variables = new hash_set<tree>();
	tl_defined_functions = new hash_set<tree>();

	turbolift_plugin_info.version = TL_VERSION;	/* meson's project version */
	turbolift_plugin_info.help = turbolift_plugin_help;
	register_callback(info->base_name, PLUGIN_INFO, NULL, &turbolift_plugin_info);
	register_callback(info->base_name, PLUGIN_PRAGMAS, tl_predefine_macro, NULL);
	register_callback(info->base_name, PLUGIN_START_UNIT, tl_start_unit, NULL);
	register_callback(info->base_name, PLUGIN_ATTRIBUTES, tl_register_attributes, NULL);
	register_callback(info->base_name, PLUGIN_FINISH_DECL, tl_note_declaration, NULL);
	register_callback(info->base_name, PLUGIN_PRE_GENERICIZE, tl_note_function, NULL);
	register_callback(info->base_name, PLUGIN_ALL_IPA_PASSES_START, tl_build_services, NULL);
	register_callback(info->base_name, PLUGIN_FINISH_UNIT, tl_finish_unit, NULL);
	register_callback(info->base_name, PLUGIN_FINISH, tl_collect_services, NULL);
	return 0;
}
