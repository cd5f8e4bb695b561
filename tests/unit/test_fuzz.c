/* SPDX-License-Identifier: MIT */
/*
 * test_fuzz.c - a small, deterministic fuzzer: requests generated from each
 * signature of a table (mostly well-formed, sometimes with a wrong type,
 * count or length), then mutated (bit flips, interesting bytes, truncation,
 * insertion), plus pure random bytes, are fed to tl_decode_request. The
 * service side must answer every one with success or a message, never a
 * crash. What decodes must also keep these properties:
 *   - canonical: the decoded arguments, encoded as a client would
 *     (tl_encode_request), decode again, and that encoding is a fixed
 *     point (encode(decode(encode(x))) == encode(x), byte for byte), so
 *     both decodings hold the same values;
 *   - within the signature: a pointer argument is NULL exactly when the
 *     request sent nil, and a buffer's length is 0 whenever its pointer is
 *     NULL;
 * and is encoded as a reply, which must decode; mutated replies either
 * decode or fail with a message and leave the caller's memory (result and
 * out buffers) untouched. Signature strings are mutated and parsed too.
 *
 * Fixed seed and bounded counts, so a failure reproduces. Run under
 * -Db_sanitize=address,undefined to catch memory errors as well as crashes.
 */
#include "tl_check.h"
#include "tl_sig.h"

#include <stdint.h>
#include <string.h>

#define ROUNDS_PER_SIGNATURE 3000
#define SIGNATURE_MUTATIONS 20000

static const char *const signatures[] = {
    "v()",
    "i4(i1,i2,i4,i8)",
    "u8(u1,u2,u4,u8)",
    "i16(i16,u16)",
    "f8(f8,f4,b)",
    "s(s,s)",
    "f8({40:8:0=f8,8=f8,16=f8,24=f8,32=f8},i4)",
    "v(*x1:f8,u8)",
    "v(*r1:i2,i4,*w1:u8)",
    "v(*w1:{16:8:0=s,8=i4},u8)",
    "v(&r{8:4:0=i4,4=i4},&w{16:8:0=f8,8=f8})",
    "i4(&x{24:8:0=[2]u1,8=s,16=[2]f4})",
    "{32:8:0=[3]b,4=i4,8={16:8:0=s,8=[2][2]i2},24=u8}({32:8:0=[3]b,4=i4,8={16:8:0=s,8=[2][2]i2},24=u8})",
    "v(*x3:u1,*r3:b,*w3:i1,u4)",
    "u16(*x1:u16,i8)",
    /* the table of service_table.c (test_service, test_main) */
    "f8(f8,f8)",
    "s(s)",
    "v(u4)",
};
#define SIGNATURE_COUNT (sizeof signatures / sizeof signatures[0])

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Any value of a random msgpack type, for "wrong type" cases. */
static void gen_anything(msgpack_packer *pk)
{
    static const char bytes[16] = "0123456789abcdef";

    switch (rnd_below(9)) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: msgpack_pack_true(pk); break;
    case 2: msgpack_pack_int64(pk, (int64_t)rnd()); break;
    case 3: msgpack_pack_uint64(pk, rnd()); break;
    case 4: msgpack_pack_double(pk, (double)(int64_t)rnd() / 7); break;
    case 5: msgpack_pack_str(pk, 3); msgpack_pack_str_body(pk, "abc", 3); break;
    case 6: msgpack_pack_bin(pk, 16); msgpack_pack_bin_body(pk, bytes, 16); break;
    case 7: msgpack_pack_array(pk, 1); msgpack_pack_int(pk, 1); break;
    default: msgpack_pack_map(pk, 1); msgpack_pack_nil(pk); msgpack_pack_nil(pk); break;
    }
}

