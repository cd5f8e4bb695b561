/* SPDX-License-Identifier: MIT */
/*
 * tl_sig.h - the parsed form of a signature string (docs/abi.md, section 1).
 *
 * Private to the runtime: the codec walks this tree on both sides, and the
 * client may look at it (parameter modes, result size) to prepare a call.
 * Create one with tl_sig_parse() (tl_codec.h) and release it with
 * tl_sig_free(). A parsed tl_sig is immutable and safe to share between
 * threads.
 *
 * tl_sig_parse() guarantees, so that users of the tree need not re-check:
 *   - every size and offset below fits comfortably in a size_t (no type is
 *     larger than TL_SIG_MAX_TYPE_SIZE);
 *   - struct fields lie inside their struct and do not overlap, in
 *     increasing offset order;
 *   - a '*' parameter's len_index names a by-value integer parameter of at
 *     most 8 bytes that is not the pointer itself.
 */
#ifndef TL_SIG_H
#define TL_SIG_H

#include <stddef.h>

#include "tl_codec.h"

/* Largest sizeof accepted for one type (struct or field array), 1 GiB. */
#define TL_SIG_MAX_TYPE_SIZE ((size_t)1 << 30)
/* Deepest nesting of structs and arrays accepted. */
#define TL_SIG_MAX_DEPTH 32

enum tl_kind {
    TL_KIND_VOID,       /* 'v': return type only                           */
    TL_KIND_BOOL,       /* 'b': _Bool, size 1                              */
    TL_KIND_INT,        /* 'iN': signed integer of size N (1 2 4 8 16)     */
    TL_KIND_UINT,       /* 'uN': unsigned integer of size N                */
    TL_KIND_FLOAT,      /* 'fN': float (4) or double (8)                   */
    TL_KIND_STRING,     /* 's': char *, may be NULL                        */
    TL_KIND_STRUCT,     /* '{SIZE:ALIGN:fields}'                           */
    TL_KIND_ARRAY,      /* '[COUNT]T': only as a struct field or inside one */
};

struct tl_field;

struct tl_type {
    enum tl_kind kind;
    size_t size;                /* sizeof; 0 for void                     */
    size_t align;               /* _Alignof; 1 for void                   */
    /* TL_KIND_STRUCT */
    unsigned field_count;
    struct tl_field *fields;
    /* TL_KIND_ARRAY */
    size_t count;
    struct tl_type *elem;
    /* Bulk form (docs/abi.md, section 2, "Blocks"): nonzero when the type
     * holds no string anywhere, so that an array of it travels as one
     * little-endian block of count * size bytes. */
    int block;
    /* Nonzero when a block of this type is more than a memcpy on a
     * little-endian host: it holds a _Bool (sent as 0/1, checked on
     * arrival) or padding bytes (sent as zeros). */
    int fixup;
};

struct tl_field {
    size_t offset;              /* byte offset inside the struct          */
    struct tl_type *type;
};

enum tl_param_kind {
    TL_PARAM_VALUE,             /* passed by value                        */
    TL_PARAM_BUFFER,            /* '*MODE LEN:elem': pointer + count       */
    TL_PARAM_OBJECT,            /* '&MODE elem': pointer to one object     */
};

enum tl_access {
    TL_ACCESS_NONE,               /* TL_PARAM_VALUE                          */
    TL_ACCESS_READ,               /* 'r': access(read_only)                  */
    TL_ACCESS_WRITE,              /* 'w': access(write_only)                 */
    TL_ACCESS_READ_WRITE,         /* 'x': access(read_write)                 */
};

struct tl_param {
    enum tl_param_kind kind;
    enum tl_access access;
    unsigned len_index;         /* TL_PARAM_BUFFER: index of the count     */
    struct tl_type *type;       /* the value, or the pointed-to element    */
};

struct tl_sig {
    struct tl_type *result;     /* kind TL_KIND_VOID for void              */
    unsigned param_count;       /* parameters, then captured globals      */
    struct tl_param *params;
    unsigned out_count;         /* pointer parameters with mode 'w' or 'x' */
    /* The last capture_count entries of params are the captured globals
     * (after ';' in the signature): by-value, sent after the arguments,
     * installed by the service's dispatcher before the call. */
    unsigned capture_count;
};

/* Nonzero for a 'w' or 'x' pointer: it is written back in the reply. */
static inline int tl_param_is_out(const struct tl_param *param)
{
    return param->kind != TL_PARAM_VALUE &&
           (param->access == TL_ACCESS_WRITE || param->access == TL_ACCESS_READ_WRITE);
}

/* Nonzero for the 1-byte scalars 'i1', 'u1' and 'b'. */
static inline int tl_type_is_byte(const struct tl_type *type)
{
    return (type->kind == TL_KIND_INT || type->kind == TL_KIND_UINT ||
            type->kind == TL_KIND_BOOL) && type->size == 1;
}

/* Nonzero when the wire form of an array of this element type is one bin
 * block (docs/abi.md, section 2): every element type without a string. */
static inline int tl_type_is_block(const struct tl_type *type)
{
    return type->block;
}

#endif /* TL_SIG_H */
