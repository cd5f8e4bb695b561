/* SPDX-License-Identifier: MIT */
/*
 * tl_codec.c - encode and decode calls as msgpack, driven by a parsed
 * signature (docs/abi.md, sections 1 and 2).
 *
 * Four directions, two per side:
 *
 *   client  tl_encode_request  caller's argument memory  -> msgpack array
 *   service tl_decode_request  msgpack array             -> tl_frame
 *   service tl_encode_reply    tl_frame                  -> {"result","out"}
 *   client  tl_decode_reply    {"result","out"}          -> caller's memory
 *
 * All C memory is read and written with memcpy at the offsets the signature
 * gives, so packed structs and unaligned fields are fine. Messages say where
 * a value was found: each level of the walk prefixes its position ("argument
 * 2: field 1: element 7: ...") on the way out.
 *
 * Limits. The service never trusts a count it reads: every buffer a request
 * asks for (including write-only ones, whose size comes from nothing but an
 * integer argument) is charged to the frame, and a frame may not hold more
 * than tl_codec_alloc_limit() bytes (256 MiB by default, TURBOLIFT_MAX_ALLOC
 * or tl_codec_set_alloc_limit()). msgpack-c itself keeps one msgpack_object
 * (24 bytes on 64-bit) per element of the body, so its memory is bounded by
 * the body size the HTTP layer accepts. That is only true once each
 * container's element count is known to be backed by bytes, which
 * tl_check_structure() verifies before msgpack-c sees a body; on the
 * service, those objects are charged to the frame's limit as well.
 */
#define _POSIX_C_SOURCE 200809L    /* posix_memalign */

#include "tl_codec.h"
#include "tl_env.h"
#include "tl_log.h"
#include "tl_sig.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TL_CODEC_DEFAULT_ALLOC_LIMIT ((size_t)256 << 20)

struct tl_frame {
    void **args;                /* param_count addresses, as in section 3  */
    void *result;               /* NULL for void                           */
    size_t *counts;             /* element count of each '*' buffer        */
    void **blocks;              /* every allocation this frame owns        */
    size_t block_count;
    size_t block_capacity;
    size_t allocated;           /* bytes charged against limit             */
    size_t limit;
    struct tl_budget *budget;   /* service-wide budget, or NULL            */
    size_t held;                /* bytes taken from budget, given back by
                                 * tl_frame_free                           */
    unsigned refusal;           /* why an allocation failed: 413 over the
                                 * call's limit, 503 over the budget or
                                 * out of memory                          */
    int lent_out;               /* the out block lies in the request body
                                 * (tl_encode_reply_in_place)             */
};

/* How a decode walk treats the memory it fills. */
struct tl_decoder {
    char *err;
    size_t errlen;
    int write;                  /* client: 0 checks the reply, 1 applies it;
                                 * a NULL destination is always only checked */
    struct tl_frame *frame;     /* service: strings live in the frame;
                                 * client (NULL): strings are malloc'd and
                                 * become the caller's                     */
    int old_strings_valid;      /* client: the memory holds the caller's
                                 * strings, keep those that did not change */
    int lend;                   /* service: read-only blocks may stay in
                                 * the body (tl_decode_request_lent)       */
};

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

static int tl_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int tl_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Put "where" in front of the message already in err. */
static int tl_fail_at(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int tl_fail_at(char *err, size_t errlen, const char *fmt, ...)
{
    char where[64], reason[512];
    va_list ap;

    if (err == NULL || errlen == 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(where, sizeof where, fmt, ap);
    va_end(ap);
    snprintf(reason, sizeof reason, "%s", err);
    snprintf(err, errlen, "%s%s", where, reason);
    return -1;
}

static const char *tl_object_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "positive integer";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer";
    case MSGPACK_OBJECT_FLOAT32: return "float32";
    case MSGPACK_OBJECT_FLOAT64: return "float64";
    case MSGPACK_OBJECT_STR: return "str";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown msgpack type";
}

static const char *tl_kind_name(const struct tl_type *type)
{
    switch (type->kind) {
    case TL_KIND_VOID: return "nil (void)";
    case TL_KIND_BOOL: return "bool";
    case TL_KIND_INT: return type->size == 16 ? "bin of 16 bytes (i16)" : "integer";
    case TL_KIND_UINT: return type->size == 16 ? "bin of 16 bytes (u16)" : "integer";
    case TL_KIND_FLOAT: return "float";
    case TL_KIND_STRING: return "str or nil";
    case TL_KIND_STRUCT: return "array (struct)";
    case TL_KIND_ARRAY: return tl_type_is_block(type->elem) ? "bin (fixed array)" : "array (fixed array)";
    }
    return "?";
}

static int tl_fail_type(char *err, size_t errlen, const struct tl_type *type,
                        const msgpack_object *o)
{
    return tl_fail(err, errlen, "expected %s, got %s", tl_kind_name(type),
                   tl_object_name(o));
}

/* ------------------------------------------------------------------ */
/* Allocation limit                                                   */
/* ------------------------------------------------------------------ */

static _Atomic size_t tl_alloc_limit;
static pthread_once_t tl_alloc_limit_once = PTHREAD_ONCE_INIT;

int tl_codec_check_env(char *err, size_t errlen)
{
    unsigned long long bytes = TL_CODEC_DEFAULT_ALLOC_LIMIT;

    return tl_env_number("TURBOLIFT_MAX_ALLOC", 1, SIZE_MAX, &bytes, err, errlen);
}

static void tl_alloc_limit_from_env(void)
{
    unsigned long long limit = TL_CODEC_DEFAULT_ALLOC_LIMIT;
    char err[160];

    /* A bad value is reported by tl_codec_check_env as an error of the part
     * that starts; the limit stays the default meanwhile. */
    if (tl_env_number("TURBOLIFT_MAX_ALLOC", 1, SIZE_MAX, &limit, err,
                      sizeof err) != 0)
        limit = TL_CODEC_DEFAULT_ALLOC_LIMIT;
    /* A setter call that came first wins over the environment. */
    size_t unset = 0;
    atomic_compare_exchange_strong(&tl_alloc_limit, &unset, (size_t)limit);
}

size_t tl_codec_alloc_limit(void)
{
    pthread_once(&tl_alloc_limit_once, tl_alloc_limit_from_env);
    return atomic_load(&tl_alloc_limit);
}

void tl_codec_set_alloc_limit(size_t bytes)
{
    pthread_once(&tl_alloc_limit_once, tl_alloc_limit_from_env);
    atomic_store(&tl_alloc_limit, bytes ? bytes : TL_CODEC_DEFAULT_ALLOC_LIMIT);
}

/* ------------------------------------------------------------------ */
/* Service memory budget                                              */
/* ------------------------------------------------------------------ */

int tl_budget_take(struct tl_budget *budget, size_t bytes)
{
    size_t used;

    if (budget == NULL)
        return 0;
    used = atomic_load(&budget->used);
    do {
        if (bytes > budget->limit || used > budget->limit - bytes)
            return -1;
    } while (!atomic_compare_exchange_weak(&budget->used, &used, used + bytes));
    return 0;
}

void tl_budget_give(struct tl_budget *budget, size_t bytes)
{
    if (budget != NULL && bytes > 0)
        atomic_fetch_sub(&budget->used, bytes);
}

/* ------------------------------------------------------------------ */
/* Frame memory                                                       */
/* ------------------------------------------------------------------ */

/* Memory owned by the frame, charged against its limit and the service's
 * budget; zeroed when zero is set (a buffer the decoder fills completely
 * need not be). */
static void *tl_frame_alloc_mem(struct tl_frame *frame, size_t size, size_t align,
                                int zero, char *err, size_t errlen)
{
    void *block = NULL;

    if (size == 0)
        size = 1;   /* a zero-length buffer is still a non-NULL pointer */
    if (size > frame->limit - frame->allocated) {
        frame->refusal = 413;
        tl_fail(err, errlen, "the call needs more than %zu bytes of memory "
                "(TURBOLIFT_MAX_ALLOC)", frame->limit);
        return NULL;
    }
    if (tl_budget_take(frame->budget, size) < 0) {
        frame->refusal = 503;
        tl_fail(err, errlen, "the service's memory budget of %zu bytes is taken "
                "by the calls in flight (TURBOLIFT_MAX_MEMORY); retry later",
                frame->budget->limit);
        return NULL;
    }
    if (frame->block_count == frame->block_capacity) {
        size_t grown = frame->block_capacity ? frame->block_capacity * 2 : 8;
        void **blocks = realloc(frame->blocks, grown * sizeof *blocks);
        if (blocks == NULL)
            goto out_of_memory;
        frame->blocks = blocks;
        frame->block_capacity = grown;
    }
    if (align <= _Alignof(max_align_t)) {
        block = zero ? calloc(1, size) : malloc(size);
    } else if (posix_memalign(&block, align, size) == 0) {
        if (zero)
            memset(block, 0, size);
    } else {
        block = NULL;
    }
    if (block == NULL)
        goto out_of_memory;
    frame->blocks[frame->block_count++] = block;
    frame->allocated += size;
    frame->held += frame->budget != NULL ? size : 0;
    return block;

out_of_memory:
    tl_budget_give(frame->budget, size);
    frame->refusal = 503;
    tl_fail(err, errlen, "out of memory allocating %zu bytes", size);
    return NULL;
}

static void *tl_frame_alloc(struct tl_frame *frame, size_t size, size_t align,
                            char *err, size_t errlen)
{
    return tl_frame_alloc_mem(frame, size, align, 1, err, errlen);
}

void tl_frame_free(struct tl_frame *frame)
{
    if (frame == NULL)
        return;
    for (size_t i = 0; i < frame->block_count; i++)
        free(frame->blocks[i]);
    tl_budget_give(frame->budget, frame->held);
    free(frame->blocks);
    free(frame);
}

size_t tl_frame_memory(const struct tl_frame *frame)
{
    return frame->allocated;
}

void *const *tl_frame_args(const struct tl_frame *frame)
{
    return frame->args;
}

void *tl_frame_result(const struct tl_frame *frame)
{
    return frame->result;
}

/* ------------------------------------------------------------------ */
/* Scalars in C memory                                                */
/* ------------------------------------------------------------------ */

static int64_t tl_load_int(const unsigned char *mem, size_t size)
{
    int8_t i8; int16_t i16; int32_t i32; int64_t i64;

    switch (size) {
    case 1: memcpy(&i8, mem, 1); return i8;
    case 2: memcpy(&i16, mem, 2); return i16;
    case 4: memcpy(&i32, mem, 4); return i32;
    default: memcpy(&i64, mem, 8); return i64;
    }
}

static uint64_t tl_load_uint(const unsigned char *mem, size_t size)
{
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;

    switch (size) {
    case 1: memcpy(&u8, mem, 1); return u8;
    case 2: memcpy(&u16, mem, 2); return u16;
    case 4: memcpy(&u32, mem, 4); return u32;
    default: memcpy(&u64, mem, 8); return u64;
    }
}

/* Store the low `size` bytes of a value already known to fit. */
static void tl_store_uint(unsigned char *mem, size_t size, uint64_t bits)
{
    uint8_t u8 = (uint8_t)bits; uint16_t u16 = (uint16_t)bits;
    uint32_t u32 = (uint32_t)bits;

    switch (size) {
    case 1: memcpy(mem, &u8, 1); break;
    case 2: memcpy(mem, &u16, 2); break;
    case 4: memcpy(mem, &u32, 4); break;
    default: memcpy(mem, &bits, 8); break;
    }
}

/* 16-byte integers travel little-endian; convert from/to host order. */
static void tl_copy_le16(unsigned char *dst, const unsigned char *src)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (int i = 0; i < 16; i++)
        dst[i] = src[15 - i];
#else
    memcpy(dst, src, 16);
#endif
}