static void gen_integer(msgpack_packer *pk, const struct tl_type *type)
{
    static const int64_t edges[] = { 0, 1, -1, 2, 3, 127, 128, -128, -129, 255, 256,
                                     32767, -32768, 65535, 65536, INT32_MAX, INT32_MIN,
                                     INT64_MAX, INT64_MIN };
    unsigned char bytes[17];

    if (type->size == 16) {
        for (int i = 0; i < 17; i++)
            bytes[i] = (unsigned char)rnd();
        unsigned len = rnd_below(8) == 0 ? rnd_below(18) : 16;
        msgpack_pack_bin(pk, len);
        msgpack_pack_bin_body(pk, bytes, len);
    } else if (rnd_below(4) == 0) {
        msgpack_pack_uint64(pk, rnd() | (uint64_t)1 << 63);
    } else {
        msgpack_pack_int64(pk, edges[rnd_below(sizeof edges / sizeof edges[0])]);
    }
}

static void gen_value(msgpack_packer *pk, const struct tl_type *type);

static void gen_elements(msgpack_packer *pk, const struct tl_type *elem, size_t count)
{
    if (rnd_below(10) == 0)
        count += rnd_below(3);       /* sometimes the wrong count */
    if (tl_type_is_block(elem) && rnd_below(8) != 0) {
        /* A block (docs/abi.md): count x size bytes, now and then one byte
         * short or over; mostly 0 and 1, so that _Bools pass now and then. */
        unsigned char bytes[8] = { 0, 1, 1, 0, 2, 255, 1, 0 };
        size_t len = count * elem->size;
        if (rnd_below(10) == 0) {
            size_t shift = rnd_below(3);         /* 0: one short, 2: one over */
            len = len + shift > 0 ? len + shift - 1 : 0;
        }
        msgpack_pack_bin(pk, len);
        for (size_t i = 0; i < len; i++)
            msgpack_pack_bin_body(pk, &bytes[rnd_below(rnd_below(4) == 0 ? 8 : 4)], 1);
        return;
    }
    msgpack_pack_array(pk, count);
    for (size_t i = 0; i < count; i++)
        gen_value(pk, elem);
}

static void gen_value(msgpack_packer *pk, const struct tl_type *type)
{
    if (rnd_below(24) == 0) {
        gen_anything(pk);
        return;
    }
    switch (type->kind) {
    case TL_KIND_VOID: msgpack_pack_nil(pk); break;
    case TL_KIND_BOOL: rnd_below(2) ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case TL_KIND_INT:
    case TL_KIND_UINT: gen_integer(pk, type); break;
    case TL_KIND_FLOAT:
        if (rnd_below(2))
            msgpack_pack_float(pk, (float)(int32_t)rnd() / 3.0f);
        else
            msgpack_pack_double(pk, rnd_below(5) == 0 ? 1e300 : (double)(int64_t)rnd());
        break;
    case TL_KIND_STRING: {
        static const char text[] = "turbolift\0lift";
        unsigned len = rnd_below(sizeof text);
        if (rnd_below(5) == 0) {
            msgpack_pack_nil(pk);
        } else {
            msgpack_pack_str(pk, len);
            msgpack_pack_str_body(pk, text, len);
        }
        break;
    }
    case TL_KIND_STRUCT: {
        unsigned count = type->field_count;
        if (rnd_below(12) == 0)
            count = rnd_below(count + 2);
        msgpack_pack_array(pk, count);
        for (unsigned i = 0; i < count; i++)
            gen_value(pk, i < type->field_count ? type->fields[i].type : type->fields[0].type);
        break;
    }
    case TL_KIND_ARRAY:
        gen_elements(pk, type->elem, type->count);
        break;
    }
}

