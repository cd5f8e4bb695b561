/* SPDX-License-Identifier: MIT */
/*
 * tl_cache_root.h - where turbolift keeps what it makes: one rule for the
 * plugin (service folders, "src") and the runtime (linked services, "bin").
 *
 * ${XDG_CACHE_HOME}/turbolift when that is an absolute path (the XDG spec
 * says a relative one is to be ignored), else $HOME/.cache/turbolift when
 * HOME is absolute; no other guess (a cache in /tmp could be another user's).
 * Header-only and plain C that also compiles as C++, because the plugin
 * includes it too (docs/architecture.md, "Where state lives").
 */
#ifndef TL_CACHE_ROOT_H
#define TL_CACHE_ROOT_H

#include <stdio.h>
#include <stdlib.h>

/* Writes "<root>/turbolift/<sub>" into buf; 0, or -1 when neither variable
 * is an absolute path or buf is too small. */
static inline int tl_cache_path(char *buf, size_t len, const char *sub)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;

    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, len, "%s/turbolift/%s", xdg, sub);
    else if (home != NULL && home[0] == '/')
        n = snprintf(buf, len, "%s/.cache/turbolift/%s", home, sub);
    else
        return -1;
    return n > 0 && (size_t)n < len ? 0 : -1;
}

#endif /* TL_CACHE_ROOT_H */