/* ------------------------------------------------------------------ */
/* Blocks: arrays of string-free types as one little-endian bin       */
/* ------------------------------------------------------------------ */

/*
 * The wire form of an array whose element type holds no string is the C
 * layout the signature states: element i at i * SIZE, each field at its
 * OFFSET, every scalar little-endian, a _Bool as 0 or 1, padding bytes
 * zero (docs/abi.md, "Blocks"). On a little-endian host that is the C
 * memory itself, so most blocks are one memcpy; the walks below only run
 * for elements with a _Bool or padding inside (and on big-endian hosts).
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TL_BIG_ENDIAN 1
#else
#define TL_BIG_ENDIAN 0
#endif

static int tl_block_walks(const struct tl_type *type)
{
    return type->fixup || TL_BIG_ENDIAN;
}

/* Reverse a scalar's bytes on a big-endian host (to or from the wire). */
static void tl_block_swap(unsigned char *p, size_t size)
{
#if TL_BIG_ENDIAN
    for (size_t i = 0; i < size / 2; i++) {
        unsigned char t = p[i];
        p[i] = p[size - 1 - i];
        p[size - 1 - i] = t;
    }
#else
    (void)p;
    (void)size;
#endif
}

/* One element copied from C memory, turned into its wire form in place. */
static void tl_block_out(const struct tl_type *type, unsigned char *p)
{
    size_t at = 0;

    switch (type->kind) {
    case TL_KIND_BOOL:
        p[0] = p[0] != 0;
        return;
    case TL_KIND_INT:
    case TL_KIND_UINT:
    case TL_KIND_FLOAT:
        tl_block_swap(p, type->size);
        return;
    case TL_KIND_STRUCT:
        for (unsigned i = 0; i < type->field_count; i++) {
            const struct tl_field *field = &type->fields[i];
            memset(p + at, 0, field->offset - at);
            if (tl_block_walks(field->type))
                tl_block_out(field->type, p + field->offset);
            at = field->offset + field->type->size;
        }
        memset(p + at, 0, type->size - at);
        return;
    case TL_KIND_ARRAY:
        for (size_t i = 0; tl_block_walks(type->elem) && i < type->count; i++)
            tl_block_out(type->elem, p + i * type->elem->size);
        return;
    default:
        return;     /* no strings or void in a block (tl_sig.h) */
    }
}

/* One element as it arrived: 0 when every _Bool in it is 0 or 1, else -1
 * with the offending byte's offset in *bad. */
static int tl_block_check(const struct tl_type *type, const unsigned char *p,
                          size_t base, size_t *bad)
{
    switch (type->kind) {
    case TL_KIND_BOOL:
        if (p[0] > 1) {
            *bad = base;
            return -1;
        }
        return 0;
    case TL_KIND_STRUCT:
        for (unsigned i = 0; i < type->field_count; i++) {
            const struct tl_field *field = &type->fields[i];
            if (field->type->fixup &&
                tl_block_check(field->type, p + field->offset, base + field->offset,
                               bad) < 0)
                return -1;
        }
        return 0;
    case TL_KIND_ARRAY:
        for (size_t i = 0; type->elem->fixup && i < type->count; i++) {
            size_t at = i * type->elem->size;
            if (tl_block_check(type->elem, p + at, base + at, bad) < 0)
                return -1;
        }
        return 0;
    default:
        return 0;
    }
}

/* A block already copied into C memory: scalars to host order. */
static void tl_block_in(const struct tl_type *type, unsigned char *p)
{
#if TL_BIG_ENDIAN
    switch (type->kind) {
    case TL_KIND_INT:
    case TL_KIND_UINT:
    case TL_KIND_FLOAT:
        tl_block_swap(p, type->size);
        return;
    case TL_KIND_STRUCT:
        for (unsigned i = 0; i < type->field_count; i++)
            tl_block_in(type->fields[i].type, p + type->fields[i].offset);
        return;
    case TL_KIND_ARRAY:
        for (size_t i = 0; i < type->count; i++)
            tl_block_in(type->elem, p + i * type->elem->size);
        return;
    default:
        return;
    }
#else
    (void)type;
    (void)p;
#endif
}

/* Room for n more bytes at the end of an sbuffer, grown once. */
static int tl_sbuffer_reserve(msgpack_sbuffer *sb, size_t n)
{
    size_t want;
    char *data;

    if (sb->alloc - sb->size >= n)
        return 0;
    if (n > SIZE_MAX - sb->size)
        return -1;
    want = sb->size + n;
    data = realloc(sb->data, want);
    if (data == NULL)
        return -1;
    sb->data = data;
    sb->alloc = want;
    return 0;
}

