/* SPDX-License-Identifier: MIT */
/*
 * test_sig.c - the signature parser: every documented example parses into
 * the expected tree, and malformed strings fail with a message, not a crash.
 */
#include "tl_check.h"
#include "tl_sig.h"

#include <stddef.h>
#include <string.h>

static struct tl_sig *parse_ok(const char *text)
{
    char err[256] = "";
    struct tl_sig *sig = NULL;

    CHECK_MSG(tl_sig_parse(text, &sig, err, sizeof err) == 0, "%s: %s", text, err);
    return sig;
}

static void test_examples(void)
{
    struct tl_sig *sig;

    sig = parse_ok("f8({40:8:0=f8,8=f8,16=f8,24=f8,32=f8},i4)");
    REQUIRE(sig != NULL);
    CHECK(sig->result->kind == TL_KIND_FLOAT && sig->result->size == 8);
    CHECK(tl_sig_param_count(sig) == 2);
    CHECK(tl_sig_result_size(sig) == 8);
    CHECK(sig->params[0].kind == TL_PARAM_VALUE);
    CHECK(sig->params[0].type->kind == TL_KIND_STRUCT);
    CHECK(sig->params[0].type->size == 40 && sig->params[0].type->align == 8);
    CHECK(sig->params[0].type->field_count == 5);
    CHECK(sig->params[0].type->fields[4].offset == 32);
    CHECK(sig->params[1].type->kind == TL_KIND_INT && sig->params[1].type->size == 4);
    CHECK(sig->out_count == 0);
    tl_sig_free(sig);

    sig = parse_ok("v(*x1:f8,u8)");
    REQUIRE(sig != NULL);
    CHECK(sig->result->kind == TL_KIND_VOID && tl_sig_result_size(sig) == 0);
    CHECK(sig->params[0].kind == TL_PARAM_BUFFER);
    CHECK(sig->params[0].access == TL_ACCESS_READ_WRITE);
    CHECK(sig->params[0].len_index == 1);
    CHECK(sig->params[1].type->kind == TL_KIND_UINT);
    CHECK(sig->out_count == 1);
    tl_sig_free(sig);

    sig = parse_ok("i4(s,i1)");
    REQUIRE(sig != NULL);
    CHECK(sig->params[0].type->kind == TL_KIND_STRING);
    CHECK(sig->params[0].type->size == sizeof(char *));
    tl_sig_free(sig);

    sig = parse_ok("v(&r{8:4:0=i4,4=i4},&w{16:8:0=f8,8=f8})");
    REQUIRE(sig != NULL);
    CHECK(sig->params[0].kind == TL_PARAM_OBJECT && sig->params[0].access == TL_ACCESS_READ);
    CHECK(sig->params[1].kind == TL_PARAM_OBJECT && sig->params[1].access == TL_ACCESS_WRITE);
    CHECK(sig->out_count == 1);
    tl_sig_free(sig);

    /* Nested structs with fixed arrays, arrays of arrays, strings in structs. */
    CHECK(tl_sig_parse("{48:8:0=[2][3]i2,16={16:8:0=s,8=b},32=[5]u1,40=s}(v)",
                       &sig, NULL, 0) == -1);   /* 'v' is not a parameter */
    sig = parse_ok("{48:8:0=[2][3]i2,16={16:8:0=s,8=b},32=[5]u1,40=s}()");
    REQUIRE(sig != NULL);
    CHECK(sig->result->fields[0].type->kind == TL_KIND_ARRAY);
    CHECK(sig->result->fields[0].type->count == 2);
    CHECK(sig->result->fields[0].type->size == 12);
    CHECK(sig->result->fields[0].type->elem->count == 3);
    CHECK(sig->result->fields[1].type->fields[1].type->kind == TL_KIND_BOOL);
    CHECK(tl_sig_param_count(sig) == 0);
    tl_sig_free(sig);

    CHECK(tl_sig_parse("u16(i16,u16,f4,b,*r0:i16,&x{16:16:0=u16})",
                       &sig, NULL, 0) == -1);   /* a 16-byte length */
    sig = parse_ok("u16(i16,u16,f4,b,*r6:i16,&x{16:16:0=u16},i8)");
    REQUIRE(sig != NULL);
    CHECK(sig->result->size == 16);
    tl_sig_free(sig);
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "", "(", ")", "v", "v(", "v()x", "v())", "x()", "i3()", "i32()", "u0()",
        "f2()", "f16()", "v(v)", "v([3]i4)", "[3]i4()", "v(i4,)", "v(,)", "v(,i4)",
        "v(i4 )", " v()", "v(i)", "v(i-4)", "v(i+4)",
        "v({8:4:0=i4,2=i4})",           /* overlapping fields            */
        "v({8:4:4=i4,0=i4})",           /* fields out of order           */
        "v({4:4:0=f8})",                /* field sticks out              */
        "v({6:4:0=i4})",                /* size not a multiple of align  */
        "v({8:3:0=i4})",                /* align not a power of two      */
        "v({8:0:0=i4})",
        "v({8:8:})", "v({8:8})", "v({8:8:0=i4)", "v({8:8:0i4})", "v({:8:0=i4})",
        "v({8:8:0=v})", "v({8:8:0=i4,})",
        "v(*r5:f8,u8)",                 /* length index out of range      */
        "v(*r0:f8)",                    /* length is the pointer itself   */
        "v(*r1:f8,f8)",                 /* length is not an integer       */
        "v(*r1:f8,*r0:u8)",             /* length is a pointer            */
        "v(*r1:f8,i16)",                /* length wider than 8 bytes      */
        "v(*r1:s,u8)",                  /* string element                 */
        "v(*r1:v,u8)", "v(&rv)", "v(&r[2]i4)", "v(*r1:[2]i4,u8)",
        "v(*q1:f8,u8)", "v(*r:f8,u8)", "v(*r1f8,u8)", "v(&)", "v(*)", "v(&r)",
        "i99999999999999999999999()",
        "v({99999999999999999999:8:0=i4})",
        "v({2147483648:8:0=i4})",       /* larger than the type size cap  */
        "v({1073741824:1:0=[1073741824][2]u1})",
        "v({8:131072:0=i4})",
        "v(*r99999999999:f8,u8)",
        "s{8:8:0=i8}()",
    };
    char err[256];
    char deep[400];
    struct tl_sig *sig;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        sig = (struct tl_sig *)1;
        CHECK_MSG(tl_sig_parse(bad[i], &sig, err, sizeof err) == -1,
                  "\"%s\" was accepted", bad[i]);
        CHECK(sig == NULL);
        CHECK_MSG(strncmp(err, "bad signature", 13) == 0, "\"%s\": \"%s\"", bad[i], err);
    }

    /* NULL text, NULL or tiny error buffers. */
    CHECK(tl_sig_parse(NULL, &sig, err, sizeof err) == -1 && sig == NULL);
    CHECK(tl_sig_parse("v(", &sig, NULL, 0) == -1);
    CHECK(tl_sig_parse("v(", &sig, err, 1) == -1 && err[0] == '\0');

    /* Nesting deeper than the parser allows: refused, not a stack overflow. */
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "v(");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{8:8:0=");
    n += (size_t)snprintf(deep + n, sizeof deep - n, "i8");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "}");
    snprintf(deep + n, sizeof deep - n, ")");
    CHECK(tl_sig_parse(deep, &sig, err, sizeof err) == -1);
    CHECK(strstr(err, "nested") != NULL);

    /* Every prefix of a valid signature is invalid and handled. */
    const char *good = "v(&r{8:4:0=i4,4=i4},*x3:{24:8:0=[2]u1,8=s,16=f8},&w{16:8:0=f8,8=f8},u8)";
    char prefix[128];
    sig = parse_ok(good);
    tl_sig_free(sig);
    for (size_t len = 0; len < strlen(good); len++) {
        memcpy(prefix, good, len);
        prefix[len] = '\0';
        CHECK_MSG(tl_sig_parse(prefix, &sig, err, sizeof err) == -1, "%s", prefix);
    }
}

