/* SPDX-License-Identifier: MIT */
/*
 * tl_check.h - the unit tests' assertions: CHECK records a failure with its
 * file:line and carries on, REQUIRE stops the test at once; main() returns
 * tl_check_status() so that meson sees the failure.
 */
#ifndef TL_CHECK_H
#define TL_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int tl_check_failures;

#define CHECK(cond) do {                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            tl_check_failures++;                                            \
        }                                                                   \
    } while (0)

/* CHECK with a message printed on failure, e.g. the codec's err buffer. */
#define CHECK_MSG(cond, ...) do {                                           \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                 \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
            tl_check_failures++;                                            \
        }                                                                   \
    } while (0)

#define REQUIRE(cond) do {                                                  \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

static inline int tl_check_status(const char *name)
{
    if (tl_check_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, tl_check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif /* TL_CHECK_H */
