/* SPDX-License-Identifier: MIT */
/*
 * tl_yaml_read.h - load a YAML file with libyaml and word its errors the
 * same way everywhere: "FILE:LINE: key 'KEY': what is wrong".
 */
#ifndef TL_YAML_READ_H
#define TL_YAML_READ_H

#include <stdarg.h>
#include <stddef.h>
#include <yaml.h>

/* Parse the first document of path into *doc (what names the file in
 * messages: "manifest", "configuration"). On success the caller owns doc
 * and frees it with yaml_document_delete. */
int tl_yaml_load_file(const char *path, const char *what, yaml_document_t *doc,
                      char *err, size_t errlen);

/* Parse text (YAML, or JSON, which libyaml reads as YAML's flow style:
 * kubectl's jsonpath output, a registry's replies) into *doc. An empty text
 * is a document without a root node. */
int tl_yaml_load_string(const char *text, yaml_document_t *doc, char *err, size_t errlen);

/* The value of key in the mapping node map, or NULL (not a mapping, or no
 * such key). */
yaml_node_t *tl_yaml_lookup(yaml_document_t *doc, yaml_node_t *map, const char *key);

/* Write "path:line: key 'key': <fmt...>" into err; line from node (1 when
 * NULL). Returns -1, so that callers can `return tl_yaml_verror(...)`. */
int tl_yaml_verror(char *err, size_t errlen, const char *path, const yaml_node_t *node,
                   const char *key, const char *fmt, va_list ap);

#endif /* TL_YAML_READ_H */
