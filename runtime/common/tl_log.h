/* SPDX-License-Identifier: MIT */
/*
 * tl_log.h - one-line diagnostics on stderr, shared by client and service.
 *
 * Every line starts with "turbolift: " so that a user can tell our messages
 * from their program's. The level comes from TURBOLIFT_LOG
 * (error|warn|info|debug, default warn) and is read once.
 */
#ifndef TL_LOG_H
#define TL_LOG_H

#include <stddef.h>

enum tl_log_level {
    TL_LOG_ERROR = 0,
    TL_LOG_WARN = 1,
    TL_LOG_INFO = 2,
    TL_LOG_DEBUG = 3,
};

/* -1 with a message when TURBOLIFT_LOG is set to something that is not a
 * level (the logger itself then uses warn); client and service call it
 * before they do any work (tl_env.h's rule). */
int tl_log_check_env(char *err, size_t errlen);

/* Nonzero when messages of this level are printed. */
int tl_log_enabled(enum tl_log_level level);

void tl_log(enum tl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A step of a slow set-up (image build, deployment): an info line, printed
 * also below info when shown is nonzero (the caller decided the user is
 * watching: stderr is a terminal). */
void tl_log_progress(int shown, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define tl_log_error(...) tl_log(TL_LOG_ERROR, __VA_ARGS__)
#define tl_log_warn(...)  tl_log(TL_LOG_WARN, __VA_ARGS__)
#define tl_log_info(...)  tl_log(TL_LOG_INFO, __VA_ARGS__)
#define tl_log_debug(...) tl_log(TL_LOG_DEBUG, __VA_ARGS__)

#endif /* TL_LOG_H */