/* Element count of a '*' parameter from its length argument. */
static int tl_load_length(const struct tl_sig *sig, void *const *args,
                          const struct tl_param *param, size_t *count,
                          char *err, size_t errlen)
{
    const struct tl_type *len_type = sig->params[param->len_index].type;
    const unsigned char *mem = args[param->len_index];

    if (len_type->kind == TL_KIND_INT) {
        int64_t value = tl_load_int(mem, len_type->size);
        if (value < 0)
            return tl_fail(err, errlen, "length argument %u is negative (%lld)",
                           param->len_index, (long long)value);
        *count = (size_t)value;
    } else {
        uint64_t value = tl_load_uint(mem, len_type->size);
        if (value > SIZE_MAX)
            return tl_fail(err, errlen, "length argument %u is too large (%llu)",
                           param->len_index, (unsigned long long)value);
        *count = (size_t)value;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Encoding: C memory -> msgpack                                      */
/* ------------------------------------------------------------------ */

#define TL_PACK(call) do { if ((call) != 0) goto pack_failed; } while (0)

static int tl_pack_value(msgpack_packer *pk, const struct tl_type *type,
                         const unsigned char *mem, char *err, size_t errlen);

/* Where every packer in this file writes: a msgpack_sbuffer, and for a
 * request sent in pieces (tl_encode_request_pieces) the list of big blocks
 * left in the caller's memory. */
struct tl_out {
    msgpack_sbuffer *sb;
    struct tl_pieces *pieces;   /* NULL: every byte goes into sb            */
};

static int tl_out_write(void *data, const char *buf, size_t len)
{
    return msgpack_sbuffer_write(((struct tl_out *)data)->sb, buf, len);
}

/* count elements of `elem` starting at mem as one block (a bin): copied
 * straight into the sbuffer and fixed up there, with no per-element call;
 * or, when the wire form is the C memory itself and the block is big, not
 * copied at all but noted as a piece that the sender reads from mem. */
static int tl_pack_block(msgpack_packer *pk, const struct tl_type *elem,
                         const unsigned char *mem, size_t count,
                         char *err, size_t errlen)
{
    struct tl_out *out = pk->data;
    msgpack_sbuffer *sb = out->sb;
    unsigned char *dst;
    size_t bytes;

    if (elem->size != 0 && count > UINT32_MAX / elem->size)
        return tl_fail(err, errlen, "%zu elements of %zu bytes do not fit in one "
                       "msgpack bin (at most %u bytes)", count, elem->size,
                       UINT32_MAX);
    bytes = count * elem->size;
    TL_PACK(msgpack_pack_bin(pk, bytes));
    if (bytes == 0)
        return 0;
    if (out->pieces != NULL && !tl_block_walks(elem) && bytes >= TL_PIECE_MIN) {
        struct tl_pieces *pc = out->pieces;
        if (pc->count == pc->capacity) {
            unsigned grown = pc->capacity ? pc->capacity * 2 : 4;
            struct tl_piece *v = realloc(pc->v, grown * sizeof *v);
            if (v == NULL)
                goto pack_failed;
            pc->v = v;
            pc->capacity = grown;
        }
        pc->v[pc->count++] = (struct tl_piece){ sb->size, mem, bytes };
        pc->total += bytes;
        return 0;
    }
    if (tl_sbuffer_reserve(sb, bytes) < 0)
        goto pack_failed;
    dst = (unsigned char *)sb->data + sb->size;
    memcpy(dst, mem, bytes);
    if (tl_block_walks(elem)) {
        for (size_t i = 0; i < count; i++)
            tl_block_out(elem, dst + i * elem->size);
    }
    sb->size += bytes;
    return 0;

pack_failed:
    return tl_fail(err, errlen, "out of memory while encoding");
}

/* count elements of `elem` starting at mem: a block, else an array. */
static int tl_pack_elements(msgpack_packer *pk, const struct tl_type *elem,
                            const unsigned char *mem, size_t count,
                            char *err, size_t errlen)
{
    if (tl_type_is_block(elem))
        return tl_pack_block(pk, elem, mem, count, err, errlen);
    if (count > UINT32_MAX)
        return tl_fail(err, errlen, "%zu elements do not fit in one msgpack "
                       "array (at most %u)", count, UINT32_MAX);
    TL_PACK(msgpack_pack_array(pk, count));
    for (size_t i = 0; i < count; i++) {
        if (tl_pack_value(pk, elem, mem + i * elem->size, err, errlen) < 0)
            return tl_fail_at(err, errlen, "element %zu: ", i);
    }
    return 0;

pack_failed:
    return tl_fail(err, errlen, "out of memory while encoding");
}

static int tl_pack_value(msgpack_packer *pk, const struct tl_type *type,
                         const unsigned char *mem, char *err, size_t errlen)
{
    switch (type->kind) {
    case TL_KIND_VOID:
        TL_PACK(msgpack_pack_nil(pk));
        return 0;
    case TL_KIND_BOOL:
        TL_PACK(mem[0] ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
        return 0;
    case TL_KIND_INT:
    case TL_KIND_UINT:
        if (type->size == 16) {
            unsigned char le[16];
            tl_copy_le16(le, mem);
            TL_PACK(msgpack_pack_bin(pk, 16));
            TL_PACK(msgpack_pack_bin_body(pk, le, 16));
        } else if (type->kind == TL_KIND_INT) {
            TL_PACK(msgpack_pack_int64(pk, tl_load_int(mem, type->size)));
        } else {
            TL_PACK(msgpack_pack_uint64(pk, tl_load_uint(mem, type->size)));
        }
        return 0;
    case TL_KIND_FLOAT:
        if (type->size == 4) {
            float f;
            memcpy(&f, mem, sizeof f);
            TL_PACK(msgpack_pack_float(pk, f));
        } else {
            double d;
            memcpy(&d, mem, sizeof d);
            TL_PACK(msgpack_pack_double(pk, d));
        }
        return 0;
    case TL_KIND_STRING: {
        const char *s;
        size_t len;
        memcpy(&s, mem, sizeof s);
        if (s == NULL) {
            TL_PACK(msgpack_pack_nil(pk));
            return 0;
        }
        len = strlen(s);
        if (len > UINT32_MAX)
            return tl_fail(err, errlen, "string of %zu bytes is too long for msgpack", len);
        TL_PACK(msgpack_pack_str(pk, len));
        TL_PACK(msgpack_pack_str_body(pk, s, len));
        return 0;
    }
    case TL_KIND_STRUCT:
        TL_PACK(msgpack_pack_array(pk, type->field_count));
        for (unsigned i = 0; i < type->field_count; i++) {
            const struct tl_field *field = &type->fields[i];
            if (tl_pack_value(pk, field->type, mem + field->offset, err, errlen) < 0)
                return tl_fail_at(err, errlen, "field %u: ", i);
        }
        return 0;
    case TL_KIND_ARRAY:
        return tl_pack_elements(pk, type->elem, mem, type->count, err, errlen);
    }
    return tl_fail(err, errlen, "internal error: unknown type kind %d", (int)type->kind);

pack_failed:
    return tl_fail(err, errlen, "out of memory while encoding");
}

/* Most bytes tl_pack_value() can write for the value at mem: computed
 * first so that an encoder allocates its buffer once, not by doubling. */
static size_t tl_bound_elements(const struct tl_type *elem,
                                const unsigned char *mem, size_t count);

static size_t tl_bound_value(const struct tl_type *type, const unsigned char *mem)
{
    size_t bound = 5;   /* an array32 header */
    const char *s;

    switch (type->kind) {
    case TL_KIND_VOID:
    case TL_KIND_BOOL:
        return 1;
    case TL_KIND_INT:
    case TL_KIND_UINT:
        return type->size == 16 ? 18 : 9;
    case TL_KIND_FLOAT:
        return 9;
    case TL_KIND_STRING:
        memcpy(&s, mem, sizeof s);
        return s == NULL ? 1 : 5 + strlen(s);
    case TL_KIND_STRUCT:
        for (unsigned i = 0; i < type->field_count; i++)
            bound += tl_bound_value(type->fields[i].type, mem + type->fields[i].offset);
        return bound;
    case TL_KIND_ARRAY:
        return tl_bound_elements(type->elem, mem, type->count);
    }
    return 9;
}

static size_t tl_bound_elements(const struct tl_type *elem,
                                const unsigned char *mem, size_t count)
{
    size_t bound = 5;   /* a bin32 or array32 header */

    if (tl_type_is_block(elem))
        return elem->size != 0 && count > (SIZE_MAX - 5) / elem->size
               ? SIZE_MAX : 5 + count * elem->size;
    for (size_t i = 0; i < count; i++)
        bound += tl_bound_value(elem, mem + i * elem->size);
    return bound;
}

static size_t tl_add_bound(size_t a, size_t b)
{
    return b > SIZE_MAX - a ? SIZE_MAX : a + b;
}

/* The wire form of one pointer parameter, given the pointer and (for '*')
 * its element count: nil, true (write-only) or the pointed-to data. */
static int tl_pack_pointer(msgpack_packer *pk, const struct tl_param *param,
                           const void *ptr, size_t count, int as_reply,
                           char *err, size_t errlen)
{
    if (ptr == NULL) {
        TL_PACK(msgpack_pack_nil(pk));
        return 0;
    }
    if (!as_reply && param->access == TL_ACCESS_WRITE) {
        TL_PACK(msgpack_pack_true(pk));
        return 0;
    }
    if (param->kind == TL_PARAM_BUFFER)
        return tl_pack_elements(pk, param->type, ptr, count, err, errlen);
    return tl_pack_value(pk, param->type, ptr, err, errlen);

pack_failed:
    return tl_fail(err, errlen, "out of memory while encoding");
}

/* A NULL buffer must come with length 0: the service cannot tell a
 * function that checks for NULL from one that reads n elements from it. */
static int tl_null_needs_zero(const struct tl_sig *sig, void *const *args,
                              const struct tl_param *param, char *err, size_t errlen)
{
    size_t count = 0;

    if (tl_load_length(sig, args, param, &count, err, errlen) < 0)
        return tl_fail_at(err, errlen, "the pointer is NULL and ");
    if (count != 0)
        return tl_fail(err, errlen, "the pointer is NULL but its length "
                       "(argument %u) is %zu; a NULL buffer must have length 0",
                       param->len_index, count);
    return 0;
}

/* The pointer and element count of a pointer parameter in args. */
static int tl_load_pointer(const struct tl_sig *sig, void *const *args, unsigned i,
                           const void **ptr, size_t *count, char *err, size_t errlen)
{
    const struct tl_param *param = &sig->params[i];

    memcpy(ptr, args[i], sizeof *ptr);
    *count = 1;
    if (param->kind != TL_PARAM_BUFFER)
        return 0;
    if (*ptr == NULL)
        return tl_null_needs_zero(sig, args, param, err, errlen);
    return tl_load_length(sig, args, param, count, err, errlen);
}

static int tl_encode_request_to(const struct tl_sig *sig, void *const *args,
                                msgpack_sbuffer *out, struct tl_pieces *pieces,
                                char *err, size_t errlen);

int tl_encode_request(const struct tl_sig *sig, void *const *args,
                      msgpack_sbuffer *out, char *err, size_t errlen)
{
    return tl_encode_request_to(sig, args, out, NULL, err, errlen);
}

int tl_encode_request_pieces(const struct tl_sig *sig, void *const *args,
                             msgpack_sbuffer *out, struct tl_pieces *pieces,
                             char *err, size_t errlen)
{
    pieces->count = 0;
    pieces->total = 0;
    return tl_encode_request_to(sig, args, out, pieces, err, errlen);
}

static int tl_encode_request_to(const struct tl_sig *sig, void *const *args,
                                msgpack_sbuffer *out, struct tl_pieces *pieces,
                                char *err, size_t errlen)
{
    struct tl_out target = { out, pieces };
    msgpack_packer pk;
    size_t bound = 5;

    /* Size first, so that the body is one allocation of the right size. */
    for (unsigned i = 0; i < sig->param_count; i++) {
        const struct tl_param *param = &sig->params[i];
        const void *ptr;
        size_t count;

        if (param->kind == TL_PARAM_VALUE) {
            bound = tl_add_bound(bound, tl_bound_value(param->type, args[i]));
            continue;
        }
        if (tl_load_pointer(sig, args, i, &ptr, &count, err, errlen) < 0)
            return tl_fail_at(err, errlen, "argument %u: ", i);
        if (ptr == NULL || param->access == TL_ACCESS_WRITE)
            bound = tl_add_bound(bound, 1);
        else if (param->kind == TL_PARAM_BUFFER && pieces != NULL &&
                 tl_type_is_block(param->type) && !tl_block_walks(param->type) &&
                 count * param->type->size >= TL_PIECE_MIN)
            bound = tl_add_bound(bound, 5);    /* the bin's header; bytes stay */
        else if (param->kind == TL_PARAM_BUFFER)
            bound = tl_add_bound(bound, tl_bound_elements(param->type, ptr, count));
        else
            bound = tl_add_bound(bound, tl_bound_value(param->type, ptr));
    }
    if (bound == SIZE_MAX || tl_sbuffer_reserve(out, bound) < 0)
        return tl_fail(err, errlen, "out of memory for a request of %zu bytes", bound);

    msgpack_packer_init(&pk, &target, tl_out_write);
    TL_PACK(msgpack_pack_array(&pk, sig->param_count));
    for (unsigned i = 0; i < sig->param_count; i++) {
        const struct tl_param *param = &sig->params[i];
        int rc;

        if (param->kind == TL_PARAM_VALUE) {
            rc = tl_pack_value(&pk, param->type, args[i], err, errlen);
        } else {
            const void *ptr;
            size_t count;
            rc = tl_load_pointer(sig, args, i, &ptr, &count, err, errlen);
            if (rc == 0)
                rc = tl_pack_pointer(&pk, param, ptr, count, 0, err, errlen);
        }
        if (rc < 0)
            return tl_fail_at(err, errlen, "argument %u: ", i);
    }
    return 0;

pack_failed:
    return tl_fail(err, errlen, "out of memory while encoding");
}

size_t tl_reply_bound(const struct tl_sig *sig, const struct tl_frame *frame)
{
    size_t bound = 1 + 7 + 4 + 5;   /* map header, "result", "out", array */

    bound = tl_add_bound(bound, sig->result->kind == TL_KIND_VOID ? 1
                                : tl_bound_value(sig->result, frame->result));
    for (unsigned i = 0; i < sig->param_count; i++) {
        const struct tl_param *param = &sig->params[i];
        const unsigned char *ptr;

        if (!tl_param_is_out(param))
            continue;
        memcpy(&ptr, frame->args[i], sizeof ptr);
        if (ptr == NULL)
            bound = tl_add_bound(bound, 1);
        else if (param->kind == TL_PARAM_BUFFER)
            bound = tl_add_bound(bound, tl_bound_elements(param->type, ptr,
                                                          frame->counts[i]));
        else
            bound = tl_add_bound(bound, tl_bound_value(param->type, ptr));
    }
    return bound;
}

static int tl_encode_reply_to(const struct tl_sig *sig, const struct tl_frame *frame,
                              msgpack_sbuffer *out, struct tl_pieces *pieces,
                              char *err, size_t errlen);

int tl_encode_reply(const struct tl_sig *sig, const struct tl_frame *frame,
                    msgpack_sbuffer *out, char *err, size_t errlen)
{
    return tl_encode_reply_to(sig, frame, out, NULL, err, errlen);
}

int tl_frame_lent_out(const struct tl_frame *frame)
{
    return frame->lent_out;
}

int tl_encode_reply_in_place(const struct tl_sig *sig, const struct tl_frame *frame,
                             char *buf, size_t cap, char **start, size_t *len,
                             char *err, size_t errlen)
{
    struct tl_pieces pieces = { NULL, 0, 0, 0 };
    msgpack_sbuffer head;
    char *at;
    int rc = 1;

    if (!frame->lent_out)
        return 1;
    msgpack_sbuffer_init(&head);
    /* Everything but the big block (a piece: left where it lies) */
    if (tl_encode_reply_to(sig, frame, &head, &pieces, err, errlen) < 0) {
        rc = -1;
        goto done;
    }
    if (pieces.count != 1 || pieces.v[0].at != head.size)
        goto done;                      /* the block is not the reply's end */
    at = (char *)(uintptr_t)pieces.v[0].ptr;
    if (at < buf || (size_t)(at - buf) < head.size || pieces.v[0].len > cap ||
        (size_t)(at - buf) > cap - pieces.v[0].len)
        goto done;                      /* no room before it, or elsewhere */
    memcpy(at - head.size, head.data, head.size);
    *start = at - head.size;
    *len = head.size + pieces.v[0].len;
    rc = 0;
done:
    free(pieces.v);
    msgpack_sbuffer_destroy(&head);
    return rc;
}

static int tl_encode_reply_to(const struct tl_sig *sig, const struct tl_frame *frame,
                              msgpack_sbuffer *out, struct tl_pieces *pieces,
                              char *err, size_t errlen)
{
    msgpack_packer pk;
    size_t bound = tl_reply_bound(sig, frame);
    struct tl_out target = { out, pieces };

    /* (in pieces, the bytes left out are most of the bound) */
    if (bound == SIZE_MAX || (pieces == NULL && tl_sbuffer_reserve(out, bound) < 0))
        return tl_fail(err, errlen, "out of memory for a reply of %zu bytes", bound);
    msgpack_packer_init(&pk, &target, tl_out_write);
    TL_PACK(msgpack_pack_map(&pk, 2));
    TL_PACK(msgpack_pack_str(&pk, 6));
    TL_PACK(msgpack_pack_str_body(&pk, "result", 6));
    if (sig->result->kind == TL_KIND_VOID) {
        TL_PACK(msgpack_pack_nil(&pk));
    } else if (tl_pack_value(&pk, sig->result, frame->result, err, errlen) < 0) {
        return tl_fail_at(err, errlen, "result: ");
    }
    TL_PACK(msgpack_pack_str(&pk, 3));
    TL_PACK(msgpack_pack_str_body(&pk, "out", 3));
    TL_PACK(msgpack_pack_array(&pk, sig->out_count));
    for (unsigned i = 0; i < sig->param_count; i++) {
        const struct tl_param *param = &sig->params[i];
        const void *ptr;

        if (!tl_param_is_out(param))
            continue;
        memcpy(&ptr, frame->args[i], sizeof ptr);
        if (tl_pack_pointer(&pk, param, ptr, frame->counts[i], 1, err, errlen) < 0)
            return tl_fail_at(err, errlen, "argument %u: ", i);
    }
    return 0;

pack_failed:
    return tl_fail(err, errlen, "out of memory while encoding");
}

/* ------------------------------------------------------------------ */
/* Decoding: msgpack -> C memory                                      */
/* ------------------------------------------------------------------ */

static int tl_unpack_value(struct tl_decoder *d, const struct tl_type *type,
                           const msgpack_object *o, unsigned char *mem);

static int tl_unpack_integer(struct tl_decoder *d, const struct tl_type *type,
                             const msgpack_object *o, unsigned char *mem)
{
    unsigned bits = (unsigned)type->size * 8;
    int negative;
    uint64_t magnitude;     /* the value, or for negatives its two's complement bits */

    if (type->size == 16) {
        if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != 16)
            return tl_fail(d->err, d->errlen, "expected a bin of 16 bytes "
                           "(%c16), got %s%s", type->kind == TL_KIND_INT ? 'i' : 'u',
                           tl_object_name(o), o->type == MSGPACK_OBJECT_BIN ?
                           " of another size" : "");
        if (mem != NULL)
            tl_copy_le16(mem, (const unsigned char *)o->via.bin.ptr);
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        negative = 0;
        magnitude = o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        negative = o->via.i64 < 0;
        magnitude = (uint64_t)o->via.i64;
    } else {
        return tl_fail_type(d->err, d->errlen, type, o);
    }

    if (type->kind == TL_KIND_UINT) {
        if (negative)
            return tl_fail(d->err, d->errlen, "%lld is out of range for u%zu",
                           (long long)o->via.i64, type->size);
        if (bits < 64 && magnitude >> bits != 0)
            return tl_fail(d->err, d->errlen, "%llu is out of range for u%zu",
                           (unsigned long long)magnitude, type->size);
    } else if (negative) {
        int64_t min = bits == 64 ? INT64_MIN : -((int64_t)1 << (bits - 1));
        if (o->via.i64 < min)
            return tl_fail(d->err, d->errlen, "%lld is out of range for i%zu",
                           (long long)o->via.i64, type->size);
    } else {
        uint64_t max = ((uint64_t)1 << (bits - 1)) - 1;
        if (magnitude > max)
            return tl_fail(d->err, d->errlen, "%llu is out of range for i%zu",
                           (unsigned long long)magnitude, type->size);
    }
    if (mem != NULL)
        tl_store_uint(mem, type->size, magnitude);
    return 0;
}

static int tl_unpack_float(struct tl_decoder *d, const struct tl_type *type,
                           const msgpack_object *o, unsigned char *mem)
{
    double value;

    if (o->type != MSGPACK_OBJECT_FLOAT32 && o->type != MSGPACK_OBJECT_FLOAT64)
        return tl_fail_type(d->err, d->errlen, type, o);
    value = o->via.f64;
    if (type->size == 4) {
        float narrow = (float)value;
        /* A finite double beyond float's range would silently become inf. */
        if (isfinite(value) && !isfinite(narrow))
            return tl_fail(d->err, d->errlen, "%g is out of range for f4", value);
        if (mem != NULL)
            memcpy(mem, &narrow, sizeof narrow);
    } else if (mem != NULL) {
        memcpy(mem, &value, sizeof value);
    }
    return 0;
}

static int tl_unpack_string(struct tl_decoder *d, const msgpack_object *o,
                            unsigned char *mem)
{
    const char *old = NULL;
    char *copy;
    size_t len;

    if (o->type == MSGPACK_OBJECT_NIL) {
        if (mem != NULL)
            memset(mem, 0, sizeof(char *));
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_STR)
        return tl_fail(d->err, d->errlen, "expected str or nil, got %s",
                       tl_object_name(o));
    len = o->via.str.size;
    if (len > 0 && memchr(o->via.str.ptr, '\0', len) != NULL)
        return tl_fail(d->err, d->errlen, "string of %zu bytes contains a NUL "
                       "byte, which a C string cannot hold", len);
    if (mem == NULL)
        return 0;
    if (d->frame == NULL && d->old_strings_valid) {
        /* Write-back on the client: keep the caller's own pointer when the
         * text did not change, so that nothing is leaked or replaced. */
        memcpy(&old, mem, sizeof old);
        if (old != NULL && strlen(old) == len && memcmp(old, o->via.str.ptr, len) == 0)
            return 0;
    }
    if (d->frame != NULL) {
        copy = tl_frame_alloc(d->frame, len + 1, 1, d->err, d->errlen);
        if (copy == NULL)
            return -1;
    } else {
        copy = malloc(len + 1);
        if (copy == NULL)
            return tl_fail(d->err, d->errlen, "out of memory for a string of %zu bytes", len);
    }
    if (len > 0)
        memcpy(copy, o->via.str.ptr, len);
    copy[len] = '\0';
    memcpy(mem, &copy, sizeof copy);
    return 0;
}

/* count elements of a block type into mem: the bin's bytes are checked
 * and copied in one piece, straight from the body msgpack-c left them in
 * (a bin object points into the parsed buffer). */
static int tl_unpack_block(struct tl_decoder *d, const struct tl_type *elem,
                           const msgpack_object *o, size_t count,
                           unsigned char *mem)
{
    const unsigned char *src;
    size_t bytes, size;

    if (elem->size != 0 && count > SIZE_MAX / elem->size)
        return tl_fail(d->err, d->errlen, "%zu elements of %zu bytes overflow "
                       "the address space", count, elem->size);
    bytes = count * elem->size;
    if (o->type != MSGPACK_OBJECT_BIN)
        return tl_fail(d->err, d->errlen, "expected bin of %zu bytes (%zu elements "
                       "of %zu bytes), got %s", bytes, count, elem->size,
                       tl_object_name(o));
    size = o->via.bin.size;
    if (size != bytes) {
        if (elem->size > 1 && size % elem->size != 0)
            return tl_fail(d->err, d->errlen, "expected %zu bytes (%zu elements of "
                           "%zu bytes), got a bin of %zu bytes, not a whole number "
                           "of elements", bytes, count, elem->size, size);
        return tl_fail(d->err, d->errlen, "expected %zu bytes (%zu elements of %zu "
                       "bytes), got a bin of %zu bytes", bytes, count, elem->size,
                       size);
    }
    src = (const unsigned char *)o->via.bin.ptr;
    if (elem->fixup) {
        for (size_t i = 0; i < count; i++) {
            size_t bad = 0;
            if (tl_block_check(elem, src + i * elem->size, 0, &bad) < 0)
                return tl_fail(d->err, d->errlen, "element %zu: byte %zu is %u, "
                               "not a _Bool (0 or 1)", i, bad,
                               src[i * elem->size + bad]);
        }
    }
    if (mem == NULL || bytes == 0)
        return 0;
    memcpy(mem, src, bytes);
    if (TL_BIG_ENDIAN) {
        for (size_t i = 0; i < count; i++)
            tl_block_in(elem, mem + i * elem->size);
    }
    return 0;
}

/* count elements of `elem` into mem: a block, else an array. */
static int tl_unpack_elements(struct tl_decoder *d, const struct tl_type *elem,
                              const msgpack_object *o, size_t count,
                              unsigned char *mem)
{
    if (tl_type_is_block(elem))
        return tl_unpack_block(d, elem, o, count, mem);
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return tl_fail(d->err, d->errlen, "expected array of %zu elements, got %s",
                       count, tl_object_name(o));
    if (o->via.array.size != count)
        return tl_fail(d->err, d->errlen, "expected %zu elements, got %u",
                       count, o->via.array.size);
    for (size_t i = 0; i < count; i++) {
        if (tl_unpack_value(d, elem, &o->via.array.ptr[i],
                            mem ? mem + i * elem->size : NULL) < 0)
            return tl_fail_at(d->err, d->errlen, "element %zu: ", i);
    }
    return 0;
}

static int tl_unpack_value(struct tl_decoder *d, const struct tl_type *type,
                           const msgpack_object *o, unsigned char *mem)
{
    switch (type->kind) {
    case TL_KIND_VOID:
        if (o->type != MSGPACK_OBJECT_NIL)
            return tl_fail_type(d->err, d->errlen, type, o);
        return 0;
    case TL_KIND_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return tl_fail_type(d->err, d->errlen, type, o);
        if (mem != NULL)
            mem[0] = o->via.boolean ? 1 : 0;
        return 0;
    case TL_KIND_INT:
    case TL_KIND_UINT:
        return tl_unpack_integer(d, type, o, mem);
    case TL_KIND_FLOAT:
        return tl_unpack_float(d, type, o, mem);
    case TL_KIND_STRING:
        return tl_unpack_string(d, o, mem);
    case TL_KIND_STRUCT:
        if (o->type != MSGPACK_OBJECT_ARRAY)
            return tl_fail_type(d->err, d->errlen, type, o);
        if (o->via.array.size != type->field_count)
            return tl_fail(d->err, d->errlen, "struct has %u fields, got an array "
                           "of %u", type->field_count, o->via.array.size);
        for (unsigned i = 0; i < type->field_count; i++) {
            const struct tl_field *field = &type->fields[i];
            if (tl_unpack_value(d, field->type, &o->via.array.ptr[i],
                                mem ? mem + field->offset : NULL) < 0)
                return tl_fail_at(d->err, d->errlen, "field %u: ", i);
        }
        return 0;
    case TL_KIND_ARRAY:
        return tl_unpack_elements(d, type->elem, o, type->count, mem);
    }
    return tl_fail(d->err, d->errlen, "internal error: unknown type kind %d",
                   (int)type->kind);
}

/* Big-endian length field of a msgpack header. */
static size_t tl_be_length(const unsigned char *p, size_t bytes)
{
    size_t n = 0;

    for (size_t i = 0; i < bytes; i++)
        n = n << 8 | p[i];
    return n;
}

/*
 * Walk the structure of a msgpack body before msgpack-c parses it, and
 * count its objects. Why: at each array or map header msgpack-c reserves
 * count * sizeof(msgpack_object) before it has seen a single element, so
 * five bytes "dd ff ff ff ff" would make it reserve over 100 GiB. Every
 * object takes at least one byte, so here each container's count must fit
 * in the bytes that follow; then msgpack-c's memory is bounded by the body
 * size. Values are not decoded here, only skipped; msgpack-c decodes them.
 */
static int tl_check_structure(const unsigned char *p, size_t len, size_t *objects,
                              const char *what, char *err, size_t errlen)
{
    size_t pos = 0, pending = 1, count = 0;

    while (pending > 0) {
        size_t header = 1, payload = 0, children = 0, size_bytes = 0;
        unsigned char b;

        if (pending > len - pos)
            return tl_fail(err, errlen, "truncated msgpack in the %s", what);
        b = p[pos];
        pending--;
        count++;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            header = 1;                              /* fixint, nil, bool  */
        } else if (b <= 0x8f) {
            children = 2 * (size_t)(b & 0x0f);       /* fixmap             */
        } else if (b <= 0x9f) {
            children = b & 0x0f;                     /* fixarray           */
        } else if (b <= 0xbf) {
            payload = b & 0x1f;                      /* fixstr             */
        } else {
            switch (b) {
            case 0xc4: case 0xd9: size_bytes = 1; header = 2; break; /* bin8, str8   */
            case 0xc5: case 0xda: size_bytes = 2; header = 3; break; /* bin16, str16 */
            case 0xc6: case 0xdb: size_bytes = 4; header = 5; break; /* bin32, str32 */
            case 0xc7: size_bytes = 1; header = 3; break;            /* ext8         */
            case 0xc8: size_bytes = 2; header = 4; break;            /* ext16        */
            case 0xc9: size_bytes = 4; header = 6; break;            /* ext32        */
            case 0xcc: case 0xd0: header = 2; break;
            case 0xcd: case 0xd1: header = 3; break;
            case 0xca: case 0xce: case 0xd2: header = 5; break;
            case 0xcb: case 0xcf: case 0xd3: header = 9; break;
            case 0xd4: header = 3; break;                            /* fixext1..16  */
            case 0xd5: header = 4; break;
            case 0xd6: header = 6; break;
            case 0xd7: header = 10; break;
            case 0xd8: header = 18; break;
            case 0xdc: case 0xde: size_bytes = 2; header = 3; break; /* array/map16  */
            case 0xdd: case 0xdf: size_bytes = 4; header = 5; break; /* array/map32  */
            default:
                return tl_fail(err, errlen, "malformed msgpack in the %s "
                               "(byte 0x%02x at offset %zu)", what, b, pos);
            }
        }
        if (header > len - pos)
            return tl_fail(err, errlen, "truncated msgpack in the %s", what);
        if (size_bytes > 0) {
            size_t n = tl_be_length(p + pos + 1, size_bytes);
            if (n > len)    /* cannot be backed; also keeps 2 * n from wrapping */
                return tl_fail(err, errlen, "truncated msgpack in the %s (a header "
                               "at offset %zu claims %zu elements or bytes)",
                               what, pos, n);
            if (b == 0xdc || b == 0xdd)
                children = n;
            else if (b == 0xde || b == 0xdf)
                children = 2 * n;
            else
                payload = n;
        }
        pos += header;
        if (payload > len - pos)
            return tl_fail(err, errlen, "truncated msgpack in the %s", what);
        pos += payload;
        if (pending > len - pos || children > len - pos - pending)
            return tl_fail(err, errlen, "truncated msgpack in the %s (a container "
                           "at offset %zu claims %zu elements, %zu bytes follow)",
                           what, pos - header - payload, children, len - pos);
        pending += children;
    }
    if (pos != len)
        return tl_fail(err, errlen, "%zu trailing bytes after the %s", len - pos, what);
    *objects = count;
    return 0;
}

/* Parse exactly one msgpack object that spans the whole input. The count
 * of msgpack-c's objects goes to *objects; objects of more than alloc_limit
 * bytes in all are refused before msgpack-c allocates them. */
static int tl_unpack_whole(msgpack_unpacked *msg, const char *data, size_t len,
                           const char *what, size_t alloc_limit, size_t *objects,
                           char *err, size_t errlen)
{
    size_t offset = 0;

    if (data == NULL || len == 0)
        return tl_fail(err, errlen, "empty %s", what);
    if (tl_check_structure((const unsigned char *)data, len, objects, what,
                           err, errlen) < 0)
        return -1;
    if (*objects > alloc_limit / sizeof(msgpack_object)) {
        *objects = SIZE_MAX;    /* tells the caller it was the limit */
        return tl_fail(err, errlen, "the %s has so many msgpack objects that "
                       "parsing it would take more than the %zu bytes of memory "
                       "left to the call (TURBOLIFT_MAX_ALLOC)", what, alloc_limit);
    }
    switch (msgpack_unpack_next(msg, data, len, &offset)) {
    case MSGPACK_UNPACK_SUCCESS:
        if (offset != len)
            return tl_fail(err, errlen, "%zu trailing bytes after the %s",
                           len - offset, what);
        return 0;
    case MSGPACK_UNPACK_CONTINUE:
        return tl_fail(err, errlen, "truncated msgpack in the %s", what);
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return tl_fail(err, errlen, "out of memory while parsing the %s", what);
    default:
        return tl_fail(err, errlen, "malformed msgpack in the %s", what);
    }
}

/* Whether o is the container of exactly count elements that
 * tl_unpack_elements() expects (the elements themselves unchecked). */
static int tl_has_elements(const struct tl_type *elem, const msgpack_object *o,
                           size_t count)
{
    if (tl_type_is_block(elem))
        return o->type == MSGPACK_OBJECT_BIN &&
               (elem->size == 0 ? count == 0 || o->via.bin.size == 0
                                : count <= SIZE_MAX / elem->size &&
                                  o->via.bin.size == count * elem->size);
    return o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == count;
}

/* Service: one pointer parameter of a request into frame memory. */
static int tl_decode_pointer(struct tl_decoder *d, const struct tl_sig *sig,
                             struct tl_frame *frame, unsigned index,
                             const msgpack_object *o)
{
    const struct tl_param *param = &sig->params[index];
    size_t count = 1, bytes;
    void *buffer;

    if (o->type == MSGPACK_OBJECT_NIL) {
        /* The pointer stays NULL; a NULL buffer with a length would have
         * the function read or write through NULL. */
        if (param->kind == TL_PARAM_BUFFER &&
            tl_null_needs_zero(sig, frame->args, param, d->err, d->errlen) < 0) {
            frame->refusal = 400;
            return -1;
        }
        return 0;
    }
    if (param->access == TL_ACCESS_WRITE) {
        if (o->type != MSGPACK_OBJECT_BOOLEAN || !o->via.boolean)
            return tl_fail(d->err, d->errlen, "expected true or nil for a "
                           "write-only pointer, got %s", tl_object_name(o));
    }
    if (param->kind == TL_PARAM_BUFFER &&
        tl_load_length(sig, frame->args, param, &count, d->err, d->errlen) < 0)
        return -1;
    /* Check the shape before allocating: a read buffer's size must then be
     * backed by the request's own elements. */
    if (param->kind == TL_PARAM_BUFFER && param->access != TL_ACCESS_WRITE &&
        !tl_has_elements(param->type, o, count))
        return tl_unpack_elements(d, param->type, o, count, NULL); /* the message */
    if (param->type->size != 0 && count > SIZE_MAX / param->type->size)
        return tl_fail(d->err, d->errlen, "%zu elements of %zu bytes overflow "
                       "the address space", count, param->type->size);
    bytes = count * param->type->size;
    /* A read-only block that lies aligned in the body is used where it
     * lies: no allocation and no copy (its bytes are checked all the same;
     * on a big-endian host every scalar must be swapped, so it is copied). */
    /* A read_write one too, when it is the function's only out parameter,
     * big, and its wire form is its memory: the function changes it in the
     * body, and the reply is written around it there (the service's
     * tl_encode_reply_in_place). */
    if (d->lend && !TL_BIG_ENDIAN && param->kind == TL_PARAM_BUFFER &&
        tl_type_is_block(param->type) &&
        (param->access == TL_ACCESS_READ ||
         (param->access == TL_ACCESS_READ_WRITE && sig->out_count == 1 &&
          !tl_block_walks(param->type) && bytes >= TL_PIECE_MIN)) &&
        bytes > 0 && o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == bytes &&
        (uintptr_t)o->via.bin.ptr % param->type->align == 0) {
        if (tl_unpack_block(d, param->type, o, count, NULL) < 0)
            return -1;
        buffer = (void *)(uintptr_t)o->via.bin.ptr;
        memcpy(frame->args[index], &buffer, sizeof buffer);
        frame->counts[index] = count;
        if (param->access == TL_ACCESS_READ_WRITE)
            frame->lent_out = 1;
        return 0;
    }
    /* A block read buffer is filled completely from the body: no zeroing. */
    buffer = tl_frame_alloc_mem(frame, bytes, param->type->align,
                                !(param->kind == TL_PARAM_BUFFER &&
                                  param->access != TL_ACCESS_WRITE &&
                                  tl_type_is_block(param->type)),
                                d->err, d->errlen);
    if (buffer == NULL)
        return -1;
    memcpy(frame->args[index], &buffer, sizeof buffer);
    frame->counts[index] = count;
    if (param->access == TL_ACCESS_WRITE)
        return 0;
    if (param->kind == TL_PARAM_BUFFER)
        return tl_unpack_elements(d, param->type, o, count, buffer);
    return tl_unpack_value(d, param->type, o, buffer);
}

static size_t tl_round_up(size_t n, size_t align)
{
    return (n + align - 1) / align * align;
}

/* One block for the args array, every by-value argument, every pointer
 * slot and the result, laid out with each type's alignment. */
static int tl_frame_layout(const struct tl_sig *sig, struct tl_frame *frame,
                           char *err, size_t errlen)
{
    size_t *offsets = NULL, size, align = _Alignof(void *), result_offset = 0;
    unsigned char *block;
    unsigned n = sig->param_count;

    offsets = calloc(n + 1, sizeof *offsets);
    if (offsets == NULL)
        return tl_fail(err, errlen, "out of memory");
    size = (size_t)n * sizeof(void *) + (size_t)n * sizeof(size_t);
    for (unsigned i = 0; i < n; i++) {
        const struct tl_param *param = &sig->params[i];
        size_t slot = param->kind == TL_PARAM_VALUE ? param->type->size : sizeof(void *);
        size_t slot_align = param->kind == TL_PARAM_VALUE ? param->type->align
                                                          : _Alignof(void *);
        size = tl_round_up(size, slot_align);
        offsets[i] = size;
        size += slot;
        if (slot_align > align)
            align = slot_align;
    }
    if (sig->result->kind != TL_KIND_VOID) {
        size = tl_round_up(size, sig->result->align);
        result_offset = size;
        size += sig->result->size;
        if (sig->result->align > align)
            align = sig->result->align;
    }
    block = tl_frame_alloc(frame, size, align, err, errlen);
    if (block == NULL) {
        free(offsets);
        return -1;
    }
    frame->args = (void **)block;
    frame->counts = (size_t *)(block + (size_t)n * sizeof(void *));
    for (unsigned i = 0; i < n; i++)
        frame->args[i] = block + offsets[i];
    if (sig->result->kind != TL_KIND_VOID)
        frame->result = block + result_offset;
    free(offsets);
    return 0;
}

int tl_decode_request(const struct tl_sig *sig, const char *data, size_t len,
                      struct tl_frame **out, char *err, size_t errlen)
{
    return tl_decode_request_in(sig, data, len, 0, NULL, out, NULL, err, errlen);
}

static int tl_decode_request_with(const struct tl_sig *sig, const char *data,
                                  size_t len, size_t charged, struct tl_budget *budget,
                                  int lend, struct tl_frame **out, unsigned *status,
                                  char *err, size_t errlen);

int tl_decode_request_in(const struct tl_sig *sig, const char *data, size_t len,
                         size_t charged, struct tl_budget *budget,
                         struct tl_frame **out, unsigned *status,
                         char *err, size_t errlen)
{
    return tl_decode_request_with(sig, data, len, charged, budget, 0, out, status,
                                  err, errlen);
}

int tl_decode_request_lent(const struct tl_sig *sig, const char *data, size_t len,
                           size_t charged, struct tl_budget *budget,
                           struct tl_frame **out, unsigned *status,
                           char *err, size_t errlen)
{
    return tl_decode_request_with(sig, data, len, charged, budget, 1, out, status,
                                  err, errlen);
}

static int tl_decode_request_with(const struct tl_sig *sig, const char *data,
                                  size_t len, size_t charged, struct tl_budget *budget,
                                  int lend, struct tl_frame **out, unsigned *status,
                                  char *err, size_t errlen)
{
    struct tl_decoder d = { .err = err, .errlen = errlen, .write = 1, .lend = lend };
    struct tl_frame *frame = NULL;
    msgpack_unpacked msg;
    const msgpack_object *items;
    size_t objects = 0, limit = tl_codec_alloc_limit(), parsed;
    unsigned refusal = 400;
    int rc = -1;

    *out = NULL;
    msgpack_unpacked_init(&msg);
    if (charged >= limit) {
        refusal = 413;
        tl_fail(err, errlen, "the request alone takes %zu bytes, the limit of one "
                "call is %zu (TURBOLIFT_MAX_ALLOC)", charged, limit);
        goto done;
    }
    /* msgpack-c's objects count against the frame's memory limit too. */
    if (tl_unpack_whole(&msg, data, len, "request", limit - charged, &objects,
                        err, errlen) < 0) {
        if (objects == SIZE_MAX)
            refusal = 413;
        goto done;
    }
    if (msg.data.type != MSGPACK_OBJECT_ARRAY) {
        tl_fail(err, errlen, "the request must be an array of the arguments, got %s",
                tl_object_name(&msg.data));
        goto done;
    }
    if (msg.data.via.array.size != sig->param_count) {
        tl_fail(err, errlen, "the function takes %u arguments, the request has %u",
                sig->param_count, msg.data.via.array.size);
        goto done;
    }
    items = msg.data.via.array.ptr;

    frame = calloc(1, sizeof *frame);
    if (frame == NULL) {
        tl_fail(err, errlen, "out of memory");
        goto done;
    }
    frame->limit = limit;
    frame->budget = budget;
    parsed = objects * sizeof(msgpack_object);
    if (tl_budget_take(budget, parsed) < 0) {
        refusal = 503;
        tl_fail(err, errlen, "the service's memory budget of %zu bytes is taken "
                "by the calls in flight (TURBOLIFT_MAX_MEMORY); retry later",
                budget->limit);
        goto done;
    }
    frame->held = budget != NULL ? parsed : 0;
    frame->allocated = charged + parsed;
    d.frame = frame;
    if (tl_frame_layout(sig, frame, err, errlen) < 0)
        goto done;

    /* By-value arguments first: a buffer's length argument may come after
     * the buffer itself, as in v(*x1:f8,u8). */
    for (unsigned i = 0; i < sig->param_count; i++) {
        if (sig->params[i].kind != TL_PARAM_VALUE)
            continue;
        if (tl_unpack_value(&d, sig->params[i].type, &items[i], frame->args[i]) < 0) {
            tl_fail_at(err, errlen, "argument %u: ", i);
            goto done;
        }
    }
    for (unsigned i = 0; i < sig->param_count; i++) {
        if (sig->params[i].kind == TL_PARAM_VALUE)
            continue;
        if (tl_decode_pointer(&d, sig, frame, i, &items[i]) < 0) {
            tl_fail_at(err, errlen, "argument %u: ", i);
            goto done;
        }
    }
    /* msgpack-c's objects go with msg; the request body is the caller's
     * to free, and stops counting against this call once it has. */
    tl_budget_give(budget, frame->held > parsed ? parsed : frame->held);
    frame->held -= frame->held > parsed ? parsed : frame->held;
    frame->allocated -= charged + parsed;
    *out = frame;
    frame = NULL;
    rc = 0;

done:
    if (frame != NULL && frame->refusal != 0)
        refusal = frame->refusal;
    if (status != NULL)
        *status = rc == 0 ? 200 : refusal;
    tl_frame_free(frame);
    msgpack_unpacked_destroy(&msg);
    return rc;
}

/* Client: check (write == 0) or apply (write == 1) the "out" array. */
static int tl_decode_outs(struct tl_decoder *d, const struct tl_sig *sig,
                          void *const *args, const msgpack_object *outs)
{
    unsigned next = 0;

    for (unsigned i = 0; i < sig->param_count; i++) {
        const struct tl_param *param = &sig->params[i];
        const msgpack_object *o;
        unsigned char *ptr;
        size_t count = 1;
        int rc;

        if (!tl_param_is_out(param))
            continue;
        o = &outs->via.array.ptr[next++];
        memcpy(&ptr, args[i], sizeof ptr);
        if (ptr == NULL) {
            if (o->type != MSGPACK_OBJECT_NIL)
                return tl_fail(d->err, d->errlen, "out %u (argument %u): the pointer "
                               "is NULL but the reply has %s", next - 1, i,
                               tl_object_name(o));
            continue;
        }
        d->old_strings_valid = param->access == TL_ACCESS_READ_WRITE;
        if (param->kind == TL_PARAM_BUFFER) {
            rc = tl_load_length(sig, args, param, &count, d->err, d->errlen);
            if (rc == 0)
                rc = tl_unpack_elements(d, param->type, o, count, d->write ? ptr : NULL);
        } else {
            rc = tl_unpack_value(d, param->type, o, d->write ? ptr : NULL);
        }
        if (rc < 0)
            return tl_fail_at(d->err, d->errlen, "out %u (argument %u): ", next - 1, i);
    }
    return 0;
}

static int tl_key_is(const msgpack_object *key, const char *name)
{
    size_t len = strlen(name);

    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == len &&
           memcmp(key->via.str.ptr, name, len) == 0;
}

int tl_decode_reply(const struct tl_sig *sig, const char *data, size_t len,
                    void *const *args, void *result, char *err, size_t errlen)
{
    struct tl_decoder d = { .err = err, .errlen = errlen };
    const msgpack_object *result_object = NULL, *outs = NULL;
    msgpack_unpacked msg;
    size_t objects;
    int rc = -1;

    msgpack_unpacked_init(&msg);
    /* No limit of its own on the client: msgpack-c's objects are bounded by
     * the reply's size once tl_check_structure() has passed it. */
    if (tl_unpack_whole(&msg, data, len, "reply", SIZE_MAX, &objects, err, errlen) < 0)
        goto done;
    if (msg.data.type != MSGPACK_OBJECT_MAP) {
        tl_fail(err, errlen, "the reply must be a map with \"result\" and \"out\", "
                "got %s", tl_object_name(&msg.data));
        goto done;
    }
    /* Unknown keys are ignored so that a newer service may add some. */
    for (uint32_t i = 0; i < msg.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &msg.data.via.map.ptr[i];
        const msgpack_object **slot = NULL;
        if (tl_key_is(&kv->key, "result"))
            slot = &result_object;
        else if (tl_key_is(&kv->key, "out"))
            slot = &outs;
        else
            continue;
        if (*slot != NULL) {
            tl_fail(err, errlen, "the reply has the key \"%s\" twice",
                    slot == &outs ? "out" : "result");
            goto done;
        }
        *slot = &kv->val;
    }
    if (result_object == NULL || outs == NULL) {
        tl_fail(err, errlen, "the reply has no \"%s\"", result_object ? "out" : "result");
        goto done;
    }
    if (outs->type != MSGPACK_OBJECT_ARRAY || outs->via.array.size != sig->out_count) {
        tl_fail(err, errlen, "\"out\" must be an array of %u elements, got %s of %u",
                sig->out_count, tl_object_name(outs),
                outs->type == MSGPACK_OBJECT_ARRAY ? outs->via.array.size : 1u);
        goto done;
    }

    /* Check everything before touching the caller's memory, so that a bad
     * reply leaves the caller's buffers as they were. */
    for (d.write = 0; d.write <= 1; d.write++) {
        d.old_strings_valid = 0;
        if (tl_unpack_value(&d, sig->result, result_object,
                            d.write ? result : NULL) < 0) {
            tl_fail_at(err, errlen, "result: ");
            goto done;
        }
        if (tl_decode_outs(&d, sig, args, outs) < 0)
            goto done;
    }
    rc = 0;

done:
    msgpack_unpacked_destroy(&msg);
    return rc;
}
