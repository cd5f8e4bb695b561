/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request.c - a coverage-guided libFuzzer target for the service's
 * request decoder (issue 12, item 7), built with clang
 * -fsanitize=fuzzer,address,undefined from the runtime's wire and common
 * sources (tests/fuzz/meson.build).
 *
 * Input: the first byte picks a signature from the table below (every
 * kind of parameter: blocks of scalars, padded structs with _Bool and
 * nested arrays, strings, i16, NULL-able buffers with their length before
 * or after them); a first byte of 0xff instead takes the signature text
 * from the input up to a NUL, so that the parser is fuzzed as well. The
 * rest is the request body. A body the decoder accepts is then used the
 * way a service uses it: every byte of every buffer it promises is read
 * and written by a stand-in function (ASan sees an overrun, UBSan a bad
 * _Bool or misaligned access), the reply is encoded, and the reply is
 * decoded by the client side into a copy of the frame's memory.
 */
#include "tl_codec.h"
#include "tl_sig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const signatures[] = {
    "f8(*r1:f8,u8)",
    "v(*x1:f8,u8)",
    "v(*w1:f8,u8)",
    "f8(*r1:f8,i4)",
    "v(i4,*x0:u2)",
    "i4(s,*x2:{16:8:0=f8,8=i2},u8,&r{8:4:0=i4,4=f4})",
    "v(*x1:{24:8:0=b,2=i2,8=f8,16=[3]u1,20=f4},u4)",
    "v(*r1:{32:16:0=i16,16=[2]{4:2:0=b,2=[1]i2},24=u8},u8)",
    "v(*x1:b,u8,*w3:i16,i2)",
    "s(s,&x{16:8:0=s,8=i4},*w3:{16:8:0=s,8=i4},u1)",
    "{12:4:0=[2][3]u2}(*r1:{12:4:0=[2][3]u2},u8)",
    "v(&w{16:8:0=f8,8=f8},*r2:u1,i8)",
    "u16(i16,u16,f4,b,i1,u1,i2,u2,i4,u4,i8,u8)",
};
#define SIGNATURE_COUNT (sizeof signatures / sizeof signatures[0])

static struct tl_sig *parsed[SIGNATURE_COUNT];
static volatile unsigned char sink;     /* reads the compiler must keep */

/* Read (and with write, change) every byte the frame promises to the
 * function; _Bool and strings are only read. */
static void touch_value(const struct tl_type *type, unsigned char *mem, int write)
{
    switch (type->kind) {
    case TL_KIND_STRING: {
        char *s;
        memcpy(&s, mem, sizeof s);
        if (s != NULL)
            sink ^= (unsigned char)strlen(s);
        return;
    }
    case TL_KIND_BOOL:
        sink ^= *(volatile _Bool *)mem;     /* UBSan: a _Bool must be 0 or 1 */
        return;
    case TL_KIND_STRUCT:
        for (unsigned i = 0; i < type->field_count; i++)
            touch_value(type->fields[i].type, mem + type->fields[i].offset, write);
        return;
    case TL_KIND_ARRAY:
        for (size_t i = 0; i < type->count; i++)
            touch_value(type->elem, mem + i * type->elem->size, write);
        return;
    default:
        for (size_t i = 0; i < type->size; i++) {
            sink ^= mem[i];
            if (write)
                mem[i] = (unsigned char)(mem[i] + 1);
        }
        return;
    }
}

/* The client side hands strings in the result and in write-only objects
 * to the caller as malloc'd copies; written back into a frame they would
 * look like leaks, so the round trip is for signatures without them. */
static int client_can_take(const struct tl_sig *sig)
{
    if (sig->result->kind != TL_KIND_VOID && !tl_type_is_block(sig->result))
        return 0;
    for (unsigned i = 0; i < sig->param_count; i++) {
        if (tl_param_is_out(&sig->params[i]) && !tl_type_is_block(sig->params[i].type))
            return 0;
    }
    return 1;
}

static int run(const struct tl_sig *sig, const uint8_t *data, size_t size)
{
    struct tl_frame *frame = NULL;
    msgpack_sbuffer reply;
    void *const *args;
    char err[512];

    if (tl_decode_request(sig, (const char *)data, size, &frame, err, sizeof err) != 0)
        return 0;
    args = tl_frame_args(frame);
    for (unsigned i = 0; i < sig->param_count; i++) {
        const struct tl_param *param = &sig->params[i];
        unsigned char *ptr;
        uint64_t count = 1;

        if (param->kind == TL_PARAM_VALUE) {
            touch_value(param->type, args[i], 0);   /* lengths stay as sent */
            continue;
        }
        memcpy(&ptr, args[i], sizeof ptr);
        if (param->kind == TL_PARAM_BUFFER) {
            const struct tl_type *len = sig->params[param->len_index].type;
            uint64_t raw = 0;
            memcpy(&raw, args[param->len_index], len->size);  /* little-endian host */
            count = raw;
            if (len->kind == TL_KIND_INT && (raw >> (len->size * 8 - 1)) & 1)
                abort();    /* a negative length reached the function */
        }
        if (ptr == NULL) {
            if (param->kind == TL_PARAM_BUFFER && count != 0)
                abort();    /* NULL with a length: the function would crash */
            continue;
        }
        for (uint64_t e = 0; e < count; e++)
            touch_value(param->type, ptr + e * param->type->size, 1);
    }
    /* Encode the reply from a frame as the decoder left it (the touches
     * above may not be what a function would write: a result is set by
     * the function, and here by nobody). */
    tl_frame_free(frame);
    frame = NULL;
    if (tl_decode_request(sig, (const char *)data, size, &frame, err, sizeof err) != 0)
        abort();    /* the same bytes decoded once: they must decode again */
    msgpack_sbuffer_init(&reply);
    if (tl_encode_reply(sig, frame, &reply, err, sizeof err) == 0 &&
        client_can_take(sig)) {
        /* The client's side of the same reply, written back into the frame's
         * own buffers (they have the right shapes and lengths). */
        if (tl_decode_reply(sig, reply.data, reply.size, tl_frame_args(frame),
                            tl_frame_result(frame), err, sizeof err) != 0)
            abort();    /* a reply the service encoded must decode */
    }
    msgpack_sbuffer_destroy(&reply);
    tl_frame_free(frame);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] == 0xff) {
        const uint8_t *nul = memchr(data + 1, '\0', size - 1);
        char *text;
        struct tl_sig *sig;
        char err[256];

        if (nul == NULL || nul - data > 512)
            return 0;
        text = strndup((const char *)data + 1, (size_t)(nul - data - 1));
        if (text != NULL && tl_sig_parse(text, &sig, err, sizeof err) == 0) {
            run(sig, nul + 1, size - (size_t)(nul + 1 - data));
            tl_sig_free(sig);
        }
        free(text);
        return 0;
    }
    {
        unsigned pick = data[0] % SIGNATURE_COUNT;
        char err[256];

        if (parsed[pick] == NULL && tl_sig_parse(signatures[pick], &parsed[pick], err,
                                                 sizeof err) != 0)
            abort();
        return run(parsed[pick], data + 1, size - 1);
    }
}
