/* SPDX-License-Identifier: MIT */
/*
 * tl_capture.h - the program's variables a call brings (tl_capture.c).
 */
#ifndef TL_CAPTURE_H
#define TL_CAPTURE_H

#include <stddef.h>

#include "tl_abi.h"

/* Read this binary's list of the program's variables of other files: 0
 * (also when it has none), or -1 with err set. Once, at start. */
int tl_capture_load(char *err, size_t errlen);
/* Bytes of the block each call brings (0: no block), and the number of
 * strings after it. */
size_t tl_capture_block_size(void);
size_t tl_capture_strings(void);
/* Put the block (args[first], when there is one) and the strings after it
 * into the variables, then run the entry: calls that bring the values the
 * variables hold run side by side, one that brings others waits until none
 * runs (tl_capture.c). -1 (nothing ran) when memory for a string ran out. */
int tl_capture_call(const struct tl_service_entry *entry, void *const *args,
                    unsigned first, void *result);

#endif /* TL_CAPTURE_H */