/* A request that usually fits the signature. */
static void gen_request(msgpack_packer *pk, const struct tl_sig *sig)
{
    uint64_t lengths[16] = { 0 };
    unsigned count = sig->param_count;

    for (unsigned i = 0; i < sig->param_count && i < 16; i++)
        lengths[i] = rnd_below(5);
    if (rnd_below(20) == 0)
        count = rnd_below(count + 2);
    msgpack_pack_array(pk, count);
    for (unsigned i = 0; i < count; i++) {
        const struct tl_param *param;
        int is_length = 0;
        if (i >= sig->param_count) {    /* one argument too many */
            gen_anything(pk);
            continue;
        }
        param = &sig->params[i];
        for (unsigned j = 0; j < sig->param_count; j++)
            is_length |= sig->params[j].kind == TL_PARAM_BUFFER && sig->params[j].len_index == i;
        if (param->kind == TL_PARAM_VALUE) {
            if (is_length && rnd_below(10) != 0)
                msgpack_pack_uint64(pk, lengths[i % 16]);
            else
                gen_value(pk, param->type);
        } else if (rnd_below(6) == 0) {
            msgpack_pack_nil(pk);
        } else if (param->access == TL_ACCESS_WRITE) {
            rnd_below(10) ? msgpack_pack_true(pk) : gen_anything(pk);
        } else if (param->kind == TL_PARAM_BUFFER) {
            gen_elements(pk, param->type, lengths[param->len_index % 16]);
        } else {
            gen_value(pk, param->type);
        }
    }
}

static void mutate(char *data, size_t *len, size_t capacity)
{
    static const unsigned char interesting[] = { 0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xc3, 0xc4,
                                                 0xcf, 0xd3, 0xdc, 0xdd, 0xde, 0xdf, 0xff };
    unsigned edits = 1 + rnd_below(4);

    for (unsigned e = 0; e < edits && *len > 0; e++) {
        size_t at = rnd() % *len;
        switch (rnd_below(5)) {
        case 0: data[at] ^= (char)(1u << rnd_below(8)); break;
        case 1: data[at] = (char)interesting[rnd_below(sizeof interesting)]; break;
        case 2: *len = at; break;                                  /* truncate */
        case 3:                                                    /* insert   */
            if (*len < capacity) {
                memmove(data + at + 1, data + at, *len - at);
                data[at] = (char)rnd();
                (*len)++;
            }
            break;
        default: data[at] = (char)rnd(); break;
        }
    }
}

static int type_has_string(const struct tl_type *type)
{
    if (type->kind == TL_KIND_STRING)
        return 1;
    for (unsigned i = 0; i < type->field_count; i++) {
        if (type_has_string(type->fields[i].type))
            return 1;
    }
    return type->elem != NULL && type_has_string(type->elem);
}

/* Client-side decoding writes malloc'd strings into the caller's memory;
 * the fuzzer's "caller memory" is a frame, so it skips those signatures. */
static int reply_has_strings(const struct tl_sig *sig)
{
    if (type_has_string(sig->result))
        return 1;
    for (unsigned i = 0; i < sig->param_count; i++) {
        if (tl_param_is_out(&sig->params[i]) && type_has_string(sig->params[i].type))
            return 1;
    }
    return 0;
}

static unsigned long decoded, refused, replies_checked, replies_refused;

/* The value of integer argument i (a buffer's count), as a long long. */
static long long int_arg(const struct tl_sig *sig, void *const *args, unsigned i)
{
    const struct tl_type *t = sig->params[i].type;
    const void *p = args[i];

    if (t->kind == TL_KIND_INT) {
        switch (t->size) {
        case 1: return *(const int8_t *)p;
        case 2: return *(const int16_t *)p;
        case 4: return *(const int32_t *)p;
        default: return *(const int64_t *)p;
        }
    }
    switch (t->size) {
    case 1: return *(const uint8_t *)p;
    case 2: return *(const uint16_t *)p;
    case 4: return *(const uint32_t *)p;
    default: return (long long)(*(const uint64_t *)p & INT64_MAX);
    }
}

/* Bytes of caller memory behind out parameter i (0 when NULL). */
static size_t out_bytes(const struct tl_sig *sig, void *const *args, unsigned i)
{
    const struct tl_param *param = &sig->params[i];
    void *ptr = *(void *const *)args[i];
    long long n;

    if (ptr == NULL)
        return 0;
    if (param->kind != TL_PARAM_BUFFER)
        return param->type->size;
    n = int_arg(sig, args, param->len_index);
    return n > 0 ? (size_t)n * param->type->size : 0;
}

/* Pointers NULL exactly where the request sent nil; a positive count
 * never with a NULL pointer. */
static void check_pointers(const struct tl_sig *sig, const char *data, size_t len,
                           struct tl_frame *frame)
{
    void *const *args = tl_frame_args(frame);
    msgpack_unpacked msg;
    size_t off = 0;

