/* SPDX-License-Identifier: MIT */
/*
 * tl_plugin.h - state shared by the steps of the turbolift GCC plugin.
 *
 * The plugin is C++ only because GCC's headers are. It is written in a C
 * style: plain structs and functions, no classes of its own beyond GCC's
 * pass structures, no exceptions, no RTTI.
 */
#ifndef TL_PLUGIN_H
#define TL_PLUGIN_H

#include "gcc-plugin.h"
#include "plugin-version.h"
#include "tree.h"
#include "hash-set.h"

/* -fplugin-arg-turbolift-mode= */
enum tl_build_mode {
	TL_BUILD_DISTRIBUTED,	/* tagged functions become services */
	TL_BUILD_OFF,		/* attribute checked, code untouched  */
	TL_BUILD_UNIT,		/* the first call makes a recipe's unit.i */
};

/* One function carrying __attribute__((turbolift("target"))). */
struct tl_tagged {
	tree decl;		/* the FUNCTION_DECL (merged across redeclarations) */
	const char *target;	/* "local" or "k8s"                                */
	bool has_body;		/* a definition was parsed in this TU              */
	char *signature;	/* docs/abi.md, section 1; NULL until derived      */
	tree descriptor_var;	/* static const char *: filled in by emit step     */
	tree state_var;		/* static void *: the runtime's per-function slot  */
	struct tl_capture *captures;	/* captured globals (capture.cc)   */
	unsigned capture_count;
};

/* A global the service reads and the program may change: its value is sent
 * with each call (docs/remote.md). */
struct tl_capture {
	tree var;		/* the VAR_DECL                                    */
	char *type;		/* its signature type (docs/abi.md, section 1)     */
};

struct tl_strbuf {
	char *data;
	size_t len, cap;
};

/* Options and collected facts, owned by turbolift_plugin.cc. */
extern enum tl_build_mode tl_build_mode_option;
extern const char *tl_outdir;
extern const char *tl_unit_dir_option;	/* -fplugin-arg-turbolift-unitdir= (mode=unit) */
extern const char *tl_plugin_path;	/* this plugin, absolute, for recipes */
extern const char *tl_plugin_base;	/* its name in -fplugin-arg-NAME-      */
extern bool tl_verbose;		/* -fplugin-arg-turbolift-verbose */
extern bool tl_werror;		/* -fplugin-arg-turbolift-werror  */
extern struct tl_tagged *tl_tagged_functions;
extern unsigned tl_tagged_count;
/* Names (IDENTIFIER_NODEs) of file-scope variables defined in this TU and of
 * file-scope functions with a body, seen while parsing. The slicer needs the
 * whole TU, including what the call graph has already thrown away. */
extern hash_set<tree> *tl_defined_variables;
extern hash_set<tree> *tl_defined_functions;

/* Step 1: the attribute (attribute.cc). */
void tl_register_attributes(void *gcc_data, void *user_data);
struct tl_tagged *tl_find_tagged(tree decl);

/* Step 2: signature and type checks (signature.cc). */
char *tl_derive_signature(tree fndecl);
bool tl_spell_type(struct tl_strbuf *out, tree type, location_t loc);
bool tl_capture_type(struct tl_strbuf *out, tree var, tree fndecl);

/* Step 3: the prologue that calls the runtime (stub.cc). */
void tl_insert_stub(struct tl_tagged *tagged);
void tl_fill_captures(struct tl_tagged *tagged);

/* Step 4: reachability over the call graph (reach.cc). */
struct tl_reach {
	hash_set<tree> functions;	/* IDENTIFIER_NODEs of reachable functions */
	hash_set<tree> variables;	/* IDENTIFIER_NODEs of reachable globals   */
	struct tl_strbuf externals;	/* '\n'-separated undefined symbol names   */
};
bool tl_compute_reach(struct tl_tagged *tagged, struct tl_reach *reach);

