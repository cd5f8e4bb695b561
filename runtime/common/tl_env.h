/* SPDX-License-Identifier: MIT */
/*
 * tl_env.h - reading TURBOLIFT_* environment variables, for client and
 * service alike.
 *
 * The rule (docs/config.md, "Environment"): a variable that is unset or
 * empty means "not configured" and the default applies; a variable that is
 * set to something out of range or unparsable is an error naming the
 * variable, the value and what is accepted. It never silently becomes the
 * default. The part that reads it decides what the error stops: a service
 * refuses to start, the client cannot set the function up (and the failure
 * policy applies, docs/failures.md).
 */
#ifndef TL_ENV_H
#define TL_ENV_H

#include <stddef.h>

/* The variable's value, or dflt when it is unset or empty. */
const char *tl_env(const char *name, const char *dflt);

/* A decimal number from min to max. Unset or empty: 0 and *value is left
 * as it is. Set but not such a number (a sign, garbage, out of range):
 * -1 with a message in err. */
int tl_env_number(const char *name, unsigned long long min,
                  unsigned long long max, unsigned long long *value,
                  char *err, size_t errlen);

#endif /* TL_ENV_H */
