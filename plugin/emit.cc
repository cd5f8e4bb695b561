/* SPDX-License-Identifier: MIT */
/*
 * emit.cc - step 6: write the service and tell the stub where it is.
 *
 *   <outdir>/<function>-<hash>/service.c       the slice plus the dispatcher
 *                                              (docs/abi.md, section 4)
 *   <outdir>/<function>-<hash>/service.yaml    the manifest (docs/abi.md, section 5),
 *                                              written once service.c passed a
 *                                              -fsyntax-only check beside cc1, so a
 *                                              service that does not compile fails
 *                                              the user's build
 *
 * service.o is compiled at the first call that needs it, like the other
 * units (runtime/client/tl_build.c): the build pays for a parse of the
 * service text, on a CPU cc1 leaves free, not for a second optimising
 * compile of the whole file (docs/multifile.md, "Build time").
 *
 * The hash covers the service text, the compile options and the compiler,
 * so a folder never changes once written and can be shared by every build
 * and every program that produces the same service.
 */
#include "tl_plugin.h"
#include "options.h"
#include "opts.h"
#include "toplev.h"
#include "version.h"
#include "stringpool.h"
#include "cgraph.h"
#include "fold-const.h"
#include "diagnostic-core.h"
#include <yaml.h>
#include <sys/stat.h>
#include "tl_abi.h"

/* Options that shape the generated code: language, optimisation, target. */
static bool tl_codegen_option(const char *text)
{
	static const char *const excluded[] = {
		"-fplugin", "-fdump", "-fpreprocessed", "-fdiagnostics", "-fstack-usage",
		"-fcallgraph-info", "-fmessage-length", "-fworking-directory",
		"-fdebug-prefix-map", "-ffile-prefix-map", "-fmacro-prefix-map",
		"-fprofile", "-fcoverage", "-ftest-coverage", "-fsyntax-only",
		"-flto",	/* services and units link as machine code (docs/multifile.md) */
	};
	unsigned i;

	if (!text || text[0] != '-')
		return false;
	if (strncmp(text, "-std=", 5) && strncmp(text, "-O", 2) && strncmp(text, "-f", 2) &&
	    strncmp(text, "-m", 2) && strcmp(text, "-ansi"))
		return false;
	for (i = 0; i < ARRAY_SIZE(excluded); i++)
		if (!strncmp(text, excluded[i], strlen(excluded[i])))
			return false;
	return true;
}

vec<const char *> tl_compile_flags(void)
{
	vec<const char *> flags = vNULL;
	unsigned i;

	for (i = 0; i < save_decoded_options_count; i++) {
		const struct cl_decoded_option *opt = &save_decoded_options[i];

		if (opt->opt_index == OPT_SPECIAL_input_file || opt->canonical_option_num_elements != 1)
			continue;
		if (tl_codegen_option(opt->canonical_option[0]))
			flags.safe_push(opt->canonical_option[0]);
	}
	return flags;
}

