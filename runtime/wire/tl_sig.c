/* SPDX-License-Identifier: MIT */
/*
 * tl_sig.c - parse a signature string (docs/abi.md, section 1) into a
 * struct tl_sig (tl_sig.h).
 *
 * The parser also runs inside every service at startup, on strings that a
 * plugin of another version may have written, so it trusts nothing: every
 * number is range-checked, every struct layout is checked for fields that
 * stick out or overlap, nesting is bounded, and any mistake gives a message
 * that points at the offending character rather than a crash.
 */
#include "tl_sig.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that no real C function comes near; they keep arithmetic on sizes
 * far from overflow and the parser's recursion shallow. */
#define TL_SIG_MAX_ALIGN 65536u
#define TL_SIG_MAX_PARAMS 1024u
#define TL_SIG_MAX_TEXT 65536u

struct tl_sig_parser {
    const char *text;           /* the whole string, for messages         */
    const char *pos;            /* next character to read                 */
    unsigned depth;             /* current struct/array nesting           */
    char *err;
    size_t errlen;
};

/* What a type may be where it is parsed. */
enum {
    TL_ALLOW_VOID = 1 << 0,     /* the return type                        */
    TL_ALLOW_ARRAY = 1 << 1,    /* a struct field or array element        */
    TL_ALLOW_STRING = 1 << 2,   /* anything but a pointer's element       */
};