    msgpack_unpacked_init(&msg);
    REQUIRE(msgpack_unpack_next(&msg, data, len, &off) == MSGPACK_UNPACK_SUCCESS);
    REQUIRE(msg.data.type == MSGPACK_OBJECT_ARRAY);
    for (unsigned i = 0; i < sig->param_count && i < msg.data.via.array.size; i++) {
        const struct tl_param *param = &sig->params[i];
        void *ptr;
        int sent_nil = msg.data.via.array.ptr[i].type == MSGPACK_OBJECT_NIL;

        if (param->kind == TL_PARAM_VALUE)
            continue;
        ptr = *(void *const *)args[i];
        CHECK_MSG((ptr == NULL) == sent_nil, "%s: argument %u: pointer %s, sent %s",
                  "request", i, ptr ? "set" : "NULL", sent_nil ? "nil" : "data");
        /* docs/abi.md: a NULL buffer comes with length 0, or the function
         * would read or write through NULL */
        if (param->kind == TL_PARAM_BUFFER && int_arg(sig, args, param->len_index) != 0)
            CHECK_MSG(ptr != NULL, "argument %u: count %lld with a NULL pointer",
                      i, int_arg(sig, args, param->len_index));
    }
    msgpack_unpacked_destroy(&msg);
}

/* encode(decoded) decodes, and encoding that again gives the same bytes. */
static void check_canonical(const struct tl_sig *sig, struct tl_frame *frame)
{
    msgpack_sbuffer once, twice;
    struct tl_frame *again = NULL;
    char err[512];

    msgpack_sbuffer_init(&once);
    msgpack_sbuffer_init(&twice);
    CHECK_MSG(tl_encode_request(sig, tl_frame_args(frame), &once, err, sizeof err) == 0,
              "re-encoding what decoded: %s", err);
    CHECK_MSG(tl_decode_request(sig, once.data, once.size, &again, err, sizeof err) == 0,
              "decoding the canonical encoding: %s", err);
    if (again != NULL) {
        CHECK_MSG(tl_encode_request(sig, tl_frame_args(again), &twice, err, sizeof err) == 0,
                  "%s", err);
        CHECK_MSG(once.size == twice.size && memcmp(once.data, twice.data, once.size) == 0,
                  "encode(decode(encode(x))) differs from encode(x) (%zu, %zu bytes)",
                  once.size, twice.size);
        tl_frame_free(again);
    }
    msgpack_sbuffer_destroy(&once);
    msgpack_sbuffer_destroy(&twice);
}

static void feed(const struct tl_sig *sig, const char *data, size_t len)
{
    struct tl_frame *frame = NULL;
    msgpack_sbuffer reply;
    char err[512];

    err[0] = '\0';
    if (tl_decode_request(sig, data, len, &frame, err, sizeof err) < 0) {
        CHECK(frame == NULL && err[0] != '\0');
        refused++;
        return;
    }
    decoded++;
    check_pointers(sig, data, len, frame);
    check_canonical(sig, frame);
    msgpack_sbuffer_init(&reply);
    /* No function runs: the result is the frame's zeroed memory. */
    CHECK_MSG(tl_encode_reply(sig, frame, &reply, err, sizeof err) == 0, "%s", err);
    if (!reply_has_strings(sig)) {
        void *result = tl_frame_result(frame);
        CHECK_MSG(tl_decode_reply(sig, reply.data, reply.size, tl_frame_args(frame),
                                  result, err, sizeof err) == 0, "%s", err);
        for (int i = 0; i < 4 && reply.size > 0; i++) {
            char copy[4096], before[4096];
            size_t n = reply.size < sizeof copy ? reply.size : sizeof copy;
            size_t rsize = tl_sig_result_size(sig), used = 0;
            void *const *args = tl_frame_args(frame);

            memcpy(copy, reply.data, n);
            mutate(copy, &n, sizeof copy);
            /* what the caller's memory holds before this reply */
            if (result != NULL && rsize <= sizeof before) {
                memcpy(before, result, rsize);
                used = rsize;
            }
            for (unsigned p = 0; p < sig->param_count; p++) {
                size_t b = tl_param_is_out(&sig->params[p]) ? out_bytes(sig, args, p) : 0;
                if (b > 0 && used + b <= sizeof before) {
                    memcpy(before + used, *(void *const *)args[p], b);
                    used += b;
                }
            }
            err[0] = '\0';
            if (tl_decode_reply(sig, copy, n, args, result, err, sizeof err) < 0) {
                size_t at = 0;
                CHECK(err[0] != '\0');
                if (result != NULL && rsize <= sizeof before) {
                    CHECK_MSG(memcmp(before, result, rsize) == 0,
                              "a refused reply changed the result (%s)", err);
                    at = rsize;
                }
                for (unsigned p = 0; p < sig->param_count; p++) {
                    size_t b = tl_param_is_out(&sig->params[p]) ? out_bytes(sig, args, p) : 0;
                    if (b > 0 && at + b <= used) {
                        CHECK_MSG(memcmp(before + at, *(void *const *)args[p], b) == 0,
                                  "a refused reply changed out argument %u (%s)", p, err);
                        at += b;
                    }
                }
                replies_refused++;
            }
            replies_checked++;
        }
    }
    msgpack_sbuffer_destroy(&reply);
    tl_frame_free(frame);
}