uint64_t tl_fnv1a(uint64_t h, const char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)data[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- the dispatcher: how the service calls the function ----------------- */

/* Appended to the slice: the entry table the runtime's service main()
 * looks for, and a typed call of the function. Captured globals come after
 * the arguments in the args array (docs/abi.md, section 1); they are
 * installed, and the function run, under one lock, so that concurrent
 * calls on one worker each see their own caller's values. */
static bool tl_emit_dispatcher(struct tl_strbuf *out, struct tl_tagged *tagged)
{
	tree fndecl = tagged->decl;
	tree ret = TREE_TYPE(TREE_TYPE(fndecl));
	location_t loc = DECL_SOURCE_LOCATION(fndecl);
	const char *name = IDENTIFIER_POINTER(DECL_NAME(fndecl));
	unsigned nparams = list_length(DECL_ARGUMENTS(fndecl)), i;
	tree parm;

	tl_buf_puts(out, "\n#line 1 \"<turbolift dispatcher>\"\n"
		    "struct tl_service_entry { "
		    TL_ABI_STRINGIZE(TL_ABI_SERVICE_ENTRY_FIELDS) " };\n\n");
	if (tagged->capture_count)
		tl_buf_puts(out, "void " TL_ABI_CAPTURE_LOCK "(void);\n"
			    "void " TL_ABI_CAPTURE_UNLOCK "(void);\n\n");
	tl_buf_printf(out, "static void tl_dispatch_%s(void *const *tl_args, void *tl_result)\n{\n",
		      name);
	if (tagged->capture_count)
		tl_buf_puts(out, "\t" TL_ABI_CAPTURE_LOCK "();\n");
	for (i = 0; i < tagged->capture_count; i++) {
		const char *var = IDENTIFIER_POINTER(DECL_NAME(tagged->captures[i].var));

		tl_buf_printf(out, "\t__builtin_memcpy((void *)&%s, tl_args[%u], sizeof(%s));\n",
			      var, nparams + i, var);
	}
	tl_buf_puts(out, "\t");
	if (VOID_TYPE_P(ret)) {
		tl_buf_puts(out, "(void)tl_result;\n\t");
	} else {
		tl_buf_puts(out, "*(");
		if (!tl_spell_type(out, ret, loc))
			return false;
		tl_buf_puts(out, " *)tl_result = ");
	}
	tl_buf_printf(out, "%s(", name);
	for (parm = DECL_ARGUMENTS(fndecl), i = 0; parm; parm = DECL_CHAIN(parm), i++) {
		tl_buf_puts(out, i ? ", *(" : "*(");
		if (!tl_spell_type(out, TREE_TYPE(parm), DECL_SOURCE_LOCATION(parm)))
			return false;
		tl_buf_printf(out, " *)tl_args[%u]", i);
	}
	tl_buf_puts(out, ");\n");
	if (tagged->capture_count)
		tl_buf_puts(out, "\t" TL_ABI_CAPTURE_UNLOCK "();\n");
	tl_buf_puts(out, "}\n\n");
	tl_buf_printf(out, "const struct tl_service_entry " TL_ABI_SERVICE_ENTRIES "[] = {\n"
		      "\t{ \"%s\", \"%s\", tl_dispatch_%s },\n};\n"
		      "const unsigned " TL_ABI_SERVICE_ENTRY_COUNT " = 1;\n",
		      name, tagged->signature, name);
	return true;
}

/* ---- manifest, emitted with libyaml -------------------------------------- */

static bool tl_yaml_scalar(yaml_emitter_t *em, const char *value, bool quoted)
{
	yaml_event_t ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)value, -1, !quoted, 1,
				     quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
	return yaml_emitter_emit(em, &ev);
}

static bool tl_yaml_pair(yaml_emitter_t *em, const char *key, const char *value)
{
	return tl_yaml_scalar(em, key, false) && tl_yaml_scalar(em, value, true);
}

static bool tl_yaml_list(yaml_emitter_t *em, const char *key, vec<const char *> *items)
{
	yaml_event_t ev;
	unsigned i;

	if (!tl_yaml_scalar(em, key, false))
		return false;
	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
	if (!yaml_emitter_emit(em, &ev))
		return false;
	for (i = 0; i < items->length(); i++)
		if (!tl_yaml_scalar(em, (*items)[i], true))
			return false;
	yaml_sequence_end_event_initialize(&ev);
	return yaml_emitter_emit(em, &ev);
}

/* captured: one line per variable, {name, type, source} */
static bool tl_yaml_captured(yaml_emitter_t *em, struct tl_tagged *tagged)
{
	yaml_event_t ev;
	unsigned i;

	if (!tl_yaml_scalar(em, TL_ABI_MAN_CAPTURED, false))
		return false;
	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
					     tagged->capture_count ? YAML_BLOCK_SEQUENCE_STYLE
								   : YAML_FLOW_SEQUENCE_STYLE);
	if (!yaml_emitter_emit(em, &ev))
		return false;
	for (i = 0; i < tagged->capture_count; i++) {
		tree var = tagged->captures[i].var;
		expanded_location at = expand_location(DECL_SOURCE_LOCATION(var));
		char *where = xasprintf("%s:%d", at.file ? at.file : "", at.line);
		bool ok;

		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE);
		ok = yaml_emitter_emit(em, &ev) &&
		     tl_yaml_pair(em, "name", IDENTIFIER_POINTER(DECL_NAME(var))) &&
		     tl_yaml_pair(em, "type", tagged->captures[i].type) &&
		     tl_yaml_pair(em, "source", where);
		free(where);
		yaml_mapping_end_event_initialize(&ev);
		if (!ok || !yaml_emitter_emit(em, &ev))
			return false;
	}
	yaml_sequence_end_event_initialize(&ev);
	return yaml_emitter_emit(em, &ev);
}

static int tl_yaml_write(void *data, unsigned char *buffer, size_t size)
{
	tl_buf_append((struct tl_strbuf *)data, (const char *)buffer, size);
	return 1;
}