static void tl_sig_fail(struct tl_sig_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tl_sig_fail(struct tl_sig_parser *p, const char *fmt, ...)
{
    char reason[160];
    va_list ap;

    if (p->err == NULL || p->errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "bad signature \"%.80s%s\" at offset %zu: %s",
             p->text, strlen(p->text) > 80 ? "..." : "",
             (size_t)(p->pos - p->text), reason);
}

static void tl_type_free(struct tl_type *type)
{
    if (type == NULL)
        return;
    for (unsigned i = 0; i < type->field_count; i++)
        tl_type_free(type->fields[i].type);
    free(type->fields);
    tl_type_free(type->elem);
    free(type);
}

static int tl_sig_expect(struct tl_sig_parser *p, char c)
{
    if (*p->pos != c) {
        if (*p->pos == '\0')
            tl_sig_fail(p, "expected '%c', found the end of the string", c);
        else
            tl_sig_fail(p, "expected '%c', found '%c'", c, *p->pos);
        return -1;
    }
    p->pos++;
    return 0;
}

/* A decimal number in [0, max]. */
static int tl_sig_number(struct tl_sig_parser *p, size_t max, const char *what,
                         size_t *out)
{
    size_t value = 0;

    if (*p->pos < '0' || *p->pos > '9') {
        tl_sig_fail(p, "expected a decimal %s", what);
        return -1;
    }
    while (*p->pos >= '0' && *p->pos <= '9') {
        size_t digit = (size_t)(*p->pos - '0');
        if (value > (max - digit) / 10) {
            tl_sig_fail(p, "%s is larger than %zu", what, max);
            return -1;
        }
        value = value * 10 + digit;
        p->pos++;
    }
    *out = value;
    return 0;
}

static struct tl_type *tl_type_new(struct tl_sig_parser *p, enum tl_kind kind,
                                   size_t size, size_t align)
{
    struct tl_type *type = calloc(1, sizeof *type);

    if (type == NULL) {
        tl_sig_fail(p, "out of memory");
        return NULL;
    }
    type->kind = kind;
    type->size = size;
    type->align = align;
    /* Scalars are blocks; structs and arrays narrow this once their
     * members are known, strings and void never are. */
    type->block = kind == TL_KIND_BOOL || kind == TL_KIND_INT ||
                  kind == TL_KIND_UINT || kind == TL_KIND_FLOAT ||
                  kind == TL_KIND_STRUCT || kind == TL_KIND_ARRAY;
    type->fixup = kind == TL_KIND_BOOL;
    return type;
}

static struct tl_type *tl_sig_type(struct tl_sig_parser *p, unsigned allow);

/* '{' SIZE ':' ALIGN ':' field { ',' field } '}', the '{' already read. */
static struct tl_type *tl_sig_struct(struct tl_sig_parser *p)
{
    struct tl_type *type = NULL;
    size_t size, align, end_of_previous = 0, covered = 0;
    unsigned capacity = 0;

    if (tl_sig_number(p, TL_SIG_MAX_TYPE_SIZE, "struct size", &size) < 0 ||
        tl_sig_expect(p, ':') < 0 ||
        tl_sig_number(p, TL_SIG_MAX_ALIGN, "struct alignment", &align) < 0)
        return NULL;
    if (align == 0 || (align & (align - 1)) != 0) {
        tl_sig_fail(p, "struct alignment %zu is not a power of two", align);
        return NULL;
    }
    if (size % align != 0) {
        tl_sig_fail(p, "struct size %zu is not a multiple of its alignment %zu",
                    size, align);
        return NULL;
    }
    if (tl_sig_expect(p, ':') < 0)
        return NULL;
    type = tl_type_new(p, TL_KIND_STRUCT, size, align);
    if (type == NULL)
        return NULL;

    for (;;) {
        struct tl_field field;

        if (tl_sig_number(p, TL_SIG_MAX_TYPE_SIZE, "field offset", &field.offset) < 0)
            goto fail;
        if (field.offset < end_of_previous) {
            tl_sig_fail(p, "field at offset %zu overlaps the field before it "
                        "(which ends at %zu)", field.offset, end_of_previous);
            goto fail;
        }
        if (tl_sig_expect(p, '=') < 0)
            goto fail;
        field.type = tl_sig_type(p, TL_ALLOW_ARRAY | TL_ALLOW_STRING);
        if (field.type == NULL)
            goto fail;
        if (field.offset > size || field.type->size > size - field.offset) {
            tl_sig_fail(p, "field at offset %zu of size %zu does not fit in a "
                        "struct of size %zu", field.offset, field.type->size, size);
            tl_type_free(field.type);
            goto fail;
        }
        end_of_previous = field.offset + field.type->size;
        if (type->field_count == capacity) {
            unsigned grown = capacity ? capacity * 2 : 4;
            struct tl_field *fields = realloc(type->fields, grown * sizeof *fields);
            if (fields == NULL) {
                tl_sig_fail(p, "out of memory");
                tl_type_free(field.type);
                goto fail;
            }
            type->fields = fields;
            capacity = grown;
        }
        type->fields[type->field_count++] = field;
        covered += field.type->size;
        type->block &= field.type->block;
        type->fixup |= field.type->fixup;
        if (*p->pos != ',')
            break;
        p->pos++;
    }
    if (tl_sig_expect(p, '}') < 0)
        goto fail;
    /* Fields do not overlap, so any byte they leave is padding. */
    if (covered != size)
        type->fixup = 1;
    return type;

fail:
    tl_type_free(type);
    return NULL;
}

/* '[' COUNT ']' type, the '[' already read. */
static struct tl_type *tl_sig_array(struct tl_sig_parser *p)
{
    struct tl_type *type = NULL, *elem;
    size_t count;

    if (tl_sig_number(p, TL_SIG_MAX_TYPE_SIZE, "array count", &count) < 0 ||
        tl_sig_expect(p, ']') < 0)
        return NULL;
    elem = tl_sig_type(p, TL_ALLOW_ARRAY | TL_ALLOW_STRING);
    if (elem == NULL)
        return NULL;
    if (elem->size != 0 && count > TL_SIG_MAX_TYPE_SIZE / elem->size) {
        tl_sig_fail(p, "array of %zu elements of size %zu is larger than %zu bytes",
                    count, elem->size, TL_SIG_MAX_TYPE_SIZE);
        tl_type_free(elem);
        return NULL;
    }
    type = tl_type_new(p, TL_KIND_ARRAY, count * elem->size, elem->align);
    if (type == NULL) {
        tl_type_free(elem);
        return NULL;
    }
    type->count = count;
    type->elem = elem;
    type->block = elem->block;
    type->fixup = elem->fixup;
    return type;
}

/* 'i' / 'u' / 'f' followed by its size, the letter already read. */
static struct tl_type *tl_sig_scalar(struct tl_sig_parser *p, char letter)
{
    size_t size;

    if (tl_sig_number(p, 16, "scalar size", &size) < 0)
        return NULL;
    if (letter == 'f') {
        if (size != 4 && size != 8) {
            tl_sig_fail(p, "float size must be 4 or 8, not %zu", size);
            return NULL;
        }
        return tl_type_new(p, TL_KIND_FLOAT, size, size);
    }
    if (size != 1 && size != 2 && size != 4 && size != 8 && size != 16) {
        tl_sig_fail(p, "integer size must be 1, 2, 4, 8 or 16, not %zu", size);
        return NULL;
    }
    /* Alignment equal to the size is at least what the C ABI uses, and is
     * only used to allocate storage, never to compute a layout. */
    return tl_type_new(p, letter == 'i' ? TL_KIND_INT : TL_KIND_UINT, size, size);
}

static struct tl_type *tl_sig_type(struct tl_sig_parser *p, unsigned allow)
{
    struct tl_type *type = NULL;
    char letter = *p->pos;

    if (letter == '\0') {
        tl_sig_fail(p, "expected a type, found the end of the string");
        return NULL;
    }
    p->pos++;
    switch (letter) {
    case 'v':
        if (!(allow & TL_ALLOW_VOID)) {
            p->pos--;
            tl_sig_fail(p, "'v' (void) is only allowed as the return type");
            return NULL;
        }
        return tl_type_new(p, TL_KIND_VOID, 0, 1);
    case 'b':
        return tl_type_new(p, TL_KIND_BOOL, 1, 1);
    case 'i':
    case 'u':
    case 'f':
        return tl_sig_scalar(p, letter);
    case 's':
        if (!(allow & TL_ALLOW_STRING)) {
            p->pos--;
            tl_sig_fail(p, "'s' (string) cannot be the element of a pointer");
            return NULL;
        }
        return tl_type_new(p, TL_KIND_STRING, sizeof(char *), _Alignof(char *));
    case '{':
    case '[':
        if (letter == '[' && !(allow & TL_ALLOW_ARRAY)) {
            p->pos--;
            tl_sig_fail(p, "a fixed array is only allowed inside a struct");
            return NULL;
        }
        if (++p->depth > TL_SIG_MAX_DEPTH) {
            tl_sig_fail(p, "structs and arrays nested deeper than %u",
                        TL_SIG_MAX_DEPTH);
            return NULL;
        }
        type = letter == '{' ? tl_sig_struct(p) : tl_sig_array(p);
        p->depth--;
        return type;
    default:
        p->pos--;
        tl_sig_fail(p, "'%c' does not start a type", letter);
        return NULL;
    }
}

/* Room for one more entry of sig->params (parameters, then captured
 * globals, share the array and its limit); what names them for the error. */
static int tl_sig_grow(struct tl_sig_parser *p, struct tl_sig *sig, unsigned *capacity,
                       const char *what)
{
    struct tl_param *params;
    unsigned grown;

    if (sig->param_count == TL_SIG_MAX_PARAMS) {
        tl_sig_fail(p, "more than %u %s", TL_SIG_MAX_PARAMS, what);
        return -1;
    }
    if (sig->param_count < *capacity)
        return 0;
    grown = *capacity ? *capacity * 2 : 4;
    params = realloc(sig->params, grown * sizeof *params);
    if (params == NULL) {
        tl_sig_fail(p, "out of memory");
        return -1;
    }
    sig->params = params;
    *capacity = grown;
    return 0;
}

static int tl_sig_param(struct tl_sig_parser *p, struct tl_param *param)
{
    char sigil = *p->pos;

    memset(param, 0, sizeof *param);
    if (sigil == '*' || sigil == '&') {
        p->pos++;
        param->kind = sigil == '*' ? TL_PARAM_BUFFER : TL_PARAM_OBJECT;
        switch (*p->pos) {
        case 'r': param->access = TL_ACCESS_READ; break;
        case 'w': param->access = TL_ACCESS_WRITE; break;
        case 'x': param->access = TL_ACCESS_READ_WRITE; break;
        default:
            tl_sig_fail(p, "expected an access mode 'r', 'w' or 'x' after '%c'",
                        sigil);
            return -1;
        }
        p->pos++;
        if (sigil == '*') {
            size_t len_index;
            if (tl_sig_number(p, TL_SIG_MAX_PARAMS - 1, "length parameter index",
                              &len_index) < 0 ||
                tl_sig_expect(p, ':') < 0)
                return -1;
            param->len_index = (unsigned)len_index;
        }
        param->type = tl_sig_type(p, 0);
    } else {
        param->kind = TL_PARAM_VALUE;
        param->access = TL_ACCESS_NONE;
        param->type = tl_sig_type(p, TL_ALLOW_STRING);
    }
    return param->type != NULL ? 0 : -1;
}

/* Every '*' parameter's count must be a by-value integer of at most 8
 * bytes: the codec reads it to size the buffer on both sides. */
static int tl_sig_check_lengths(struct tl_sig_parser *p, const struct tl_sig *sig)
{
    for (unsigned i = 0; i < sig->param_count; i++) {
        const struct tl_param *param = &sig->params[i];
        const struct tl_param *len;

        if (param->kind != TL_PARAM_BUFFER)
            continue;
        if (param->len_index >= sig->param_count - sig->capture_count ||
            param->len_index == i) {
            tl_sig_fail(p, "parameter %u: length index %u does not name another "
                        "parameter", i, param->len_index);
            return -1;
        }
        len = &sig->params[param->len_index];
        if (len->kind != TL_PARAM_VALUE ||
            (len->type->kind != TL_KIND_INT && len->type->kind != TL_KIND_UINT) ||
            len->type->size > 8) {
            tl_sig_fail(p, "parameter %u: length parameter %u is not an integer "
                        "passed by value of at most 8 bytes", i, param->len_index);
            return -1;
        }
    }
    return 0;
}

int tl_sig_parse(const char *text, struct tl_sig **out, char *err, size_t errlen)
{
    struct tl_sig_parser p = { .text = text, .pos = text, .err = err, .errlen = errlen };
    struct tl_sig *sig = NULL;
    unsigned capacity = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    *out = NULL;
    if (text == NULL) {
        p.text = p.pos = "";
        tl_sig_fail(&p, "the signature is NULL");
        return -1;
    }
    if (strlen(text) > TL_SIG_MAX_TEXT) {
        tl_sig_fail(&p, "longer than %u characters", TL_SIG_MAX_TEXT);
        return -1;
    }
    sig = calloc(1, sizeof *sig);
    if (sig == NULL) {
        tl_sig_fail(&p, "out of memory");
        goto fail;
    }
    sig->result = tl_sig_type(&p, TL_ALLOW_VOID | TL_ALLOW_STRING);
    if (sig->result == NULL || tl_sig_expect(&p, '(') < 0)
        goto fail;
    if (*p.pos != ')' && *p.pos != ';') {
        for (;;) {
            if (tl_sig_grow(&p, sig, &capacity, "parameters") < 0)
                goto fail;
            if (tl_sig_param(&p, &sig->params[sig->param_count]) < 0)
                goto fail;
            if (tl_param_is_out(&sig->params[sig->param_count]))
                sig->out_count++;
            sig->param_count++;
            if (*p.pos != ',')
                break;
            p.pos++;
        }
    }
    /* Captured globals: by-value types, fixed arrays included. */
    if (*p.pos == ';') {
        p.pos++;
        for (;;) {
            struct tl_param *param;

            if (tl_sig_grow(&p, sig, &capacity, "parameters and captured globals") < 0)
                goto fail;
            param = &sig->params[sig->param_count];
            memset(param, 0, sizeof *param);
            param->kind = TL_PARAM_VALUE;
            param->type = tl_sig_type(&p, TL_ALLOW_STRING | TL_ALLOW_ARRAY);
            if (param->type == NULL)
                goto fail;
            sig->param_count++;
            sig->capture_count++;
            if (*p.pos != ',')
                break;
            p.pos++;
        }
    }
    if (tl_sig_expect(&p, ')') < 0)
        goto fail;
    if (*p.pos != '\0') {
        tl_sig_fail(&p, "unexpected '%c' after the closing ')'", *p.pos);
        goto fail;
    }
    if (tl_sig_check_lengths(&p, sig) < 0)
        goto fail;
    *out = sig;
    return 0;

fail:
    tl_sig_free(sig);
    return -1;
}

int tl_sig_parse_with_globals(const char *text, unsigned captures, size_t block,
                              size_t strings, struct tl_sig **out, char *err, size_t errlen)
{
    size_t len = strlen(text), cap = len + 48 + 2 * strings, at;
    char *extended;
    int rc;

    /* "R(params;captures)": more captures go before the ')' */
    if (len < 2 || text[len - 1] != ')') {
        snprintf(err, errlen, "bad signature \"%s\": it does not end in ')'", text);
        return -1;
    }
    extended = malloc(cap);
    if (extended == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    at = (size_t)snprintf(extended, cap, "%.*s", (int)len - 1, text);
    if (block > 0)
        at += (size_t)snprintf(extended + at, cap - at, "%c[%zu]u1", captures ? ',' : ';',
                               block);
    for (size_t i = 0; i < strings; i++)
        at += (size_t)snprintf(extended + at, cap - at, "%cs",
                               captures || block > 0 || i > 0 ? ',' : ';');
    snprintf(extended + at, cap - at, ")");
    rc = tl_sig_parse(extended, out, err, errlen);
    free(extended);
    return rc;
}

void tl_sig_free(struct tl_sig *sig)
{
    if (sig == NULL)
        return;
    tl_type_free(sig->result);
    for (unsigned i = 0; i < sig->param_count; i++)
        tl_type_free(sig->params[i].type);
    free(sig->params);
    free(sig);
}

unsigned tl_sig_param_count(const struct tl_sig *sig)
{
    return sig->param_count;
}

size_t tl_sig_result_size(const struct tl_sig *sig)
{
    return sig->result->size;
}
