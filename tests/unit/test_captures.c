/* SPDX-License-Identifier: MIT */
/*
 * test_captures.c - captured globals in the signature and on the wire
 * (docs/abi.md, sections 1 and 2; docs/remote.md): the ';' part of a
 * signature, the request's trailing elements (a big array as one block, a
 * string, a struct with a string field), and the service frame that hands
 * them to the dispatcher after the arguments.
 */
#include <stdint.h>
#include <string.h>

#include "tl_check.h"
#include "tl_codec.h"
#include "tl_sig.h"

static void test_parse(void)
{
    struct tl_sig *sig;
    char err[256];

    /* parameters, then captured globals */
    REQUIRE(tl_sig_parse("f8(f8;f8,i4)", &sig, err, sizeof err) == 0);
    CHECK(sig->param_count == 3 && sig->capture_count == 2);
    CHECK(sig->params[1].kind == TL_PARAM_VALUE && sig->params[2].type->kind == TL_KIND_INT);
    tl_sig_free(sig);

    /* no parameters; arrays and strings are captures too */
    REQUIRE(tl_sig_parse("v(;[16]i1,s,[3]{16:8:0=i4,8=s})", &sig, err, sizeof err) == 0);
    CHECK(sig->param_count == 3 && sig->capture_count == 3);
    CHECK(sig->params[0].type->kind == TL_KIND_ARRAY && sig->params[0].type->count == 16);
    tl_sig_free(sig);

    /* without ';' nothing changes */
    REQUIRE(tl_sig_parse("v(*r1:f8,u8)", &sig, err, sizeof err) == 0);
    CHECK(sig->param_count == 2 && sig->capture_count == 0);
    tl_sig_free(sig);

    /* refused: an empty capture list, void, a pointer, a buffer counted by
     * a captured global, an array parameter */
    CHECK(tl_sig_parse("f8(f8;)", &sig, err, sizeof err) == -1);
    CHECK(tl_sig_parse("f8(;v)", &sig, err, sizeof err) == -1);
    CHECK(tl_sig_parse("f8(;*r0:f8)", &sig, err, sizeof err) == -1);
    CHECK_MSG(tl_sig_parse("f8(*r1:f8;u8)", &sig, err, sizeof err) == -1 &&
              strstr(err, "length index") != NULL, "%s", err);
    CHECK(tl_sig_parse("f8([4]f8)", &sig, err, sizeof err) == -1);
}

struct limits {
    int lo, hi;
    const char *name;
};

/* What a stub and a dispatcher do, without the HTTP in between. */
static void test_round_trip(void)
{
    static double table[4096];
    const char *motto = "carpe diem";
    struct limits bounds = { -3, 9, "b" };
    int level = 42;
    void *args[5];
    struct tl_sig *sig;
    struct tl_frame *frame;
    msgpack_sbuffer sb;
    msgpack_unpacked msg;
    char err[256];
    void *const *in;

    for (int i = 0; i < 4096; i++)
        table[i] = i * 0.25 - 7;
    REQUIRE(tl_sig_parse("f8(i4;[4096]f8,s,{16:8:0=i4,4=i4,8=s})", &sig,
                         err, sizeof err) == 0);
    args[0] = &level;           /* the argument           */
    args[1] = table;            /* then each global's address */
    args[2] = &motto;
    args[3] = &bounds;
    msgpack_sbuffer_init(&sb);
    REQUIRE(tl_encode_request(sig, args, &sb, err, sizeof err) == 0);

    /* one array: the argument, then the three globals; the table as one
     * block of its bytes (docs/abi.md, "Blocks") */
    msgpack_unpacked_init(&msg);
    REQUIRE(msgpack_unpack_next(&msg, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS);
    REQUIRE(msg.data.type == MSGPACK_OBJECT_ARRAY && msg.data.via.array.size == 4);
    CHECK(msg.data.via.array.ptr[1].type == MSGPACK_OBJECT_BIN &&
          msg.data.via.array.ptr[1].via.bin.size == sizeof table);
    CHECK(msg.data.via.array.ptr[2].type == MSGPACK_OBJECT_STR);
    msgpack_unpacked_destroy(&msg);

    /* the service's frame: every slot where the dispatcher reads it */
    REQUIRE(tl_decode_request(sig, sb.data, sb.size, &frame, err, sizeof err) == 0);
    in = tl_frame_args(frame);
    CHECK(*(int *)in[0] == 42);
    CHECK(memcmp(in[1], table, sizeof table) == 0);
    CHECK(strcmp(*(const char **)in[2], "carpe diem") == 0);
    CHECK(((struct limits *)in[3])->lo == -3 && ((struct limits *)in[3])->hi == 9 &&
          strcmp(((struct limits *)in[3])->name, "b") == 0);
    tl_frame_free(frame);

    /* a NULL string travels as nil and arrives as NULL */
    motto = NULL;
    msgpack_sbuffer_clear(&sb);
    REQUIRE(tl_encode_request(sig, args, &sb, err, sizeof err) == 0);
    REQUIRE(tl_decode_request(sig, sb.data, sb.size, &frame, err, sizeof err) == 0);
    CHECK(*(const char **)tl_frame_args(frame)[2] == NULL);
    tl_frame_free(frame);

    /* a request without the globals does not fit the signature */
    msgpack_sbuffer_clear(&sb);
    {
        msgpack_packer pk;

        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_int(&pk, 42);
    }
    CHECK_MSG(tl_decode_request(sig, sb.data, sb.size, &frame, err, sizeof err) == -1,
              "an old-style request was accepted");
    msgpack_sbuffer_destroy(&sb);
    tl_sig_free(sig);
}

int main(void)
{
    test_parse();
    test_round_trip();
    return tl_check_status("test_captures");
}