static void fuzz_signature_text(void)
{
    char text[512];
    unsigned accepted = 0;

    for (unsigned i = 0; i < SIGNATURE_MUTATIONS; i++) {
        const char *seed = signatures[rnd_below(SIGNATURE_COUNT)];
        size_t len = strlen(seed);
        struct tl_sig *sig = NULL;
        char err[256];

        memcpy(text, seed, len);
        mutate(text, &len, sizeof text - 1);
        for (size_t j = 0; j < len; j++) {
            if (text[j] == '\0')
                text[j] = '0';
        }
        text[len] = '\0';
        if (tl_sig_parse(text, &sig, err, sizeof err) == 0) {
            accepted++;
            tl_sig_free(sig);
        } else {
            CHECK(sig == NULL && err[0] != '\0');
        }
    }
    printf("signature mutations: %u of %u parsed\n", accepted, SIGNATURE_MUTATIONS);
}

int main(void)
{
    msgpack_sbuffer body;
    msgpack_packer pk;
    char data[8192];

    /* Write-only buffers sized by a fuzzed length may legitimately take up
     * to the limit; a small limit keeps the test fast and hits the limit. */
    tl_codec_set_alloc_limit((size_t)1 << 20);
    msgpack_sbuffer_init(&body);
    for (size_t s = 0; s < SIGNATURE_COUNT; s++) {
        struct tl_sig *sig = NULL;
        char err[256];
        REQUIRE(tl_sig_parse(signatures[s], &sig, err, sizeof err) == 0);
        for (unsigned round = 0; round < ROUNDS_PER_SIGNATURE; round++) {
            size_t len;
            msgpack_sbuffer_clear(&body);
            msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
            gen_request(&pk, sig);
            feed(sig, body.data, body.size);                /* as generated */
            len = body.size < sizeof data ? body.size : sizeof data;
            memcpy(data, body.data, len);
            mutate(data, &len, sizeof data);
            feed(sig, data, len);                           /* mutated */
            len = rnd_below(64);
            for (size_t i = 0; i < len; i++)
                data[i] = (char)rnd();
            feed(sig, data, len);                           /* random bytes */
        }
        tl_sig_free(sig);
    }
    msgpack_sbuffer_destroy(&body);
    printf("requests: %lu decoded, %lu refused; %lu mutated replies, %lu refused\n",
           decoded, refused, replies_checked, replies_refused);
    /* The generator must reach the decoder's success path, not only errors. */
    CHECK(decoded > SIGNATURE_COUNT * ROUNDS_PER_SIGNATURE / 10);
    CHECK(replies_refused > 0 && replies_refused < replies_checked);
    fuzz_signature_text();
    return tl_check_status("test_fuzz");
}