static bool tl_write_manifest(const char *path, struct tl_tagged *tagged, const char *hash,
			      const char *source, int line, vec<const char *> *flags,
			      vec<const char *> *link_flags, vec<const char *> *externals)
{
	struct tl_strbuf text = { NULL, 0, 0 };
	yaml_emitter_t em;
	yaml_event_t ev;
	char line_text[32], version_text[16];
	bool ok;

	snprintf(line_text, sizeof(line_text), "%d", line);
	yaml_emitter_initialize(&em);
	yaml_emitter_set_output(&em, tl_yaml_write, &text);
	yaml_emitter_set_unicode(&em, 1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = yaml_emitter_emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	ok = ok && yaml_emitter_emit(&em, &ev);
	snprintf(version_text, sizeof(version_text), "%d", TL_ABI_MANIFEST_VERSION);
	ok = ok && tl_yaml_scalar(&em, TL_ABI_MAN_VERSION, false) &&
	     tl_yaml_scalar(&em, version_text, false);
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_FUNCTION, IDENTIFIER_POINTER(DECL_NAME(tagged->decl)));
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_TARGET, tagged->target);
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_SIGNATURE, tagged->signature);
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_HASH, hash);
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_SOURCE, source);
	ok = ok && tl_yaml_scalar(&em, TL_ABI_MAN_LINE, false) && tl_yaml_scalar(&em, line_text, false);
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_COMPILER,
				getenv("COLLECT_GCC") ? getenv("COLLECT_GCC") : "gcc");
	ok = ok && tl_yaml_list(&em, TL_ABI_MAN_COMPILE_FLAGS, flags);
	ok = ok && tl_yaml_list(&em, TL_ABI_MAN_LINK_FLAGS, link_flags);
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_SERVICE_SOURCE, "service.c");
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_SERVICE_OBJECT, "service.o");
	ok = ok && tl_yaml_pair(&em, TL_ABI_MAN_UNIT, tl_unit_dir);
	ok = ok && tl_yaml_list(&em, TL_ABI_MAN_EXTERNAL_SYMBOLS, externals);
	ok = ok && tl_yaml_captured(&em, tagged);
	yaml_mapping_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&em, &ev);
	ok = ok && yaml_emitter_flush(&em);
	yaml_emitter_delete(&em);
	ok = ok && tl_write_file(path, text.data, text.len);
	tl_buf_free(&text);
	return ok;
}

/* ---- the service check: the user's build is where it must fail -------- */

/* service.c being checked (-fsyntax-only) while cc1 goes on with the
 * user's own code (optimisation and code generation, most of a compile):
 * the two overlap when a CPU is free. tl_finish_services collects it at
 * the end of cc1 and publishes the manifest, or fails the user's build. */
struct tl_pending_service {
	struct tl_child child;
	char *source, *manifest, *tmp_manifest, *name;
	location_t loc;
};
static vec<tl_pending_service> tl_pending_services;

void tl_finish_services(void)
{
	unsigned i;

	for (i = 0; i < tl_pending_services.length(); i++) {
		struct tl_pending_service *p = &tl_pending_services[i];
		char *output = NULL;
		bool ok = tl_run_wait(&p->child, &output);

		if (!ok) {
			error_at(p->loc, "turbolift: the service for %qs does not compile", p->name);
			inform(p->loc, "%s", output ? output : p->source);
		} else if (rename(p->tmp_manifest, p->manifest) != 0) {
			error_at(p->loc, "turbolift: cannot write %qs: %s", p->manifest,
				 xstrerror(errno));
			ok = false;
		}
		if (!ok)
			unlink(p->tmp_manifest);
		free(output);
		free(p->source);
		free(p->manifest);
		free(p->tmp_manifest);
		free(p->name);
	}
	tl_pending_services.release();
}

/* Start "gcc -fsyntax-only service.c" with the options of its later compile
 * (runtime/client/tl_build.c adds -c -ffunction-sections -fdata-sections). */
static bool tl_check_service(struct tl_tagged *tagged, const char *dir, const char *manifest,
			     const char *tmp_manifest, vec<const char *> *flags)
{
	vec<const char *> argv = vNULL;
	char *source = concat(dir, "/service.c", NULL);
	const char *driver = getenv("COLLECT_GCC");
	struct tl_pending_service p;
	unsigned i;
	bool ok;

	argv.safe_push(driver && *driver ? driver : "gcc");
	argv.safe_push("-fsyntax-only");
	/* The output is shown only when this fails. No -Werror: the service is
	 * the user's whole file, so what the file may do (an implicit
	 * declaration in old code) the service may too. */
	for (i = 0; i < flags->length(); i++)
		argv.safe_push((*flags)[i]);
	argv.safe_push(source);
	argv.safe_push(NULL);
	ok = tl_run_start(argv.address(), &p.child);
	argv.release();
	if (!ok) {
		error_at(DECL_SOURCE_LOCATION(tagged->decl),
			 "turbolift: cannot start the compiler to check the service of %qD: %s",
			 tagged->decl, xstrerror(errno));
		free(source);
		return false;
	}
	p.source = source;
	p.manifest = xstrdup(manifest);
	p.tmp_manifest = xstrdup(tmp_manifest);
	p.name = xstrdup(IDENTIFIER_POINTER(DECL_NAME(tagged->decl)));
	p.loc = DECL_SOURCE_LOCATION(tagged->decl);
	tl_pending_services.safe_push(p);
	return true;
}

