/* SPDX-License-Identifier: MIT */
/*
 * tl_yaml_read.c - one way to load YAML files and to point at their lines.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tl_yaml_read.h"

/* Load the parser's first document; "WHERE:LINE: YAML error: ..." on failure
 * (libyaml counts lines from 0; editors count from 1). */
static int load(yaml_parser_t *parser, const char *where, yaml_document_t *doc,
                char *err, size_t errlen)
{
    if (yaml_parser_load(parser, doc))
        return 0;
    snprintf(err, errlen, "%s:%lu: YAML error: %s%s%s", where,
             (unsigned long)parser->problem_mark.line + 1,
             parser->problem ? parser->problem : "unknown",
             parser->context ? " " : "", parser->context ? parser->context : "");
    return -1;
}

int tl_yaml_load_file(const char *path, const char *what, yaml_document_t *doc,
                      char *err, size_t errlen)
{
    yaml_parser_t parser;
    int rc = -1;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open %s: %s", path, what, strerror(errno));
        return -1;
    }
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: cannot initialise the YAML parser", path);
        goto close_file;
    }
    yaml_parser_set_input_file(&parser, f);
    rc = load(&parser, path, doc, err, errlen);
    yaml_parser_delete(&parser);
close_file:
    fclose(f);
    return rc;
}

int tl_yaml_load_string(const char *text, yaml_document_t *doc, char *err, size_t errlen)
{
    yaml_parser_t parser;
    int rc;

    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "cannot initialise the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    rc = load(&parser, "text", doc, err, errlen);
    yaml_parser_delete(&parser);
    return rc;
}

yaml_node_t *tl_yaml_lookup(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);

        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

int tl_yaml_verror(char *err, size_t errlen, const char *path, const yaml_node_t *node,
                   const char *key, const char *fmt, va_list ap)
{
    char what[256];

    vsnprintf(what, sizeof what, fmt, ap);
    snprintf(err, errlen, "%s:%lu: key '%s': %s", path,
             node ? (unsigned long)node->start_mark.line + 1 : 1UL, key, what);
    return -1;
}
