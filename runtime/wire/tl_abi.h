/* SPDX-License-Identifier: MIT */
/*
 * tl_abi.h - the contract between the plugin, the runtime and a service,
 * written once (docs/abi.md, sections 3-5).
 *
 * The GCC plugin (C++), the runtime and the tests include this header, so
 * the descriptor's keys, the manifest's keys, the dispatcher's entry struct
 * and the names the stub calls cannot drift apart. Plain C that also
 * compiles as C++: macros and one struct, nothing else.
 */
#ifndef TL_ABI_H
#define TL_ABI_H

/* ---- the stub's descriptor (docs/abi.md, section 3) -------------------- */

#define TL_ABI_DESCRIPTOR_VERSION       1
#define TL_ABI_DESC_VERSION             "version"
#define TL_ABI_DESC_FUNCTION            "function"
#define TL_ABI_DESC_TARGET              "target"
#define TL_ABI_DESC_SIGNATURE           "signature"
#define TL_ABI_DESC_HASH                "hash"
#define TL_ABI_DESC_SERVICE_DIR         "service_dir"
#define TL_ABI_DESC_SOURCE              "source"

/* The runtime entries the stub calls. The stub of a plugin that knows
 * captured globals (docs/abi.md, section 1) calls TL_ABI_CALL_CAPTURED
 * with a table of the captured variables' addresses; TL_ABI_CALL is the
 * older entry, kept for objects built before it. */
#define TL_ABI_CALL                     "__turbolift_call"
#define TL_ABI_CALL_CAPTURED            "__turbolift_call_captured"

/* ---- signature (docs/abi.md, section 1) -------------------------------- */

/* Separates the parameters from the captured globals inside the
 * parentheses: "f8(f8;f8,i4)". */
#define TL_ABI_SIG_CAPTURES             ';'

/* ---- the manifest, <service_dir>/service.yaml (docs/abi.md, section 5) - */

/* Its file name: not "turbolift.yaml", which is the user's configuration
 * (docs/config.md). */
#define TL_ABI_MANIFEST_FILE            "service.yaml"
#define TL_ABI_MANIFEST_VERSION         1
#define TL_ABI_MAN_VERSION              "turbolift"
#define TL_ABI_MAN_FUNCTION             "function"
#define TL_ABI_MAN_TARGET               "target"
#define TL_ABI_MAN_SIGNATURE            "signature"
#define TL_ABI_MAN_HASH                 "hash"
#define TL_ABI_MAN_SOURCE               "source"
#define TL_ABI_MAN_LINE                 "line"
#define TL_ABI_MAN_COMPILER             "compiler"
#define TL_ABI_MAN_COMPILE_FLAGS        "compile_flags"
#define TL_ABI_MAN_LINK_FLAGS           "link_flags"
#define TL_ABI_MAN_SERVICE_SOURCE       "service_source"
#define TL_ABI_MAN_SERVICE_OBJECT       "service_object"
#define TL_ABI_MAN_EXTERNAL_SYMBOLS     "external_symbols"
/* The unit folder service.c was cut from (the one it stands for in the
 * program's list of units, docs/multifile.md). */
#define TL_ABI_MAN_UNIT                 "unit"
/* One line per captured variable: {name, type, source}; for people and
 * tools, the runtime reads the signature instead. */
#define TL_ABI_MAN_CAPTURED             "captured"

/* ---- the dispatcher (docs/abi.md, section 4) --------------------------- */

/* The generated service.c spells the struct from this very macro (the
 * plugin stringizes it), so that file needs no include path. */
#define TL_ABI_SERVICE_ENTRY_FIELDS \
    const char *name;           /* the <function> of the URL             */ \
    const char *signature;      /* docs/abi.md, section 1                */ \
    void (*call)(void *const *args, void *result);

struct tl_service_entry {
    TL_ABI_SERVICE_ENTRY_FIELDS
};

#define TL_ABI_SERVICE_ENTRIES          "tl_service_entries"
#define TL_ABI_SERVICE_ENTRY_COUNT      "tl_service_entry_count"

/* A dispatcher with captured globals installs them and runs the function
 * between these two (libturbolift-service.a, service/tl_capture.c), so that
 * concurrent calls on one worker each run with their own caller's values.
 * service.c declares them itself, from these names. */
#define TL_ABI_CAPTURE_LOCK             "__turbolift_capture_lock"
#define TL_ABI_CAPTURE_UNLOCK           "__turbolift_capture_unlock"
#ifdef __cplusplus
extern "C" {
#endif
void __turbolift_capture_lock(void);
void __turbolift_capture_unlock(void);
#ifdef __cplusplus
}
#endif

/* ---- variables of the program's other files (docs/abi.md, section 4) --- */

/* A service that holds writable variables of other units (their code reads
 * them) lists them in this non-allocated section of its binary, one line
 * each: "b ADDR SIZE OFFSET BIND NAME FILE" for plain bytes, sent with
 * every call as one more captured value of type "[TOTAL]u1" at OFFSET;
 * "s ADDR 8 INDEX BIND NAME FILE" for a char pointer, sent as captured
 * value "s" number INDEX after the block (or first, without one);
 * "t 0 SIZE - BIND NAME FILE" for a thread-local, which cannot travel (the
 * client warns); "p ADDR SIZE - BIND NAME FILE" for one that holds pointers, which the
 * client requires unchanged since the program started. ADDR is the
 * service's link-time address (hex), BIND 'g' or 'l', FILE the source's
 * base name. Written by the client after the link (client/
 * tl_unit_globals.c), read by the service at start (service/tl_capture.c). */
#define TL_ABI_GLOBALS_SECTION          "turbolift_globals"

#define TL_ABI_STRINGIZE_(...)          #__VA_ARGS__
#define TL_ABI_STRINGIZE(...)           TL_ABI_STRINGIZE_(__VA_ARGS__)

#endif /* TL_ABI_H */