/* The signature client and service agree on when the service takes the
 * program's variables of other files (docs/abi.md, section 2). */
static void test_with_globals(void)
{
    struct tl_sig *sig = NULL;
    char err[256] = "";

    CHECK_MSG(tl_sig_parse_with_globals("f8(i4;f8)", 1, 2137, 1, &sig, err, sizeof err) == 0,
              "%s", err);
    REQUIRE(sig != NULL);
    CHECK(sig->param_count == 4 && sig->capture_count == 3);
    CHECK(sig->params[2].type->kind == TL_KIND_ARRAY && sig->params[2].type->size == 2137);
    CHECK(sig->params[3].type->kind == TL_KIND_STRING);
    tl_sig_free(sig);
    /* no parameters, no captures of its own, strings only */
    CHECK_MSG(tl_sig_parse_with_globals("i4()", 0, 0, 2, &sig, err, sizeof err) == 0,
              "%s", err);
    REQUIRE(sig != NULL);
    CHECK(sig->param_count == 2 && sig->capture_count == 2);
    tl_sig_free(sig);
    CHECK(tl_sig_parse_with_globals("i4(", 0, 8, 0, &sig, err, sizeof err) == -1);
}

int main(void)
{
    test_examples();
    test_malformed();
    test_with_globals();
    tl_sig_free(NULL);
    return tl_check_status("test_sig");
}
