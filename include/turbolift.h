/* SPDX-License-Identifier: MIT */
/*
 * turbolift.h - tag a C function to run as a service.
 *
 *   #include <turbolift.h>
 *   TURBOLIFT("local") double price(struct opt o, int paths) { ... }
 *
 * Built with the turbolift GCC plugin (which predefines __TURBOLIFT__), the
 * function and everything it reaches becomes a service and every call of it
 * a msgpack-over-HTTP request. Built without the plugin, TURBOLIFT() expands
 * to nothing and the program needs neither plugin nor runtime.
 *
 * Targets: "local" (worker processes on this machine) and "k8s".
 */
#ifndef TURBOLIFT_H
#define TURBOLIFT_H

#ifdef __TURBOLIFT__
#define TURBOLIFT(target) __attribute__((turbolift(target)))
#else
#define TURBOLIFT(target)
#endif

/*
 * TURBOLIFT_STATIC on a global or static variable: "the service may use its
 * own copy; the initial value is fine". The plugin then neither sends the
 * variable's value with each call (captured globals, docs/remote.md) nor
 * warns where the service writes it (a per-worker cache or counter). On the
 * declaration of a C library function with hidden state (rand, strtok,
 * ...) it silences the warning about that function.
 *
 *   static TURBOLIFT_STATIC double cache[1024];
 */
#ifdef __TURBOLIFT__
#define TURBOLIFT_STATIC __attribute__((turbolift_static))
#else
#define TURBOLIFT_STATIC
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Stop every worker and deployment this process started. Runs by itself at
 * exit; call it earlier to release them sooner. Safe to call more than once.
 */
void turbolift_shutdown(void);

/* Entry points of the stub the plugin inserts; see docs/abi.md, section 3.
 * captured[i] is the address of the i-th captured global. */
int __turbolift_call(const char *descriptor, void **state,
                     void *const *args, void *result);
int __turbolift_call_captured(const char *descriptor, void **state,
                              void *const *args, void *result,
                              void *const *captured);

#ifdef __cplusplus
}
#endif

#endif /* TURBOLIFT_H */