char *tl_absolute(const char *path)
{
	char *real = lrealpath(path);

	if (real && real[0] == '/')
		return real;
	free(real);
	return concat(getpwd(), "/", path, NULL);
}

bool tl_emit_service(struct tl_tagged *tagged, struct tl_reach *reach,
		     const struct tl_strbuf *slice)
{
	struct tl_strbuf text = { NULL, 0, 0 }, *service = &text;
	const char *name = IDENTIFIER_POINTER(DECL_NAME(tagged->decl));
	vec<const char *> flags = tl_compile_flags();
	vec<const char *> link_flags = vNULL;
	vec<const char *> externals = vNULL;
	expanded_location where = expand_location(DECL_SOURCE_LOCATION(tagged->decl));
	char *outdir = tl_absolute(tl_outdir);
	char *source = tl_absolute(where.file ? where.file : main_input_filename);
	char *dir, *path, *descriptor, *ext, *line;
	char hash[17];
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned i;
	bool ok = false;
	struct stat st;

	/* 1. the slice and its dispatcher; the content hash names the folder */
	tl_buf_append(&text, slice->data, slice->len);
	if (!tl_emit_dispatcher(&text, tagged)) {
		tl_buf_free(&text);
		flags.release();
		free(outdir);
		free(source);
		return false;
	}
	h = tl_fnv1a(h, service->data, service->len);
	for (i = 0; i < flags.length(); i++)
		h = tl_fnv1a(h, flags[i], strlen(flags[i]) + 1);
	h = tl_fnv1a(h, version_string, strlen(version_string));
	h = tl_fnv1a(h, tagged->target, strlen(tagged->target));
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)h);
	dir = xasprintf("%s/%s-%s", outdir, name, hash);

	for (i = 0; i < flags.length(); i++)
		if (!strcmp(flags[i], "-fopenmp"))
			link_flags.safe_push("-fopenmp");
	ext = reach->externals.data ? xstrdup(reach->externals.data) : NULL;
	for (line = ext ? strtok(ext, "\n") : NULL; line; line = strtok(NULL, "\n"))
		externals.safe_push(line);

	/* 2. service.c and, once it passes the check, the manifest, unless this
	 *    exact service exists (the manifest appears last, by rename) */
	path = concat(dir, "/" TL_ABI_MANIFEST_FILE, NULL);
	if (stat(path, &st) != 0) {
		char *c_path = concat(dir, "/service.c", NULL);
		char *tmp_yaml = xasprintf("%s.checking.%ld", path, (long)getpid());

		if (!tl_mkdir_p(dir)) {
			error("turbolift: cannot create %qs: %s", dir, xstrerror(errno));
		} else if (!tl_write_file(c_path, service->data, service->len)) {
			error("turbolift: cannot write %qs: %s", c_path, xstrerror(errno));
		} else if (!tl_write_manifest(tmp_yaml, tagged, hash, source, where.line, &flags,
					      &link_flags, &externals)) {
			error("turbolift: cannot write %qs", tmp_yaml);
		} else {
			ok = tl_check_service(tagged, dir, path, tmp_yaml, &flags);
		}
		free(c_path);
		free(tmp_yaml);
	} else {
		ok = true;
	}
	free(path);

	/* 3. the descriptor the stub hands to the runtime */
	if (ok) {
		descriptor = xasprintf(TL_ABI_DESC_VERSION "=%d\n" TL_ABI_DESC_FUNCTION "=%s\n"
				       TL_ABI_DESC_TARGET "=%s\n" TL_ABI_DESC_SIGNATURE "=%s\n"
				       TL_ABI_DESC_HASH "=%s\n" TL_ABI_DESC_SERVICE_DIR "=%s\n"
				       TL_ABI_DESC_SOURCE "=%s:%d\n",
				       TL_ABI_DESCRIPTOR_VERSION, name, tagged->target,
				       tagged->signature, hash, dir, source, where.line);
		DECL_INITIAL(tagged->descriptor_var) =
			fold_convert(tl_const_char_pointer(),
				     build_string_literal(strlen(descriptor) + 1, descriptor));
		free(descriptor);
		tl_fill_captures(tagged);
	}

	flags.release();
	link_flags.release();
	externals.release();
	free(ext);
	free(dir);
	free(outdir);
	free(source);
	tl_buf_free(&text);
	return ok;
}