/* Step 4b: globals the slice reads (captured) and writes (warned), and the C
 * library's hidden state it reaches (capture.cc). Appends the captured
 * globals to tagged->signature after ';'. */
bool tl_check_globals(struct tl_tagged *tagged);
/* Shared with unitvars.cc, which records every file's writes for the
 * services of other files: every store in fn's body to a global or static
 * variable that is not const, the runtime's or TURBOLIFT_STATIC (var set),
 * and every call of a C library function with hidden state (callee set),
 * at its place, as seen(arg, fn, loc, var, callee); a body in a system
 * header is skipped. */
typedef void (*tl_write_seen)(void *arg, cgraph_node *fn, location_t loc, tree var,
			      tree callee);
void tl_walk_writes(cgraph_node *fn, tl_write_seen seen, void *arg);

/* Step 5: this file as a unit of services, and the service translation unit
 * (slice.cc, unit.cc, recipe.cc; docs/multifile.md). tl_slice_service
 * starts from the unit text. */
#define TL_UNITS_SECTION "turbolift_units"	/* in every object: its unit folder */
#define TL_UNIT_OF_SECTION "turbolift_unit_of"	/* in service.o: the unit it replaces */
extern char *tl_unit_dir;			/* this file's unit folder, once written */
void tl_preprocess_init(void);
void tl_preprocess_unit_start(void);
void tl_preprocess_start(void);
void tl_preprocess_cancel(void);
void tl_preprocess_discard(void);
bool tl_unit_deferrable(void);
vec<const char *> tl_preprocess_options(void);
bool tl_read_preprocessed(struct tl_strbuf *out);
bool tl_unit_text(const struct tl_strbuf *preprocessed, struct tl_strbuf *unit);
bool tl_emit_unit(const struct tl_strbuf *unit);
void tl_emit_unit_untagged(bool now);
void tl_emit_unit_into(const char *dir);
bool tl_recipe_write(struct tl_strbuf *text, uint64_t *key);
vec<const char *> tl_recipe_options(const char *dir);
bool tl_slice_service(const struct tl_strbuf *unit, struct tl_tagged *tagged,
		      struct tl_reach *reach, struct tl_strbuf *service);

/* Step 6: hash, manifest, service object, descriptor (emit.cc). */
vec<const char *> tl_compile_flags(void);
void tl_finish_services(void);
uint64_t tl_fnv1a(uint64_t h, const char *data, size_t len);
char *tl_absolute(const char *path);
bool tl_emit_service(struct tl_tagged *tagged, struct tl_reach *reach,
		     const struct tl_strbuf *service);

/* Small helpers (util.cc). */
void tl_buf_append(struct tl_strbuf *b, const char *s, size_t n);
void tl_buf_puts(struct tl_strbuf *b, const char *s);
void tl_buf_printf(struct tl_strbuf *b, const char *fmt, ...) ATTRIBUTE_PRINTF_2;
void tl_buf_free(struct tl_strbuf *b);
bool tl_mkdir_p(const char *path);
bool tl_write_file(const char *path, const char *data, size_t len);
bool tl_run(const char *const *argv, const char *stdout_file, char **output);
struct tl_child {
	pid_t pid;
	int errfd;		/* its stdout and stderr */
};
bool tl_run_start(const char *const *argv, struct tl_child *child);
bool tl_run_start_input(const char *const *argv, struct tl_child *child, const char *stdin_file);
bool tl_run_wait(struct tl_child *child, char **output);
const char *tl_cc1_path(void);
tree tl_const_char_pointer(void);
bool tl_is_own_symbol(tree decl);

/* The variables of this file another file's service may hold (unitvars.cc):
 * described when the call graph is complete, written into each unit folder
 * the build makes (<dir>/vars.txt). */
void tl_describe_unit_vars(void);
bool tl_write_unit_vars(const char *dir);

#endif /* TL_PLUGIN_H */
