/* SPDX-License-Identifier: MIT */
/*
 * test_codec.c - the codec end to end without a network: every supported
 * type and its edge values go client -> service -> client through
 *
 *   tl_encode_request -> tl_decode_request -> call -> tl_encode_reply
 *   -> tl_decode_reply
 *
 * and malformed requests and replies fail with a message and leave the
 * caller's memory alone.
 */
#include "tl_check.h"
#include "tl_sig.h"

#include <float.h>
#include <stdarg.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*call_fn)(void *const *args, void *result);

static char err[512];

static struct tl_sig *sig_of(const char *text)
{
    struct tl_sig *sig = NULL;

    if (tl_sig_parse(text, &sig, err, sizeof err) < 0) {
        fprintf(stderr, "cannot parse %s: %s\n", text, err);
        exit(1);
    }
    return sig;
}

/* The whole trip; returns 0 when every step succeeded. */
static int round_trip(const char *text, void *const *args, void *result, call_fn call)
{
    struct tl_sig *sig = sig_of(text);
    struct tl_frame *frame = NULL;
    msgpack_sbuffer request, reply;
    int rc = -1;

    msgpack_sbuffer_init(&request);
    msgpack_sbuffer_init(&reply);
    if (tl_encode_request(sig, args, &request, err, sizeof err) < 0) {
        fprintf(stderr, "%s: encode_request: %s\n", text, err);
        goto done;
    }
    if (tl_decode_request(sig, request.data, request.size, &frame, err, sizeof err) < 0) {
        fprintf(stderr, "%s: decode_request: %s\n", text, err);
        goto done;
    }
    CHECK((tl_frame_result(frame) == NULL) == (tl_sig_result_size(sig) == 0));
    call(tl_frame_args(frame), tl_frame_result(frame));
    if (tl_encode_reply(sig, frame, &reply, err, sizeof err) < 0) {
        fprintf(stderr, "%s: encode_reply: %s\n", text, err);
        goto done;
    }
    if (tl_decode_reply(sig, reply.data, reply.size, args, result, err, sizeof err) < 0) {
        fprintf(stderr, "%s: decode_reply: %s\n", text, err);
        goto done;
    }
    rc = 0;
done:
    tl_frame_free(frame);
    msgpack_sbuffer_destroy(&request);
    msgpack_sbuffer_destroy(&reply);
    tl_sig_free(sig);
    return rc;
}

/* ---- scalars: the service echoes its only argument ---- */

static size_t echo_size;

static void call_echo(void *const *args, void *result)
{
    memcpy(result, args[0], echo_size);
}

#define ECHO(text, type, value) do {                                        \
        type in_ = (value), out_;                                           \
        void *args_[] = { &in_ };                                           \
        memset(&out_, 0xa5, sizeof out_);                                   \
        echo_size = sizeof(type);                                           \
        CHECK(round_trip(text, args_, &out_, call_echo) == 0);              \
        CHECK_MSG(memcmp(&in_, &out_, sizeof(type)) == 0, "%s", text);      \
    } while (0)

static void test_scalars(void)
{
    ECHO("i1(i1)", int8_t, INT8_MIN);
    ECHO("i1(i1)", int8_t, INT8_MAX);
    ECHO("u1(u1)", uint8_t, UINT8_MAX);
    ECHO("i2(i2)", int16_t, INT16_MIN);
    ECHO("u2(u2)", uint16_t, UINT16_MAX);
    ECHO("i4(i4)", int32_t, INT32_MIN);
    ECHO("i4(i4)", int32_t, -1);
    ECHO("u4(u4)", uint32_t, UINT32_MAX);
    ECHO("i8(i8)", int64_t, INT64_MIN);
    ECHO("i8(i8)", int64_t, INT64_MAX);
    ECHO("i8(i8)", int64_t, 0);
    ECHO("u8(u8)", uint64_t, UINT64_MAX);
    ECHO("u8(u8)", uint64_t, 0);
    ECHO("b(b)", bool, true);
    ECHO("b(b)", bool, false);

    __int128 i128_min = (__int128)((unsigned __int128)1 << 127);
    ECHO("i16(i16)", __int128, i128_min);
    ECHO("i16(i16)", __int128, ~i128_min);
    ECHO("i16(i16)", __int128, -1);
    ECHO("i16(i16)", __int128, (__int128)0x0123456789abcdefLL << 60);
    ECHO("u16(u16)", unsigned __int128, ~(unsigned __int128)0);

    ECHO("f8(f8)", double, -0.0);
    ECHO("f8(f8)", double, INFINITY);
    ECHO("f8(f8)", double, -INFINITY);
    ECHO("f8(f8)", double, DBL_MAX);
    ECHO("f8(f8)", double, DBL_TRUE_MIN);
    ECHO("f8(f8)", double, 0.1);
    ECHO("f4(f4)", float, FLT_MAX);
    ECHO("f4(f4)", float, -0.0f);
    ECHO("f4(f4)", float, FLT_TRUE_MIN);

    /* NaN: compare by class, memcmp may differ in payload. */
    double nan_in = NAN, nan_out = 0;
    void *args[] = { &nan_in };
    echo_size = sizeof(double);
    CHECK(round_trip("f8(f8)", args, &nan_out, call_echo) == 0);
    CHECK(isnan(nan_out));
    float nanf_in = NAN, nanf_out = 0;
    args[0] = &nanf_in;
    echo_size = sizeof(float);
    CHECK(round_trip("f4(f4)", args, &nanf_out, call_echo) == 0);
    CHECK(isnan(nanf_out));
    CHECK(signbit(-0.0) && signbit((double)-0.0f));
}

/* ---- strings ---- */

static void test_strings(void)
{
    const char *samples[] = { NULL, "", "hello", "h\xc3\xa9llo w\xc3\xb6rld" };
    char *out;
    void *args[1];

    echo_size = sizeof(char *);
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const char *in = samples[i];
        args[0] = &in;
        out = (char *)"untouched";
        CHECK(round_trip("s(s)", args, &out, call_echo) == 0);
        if (in == NULL) {
            CHECK(out == NULL);
        } else {
            CHECK(out != NULL && out != in && strcmp(out, in) == 0);
            free(out);   /* a returned string belongs to the caller */
        }
    }

    size_t long_len = (size_t)3 << 20;
    char *long_string = malloc(long_len + 1);
    REQUIRE(long_string != NULL);
    for (size_t i = 0; i < long_len; i++)
        long_string[i] = (char)('a' + i % 26);
    long_string[long_len] = '\0';
    args[0] = &long_string;
    CHECK(round_trip("s(s)", args, &out, call_echo) == 0);
    CHECK(out != NULL && strcmp(out, long_string) == 0);
    free(out);
    free(long_string);
}

/* ---- structs with padding, nested structs and fixed arrays ---- */

struct inner {
    char c;                 /* 7 bytes of padding after */
    double d;
    short s[3];
};

struct outer {
    int32_t i;
    struct inner in;
    uint8_t bytes[5];
    bool flags[2];
    float grid[2][2];
    const char *name;
    __int128 big;
    uint16_t tail;
};

static char struct_sig[1024];

static void make_struct_sig(void)
{
    char inner[128], outer[400];

    snprintf(inner, sizeof inner, "{%zu:%zu:%zu=i1,%zu=f8,%zu=[3]i2}",
             sizeof(struct inner), _Alignof(struct inner), offsetof(struct inner, c),
             offsetof(struct inner, d), offsetof(struct inner, s));
    snprintf(outer, sizeof outer,
             "{%zu:%zu:%zu=i4,%zu=%s,%zu=[5]u1,%zu=[2]b,%zu=[2][2]f4,%zu=s,%zu=i16,%zu=u2}",
             sizeof(struct outer), _Alignof(struct outer),
             offsetof(struct outer, i), offsetof(struct outer, in), inner,
             offsetof(struct outer, bytes), offsetof(struct outer, flags),
             offsetof(struct outer, grid), offsetof(struct outer, name),
             offsetof(struct outer, big), offsetof(struct outer, tail));
    snprintf(struct_sig, sizeof struct_sig, "%s(%s,i4)", outer, outer);
}

static void call_mutate(void *const *args, void *result)
{
    struct outer o;
    int32_t k;

    memcpy(&o, args[0], sizeof o);
    memcpy(&k, args[1], sizeof k);
    o.i += k;
    o.in.c = (char)(o.in.c + 1);
    o.in.d *= 2;
    for (int j = 0; j < 3; j++)
        o.in.s[j] = (short)-o.in.s[j];
    for (int j = 0; j < 5; j++)
        o.bytes[j] = (uint8_t)(o.bytes[j] + 1);
    o.flags[0] = !o.flags[0];
    o.flags[1] = !o.flags[1];
    o.grid[1][1] = o.grid[0][0] + o.grid[0][1];
    o.name = o.name ? "renamed" : NULL;
    o.big = -o.big;
    o.tail ^= 0xffff;
    memcpy(result, &o, sizeof o);
}

static void test_structs(void)
{
    struct outer in, out;
    int32_t k = 10;
    void *args[] = { &in, &k };

    make_struct_sig();
    memset(&in, 0x5a, sizeof in);   /* padding holds junk: must not matter */
    in.i = INT32_MAX - 10;
    in.in.c = -128 + 1;
    in.in.d = 1.25;
    in.in.s[0] = -32768; in.in.s[1] = 0; in.in.s[2] = 32767;
    memcpy(in.bytes, "\x00\x01\xfe\x7f\x80", 5);
    in.flags[0] = true; in.flags[1] = false;
    in.grid[0][0] = 1.5f; in.grid[0][1] = -2.25f; in.grid[1][0] = 3; in.grid[1][1] = 0;
    in.name = "original";
    in.big = (__int128)INT64_MIN * 4;
    in.tail = 0x1234;

    memset(&out, 0, sizeof out);
    CHECK_MSG(round_trip(struct_sig, args, &out, call_mutate) == 0, "%s", struct_sig);
    CHECK(out.i == INT32_MAX);
    CHECK(out.in.c == -126);
    CHECK(out.in.d == 2.5);
    CHECK(out.in.s[0] == -32768 && out.in.s[1] == 0 && out.in.s[2] == -32767);
    CHECK(memcmp(out.bytes, "\x01\x02\xff\x80\x81", 5) == 0);
    CHECK(out.flags[0] == false && out.flags[1] == true);
    CHECK(out.grid[1][1] == -0.75f && out.grid[1][0] == 3);
    CHECK(out.name != NULL && strcmp(out.name, "renamed") == 0);
    CHECK(out.big == -((__int128)INT64_MIN * 4));
    CHECK(out.tail == (0x1234 ^ 0xffff));
    free((char *)out.name);

    in.name = NULL;
    CHECK(round_trip(struct_sig, args, &out, call_mutate) == 0);
    CHECK(out.name == NULL);
}

/* ---- pointer parameters ---- */

static void call_sum(void *const *args, void *result)
{
    const double *xs = *(double *const *)args[0];
    uint64_t n = *(const uint64_t *)args[1];
    double sum = 0;

    if (xs == NULL) {
        sum = -1;
    } else {
        for (uint64_t i = 0; i < n; i++)
            sum += xs[i];
    }
    memcpy(result, &sum, sizeof sum);
}

static void call_scale(void *const *args, void *result)
{
    double *xs = *(double *const *)args[0];
    uint64_t n = *(const uint64_t *)args[1];

    (void)result;
    for (uint64_t i = 0; xs && i < n; i++)
        xs[i] *= 2;
}

static void call_fill_even(void *const *args, void *result)
{
    int32_t *xs = *(int32_t *const *)args[0];
    int32_t n = *(const int32_t *)args[1];

    (void)result;
    for (int32_t i = 0; xs && i < n; i += 2)
        xs[i] = i * i;
}

struct pt { int32_t x, y; };
struct stats_out { double sum, prod; };

static void call_stats(void *const *args, void *result)
{
    const struct pt *p = *(struct pt *const *)args[0];
    struct stats_out *o = *(struct stats_out *const *)args[1];

    (void)result;
    if (p && o) {
        o->sum = p->x + p->y;
        o->prod = (double)p->x * p->y;
    }
}

static void call_swap(void *const *args, void *result)
{
    struct pt *p = *(struct pt *const *)args[0];
    int32_t r = -1, t;

    if (p) {
        t = p->x; p->x = p->y; p->y = t;
        r = p->x + p->y;
    }
    memcpy(result, &r, sizeof r);
}

static void call_bytes(void *const *args, void *result)
{
    uint8_t *b = *(uint8_t *const *)args[0];
    uint32_t n = *(const uint32_t *)args[1];

    (void)result;
    for (uint32_t i = 0; b && i < n; i++)
        b[i] = (uint8_t)(b[i] + 1);
}

static void call_negate(void *const *args, void *result)
{
    bool *b = *(bool *const *)args[0];
    uint64_t n = *(const uint64_t *)args[1];

    (void)result;
    for (uint64_t i = 0; b && i < n; i++)
        b[i] = !b[i];
}

struct named { const char *name; int32_t id; };

static void call_name(void *const *args, void *result)
{
    struct named *xs = *(struct named *const *)args[0];
    uint64_t n = *(const uint64_t *)args[1];
    static const char *const names[] = { "zero", "one", NULL };

    (void)result;
    for (uint64_t i = 0; xs && i < n; i++) {
        xs[i].name = names[i % 3];
        xs[i].id = (int32_t)i;
    }
}

static void call_bump(void *const *args, void *result)
{
    struct named *x = *(struct named *const *)args[0];

    (void)result;
    x->id++;
    if (x->id > 1)
        x->name = "bumped";
}

static void test_pointers(void)
{
    double xs[4] = { 1, 2, 3, 4.5 }, sum = 0;
    double *p = xs;
    uint64_t n = 4;
    void *args[2] = { &p, &n };

    /* read_only */
    CHECK(round_trip("f8(*r1:f8,u8)", args, &sum, call_sum) == 0);
    CHECK(sum == 10.5);
    p = NULL; n = 0;
    CHECK(round_trip("f8(*r1:f8,u8)", args, &sum, call_sum) == 0);
    CHECK(sum == -1);                    /* NULL arrives as NULL */
    n = 4;                               /* NULL with a length: refused */
    CHECK(round_trip("f8(*r1:f8,u8)", args, &sum, call_sum) == -1);
    CHECK_MSG(strstr(err, "NULL buffer must have length 0") != NULL, "%s", err);
    p = xs; n = 0;
    CHECK(round_trip("f8(*r1:f8,u8)", args, &sum, call_sum) == 0);
    CHECK(sum == 0);                     /* zero length, non-NULL pointer */

    /* read_write */
    n = 4;
    CHECK(round_trip("v(*x1:f8,u8)", args, NULL, call_scale) == 0);
    CHECK(xs[0] == 2 && xs[1] == 4 && xs[2] == 6 && xs[3] == 9);
    p = NULL; n = 0;
    CHECK(round_trip("v(*x1:f8,u8)", args, NULL, call_scale) == 0);
    p = xs; n = 0;      /* zero-length read_write buffer: nothing changes */
    CHECK(round_trip("v(*x1:f8,u8)", args, NULL, call_scale) == 0);
    CHECK(xs[0] == 2 && xs[3] == 9);

    /* write_only: the service gives zeroed memory; what the function leaves
     * untouched comes back as zero. */
    int32_t filled[5] = { 7, 7, 7, 7, 7 }, count = 5;
    int32_t *fp = filled;
    void *fill_args[2] = { &fp, &count };
    CHECK(round_trip("v(*w1:i4,i4)", fill_args, NULL, call_fill_even) == 0);
    CHECK(filled[0] == 0 && filled[1] == 0 && filled[2] == 4 && filled[3] == 0 &&
          filled[4] == 16);
    count = 0;    /* zero-length write_only buffer */
    CHECK(round_trip("v(*w1:i4,i4)", fill_args, NULL, call_fill_even) == 0);
    CHECK(filled[0] == 0 && filled[2] == 4);
    count = -1;   /* a negative count is refused on the client */
    {
        struct tl_sig *sig = sig_of("v(*w1:i4,i4)");
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        CHECK(tl_encode_request(sig, fill_args, &buf, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "negative") != NULL, "%s", err);
        fp = NULL;   /* a NULL pointer needs length 0, and -1 is not 0 */
        CHECK(tl_encode_request(sig, fill_args, &buf, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "NULL") != NULL, "%s", err);
        count = 0;
        CHECK(tl_encode_request(sig, fill_args, &buf, err, sizeof err) == 0);
        msgpack_sbuffer_destroy(&buf);
        tl_sig_free(sig);
    }

    /* pointer to one object, read_only and write_only */
    struct pt point = { 3, -4 };
    struct stats_out st = { 99, 99 };
    struct pt *pp = &point;
    struct stats_out *sp = &st;
    void *stats_args[2] = { &pp, &sp };
    CHECK(round_trip("v(&r{8:4:0=i4,4=i4},&w{16:8:0=f8,8=f8})", stats_args, NULL,
                     call_stats) == 0);
    CHECK(st.sum == -1 && st.prod == -12);
    sp = NULL;
    CHECK(round_trip("v(&r{8:4:0=i4,4=i4},&w{16:8:0=f8,8=f8})", stats_args, NULL,
                     call_stats) == 0);

    /* read_write object, and NULL */
    int32_t r = 0;
    void *swap_args[1] = { &pp };
    CHECK(round_trip("i4(&x{8:4:0=i4,4=i4})", swap_args, &r, call_swap) == 0);
    CHECK(point.x == -4 && point.y == 3 && r == -1);
    pp = NULL;
    CHECK(round_trip("i4(&x{8:4:0=i4,4=i4})", swap_args, &r, call_swap) == 0);
    CHECK(r == -1);

    /* byte buffers travel as bin */
    uint8_t bytes[3] = { 0, 127, 255 };
    uint8_t *bp = bytes;
    uint32_t bn = 3;
    void *byte_args[2] = { &bp, &bn };
    CHECK(round_trip("v(*x1:u1,u4)", byte_args, NULL, call_bytes) == 0);
    CHECK(bytes[0] == 1 && bytes[1] == 128 && bytes[2] == 0);

    bool flags[3] = { true, false, true };
    bool *flp = flags;
    uint64_t fln = 3;
    void *flag_args[2] = { &flp, &fln };
    CHECK(round_trip("v(*x1:b,u8)", flag_args, NULL, call_negate) == 0);
    CHECK(!flags[0] && flags[1] && !flags[2]);

    /* strings inside written-back structs are malloc'd for the caller */
    struct named names[4];
    struct named *np = names;
    uint64_t nn = 4;
    void *name_args[2] = { &np, &nn };
    memset(names, 0xff, sizeof names);   /* write-only: junk is fine */
    CHECK(round_trip("v(*w1:{16:8:0=s,8=i4},u8)", name_args, NULL, call_name) == 0);
    CHECK(names[0].name && strcmp(names[0].name, "zero") == 0 && names[0].id == 0);
    CHECK(names[1].name && strcmp(names[1].name, "one") == 0 && names[1].id == 1);
    CHECK(names[2].name == NULL && names[3].id == 3);
    for (int i = 0; i < 4; i++)
        free((char *)names[i].name);

    /* read_write: an unchanged string keeps the caller's pointer */
    char mine[] = "mine";
    struct named one = { mine, 0 };
    struct named *op = &one;
    void *bump_args[1] = { &op };
    CHECK(round_trip("v(&x{16:8:0=s,8=i4})", bump_args, NULL, call_bump) == 0);
    CHECK(one.name == mine && one.id == 1);
    CHECK(round_trip("v(&x{16:8:0=s,8=i4})", bump_args, NULL, call_bump) == 0);
    CHECK(one.name != mine && strcmp(one.name, "bumped") == 0 && one.id == 2);
    free((char *)one.name);
}

/* ---- malformed requests ---- */

typedef void (*build_fn)(msgpack_packer *pk);

/* Decode `body` under `text`; expect failure with `needle` in the message. */
static void expect_request_error(int line, const char *text, const char *data,
                                 size_t len, const char *needle)
{
    struct tl_sig *sig = sig_of(text);
    struct tl_frame *frame = (struct tl_frame *)1;

    err[0] = '\0';
    if (tl_decode_request(sig, data, len, &frame, err, sizeof err) != -1) {
        fprintf(stderr, "test_codec.c:%d: CHECK failed: %s accepted a bad request\n",
                line, text);
        tl_check_failures++;
        tl_frame_free(frame);
    } else if (frame != NULL || err[0] == '\0' ||
               (needle != NULL && strstr(err, needle) == NULL)) {
        fprintf(stderr, "test_codec.c:%d: CHECK failed: %s: message \"%s\" "
                "lacks \"%s\"\n", line, text, err, needle ? needle : "");
        tl_check_failures++;
    }
    tl_sig_free(sig);
}

static msgpack_sbuffer body;
static msgpack_packer pk;

static void start(void)
{
    msgpack_sbuffer_clear(&body);
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
}

#define BAD(text, needle) expect_request_error(__LINE__, text, body.data, body.size, needle)

static void expect_request_ok(int line, const char *text)
{
    struct tl_sig *sig = sig_of(text);
    struct tl_frame *frame = NULL;

    if (tl_decode_request(sig, body.data, body.size, &frame, err, sizeof err) != 0) {
        fprintf(stderr, "test_codec.c:%d: CHECK failed: %s: %s\n", line, text, err);
        tl_check_failures++;
    }
    tl_frame_free(frame);
    tl_sig_free(sig);
}

#define OK(text) expect_request_ok(__LINE__, text)

static void test_bad_requests(void)
{
    msgpack_sbuffer_init(&body);

    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, 300);
    BAD("v(i1)", "out of range");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, -129);
    BAD("v(i1)", "out of range");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, -128);
    OK("v(i1)");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, -1);
    BAD("v(u4)", "out of range");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_uint64(&pk, 4294967296ull);
    BAD("v(u4)", "out of range");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_uint64(&pk, 4294967295ull);
    OK("v(u4)");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_uint64(&pk, (uint64_t)INT64_MAX + 1);
    BAD("v(i8)", "out of range");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int64(&pk, INT64_MIN);
    OK("v(i8)");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int64(&pk, INT64_MIN);
    BAD("v(u8)", "out of range");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_double(&pk, 1.0);
    BAD("v(i4)", "expected integer");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_str(&pk, 1); msgpack_pack_str_body(&pk, "1", 1);
    BAD("v(i4)", "got str");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, 1);
    BAD("v(f8)", "expected float");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_double(&pk, 1e300);
    BAD("v(f4)", "out of range");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_float(&pk, 1.5f);
    OK("v(f8)");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, 1);
    BAD("v(b)", "expected bool");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_bin(&pk, 15); msgpack_pack_bin_body(&pk, "0123456789abcde", 15);
    BAD("v(i16)", "16 bytes");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, 5);
    BAD("v(u16)", "16 bytes");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_str(&pk, 3); msgpack_pack_str_body(&pk, "a\0b", 3);
    BAD("v(s)", "NUL");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_bin(&pk, 1); msgpack_pack_bin_body(&pk, "a", 1);
    BAD("v(s)", "got bin");

    /* arity and top-level shape */
    start(); msgpack_pack_array(&pk, 0);
    BAD("v(i4)", "takes 1 arguments");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 2);
    BAD("v(i4)", "the request has 2");
    start(); msgpack_pack_int(&pk, 1);
    BAD("v(i4)", "must be an array");
    start(); msgpack_pack_map(&pk, 0);
    BAD("v()", "must be an array");
    start(); msgpack_pack_array(&pk, 0);
    OK("v()");

    /* structs and fixed arrays */
    const char *st = "v({16:8:0=i4,8=[3]u1})";
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, 1);
    BAD(st, "2 fields");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1);
    msgpack_pack_bin(&pk, 2); msgpack_pack_bin_body(&pk, "ab", 2);
    BAD(st, "field 1: expected 3 bytes");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1);
    msgpack_pack_array(&pk, 3); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 2); msgpack_pack_int(&pk, 3);
    BAD(st, "expected bin");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1);
    msgpack_pack_bin(&pk, 3); msgpack_pack_bin_body(&pk, "abc", 3);
    OK(st);
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 0); msgpack_pack_int(&pk, 100000);
    BAD("v({4:2:0=[2]i2})", "field 0: expected bin of 4 bytes (2 elements of 2 bytes), got array");
    BAD("v({2:1:0=[2]i1})", "expected bin of 2 bytes (2 elements of 1 bytes), got array");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 1); msgpack_pack_bin(&pk, 2);
    msgpack_pack_bin_body(&pk, "\x01\x02", 2);
    BAD("v({2:1:0=[2]b})", "not a _Bool");

    /* buffers */
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_array(&pk, 2);
    msgpack_pack_double(&pk, 1); msgpack_pack_double(&pk, 2); msgpack_pack_int(&pk, 3);
    BAD("v(*r1:f8,u4)", "expected bin of 24 bytes (3 elements of 8 bytes), got array");
    /* blocks: wrong length, not a whole number of elements, bad _Bool */
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_bin(&pk, 16);
    msgpack_pack_bin_body(&pk, "0123456789abcdef", 16); msgpack_pack_int(&pk, 3);
    BAD("v(*r1:f8,u4)", "expected 24 bytes (3 elements of 8 bytes), got a bin of 16 bytes");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_bin(&pk, 12);
    msgpack_pack_bin_body(&pk, "0123456789ab", 12); msgpack_pack_int(&pk, 3);
    BAD("v(*r1:f8,u4)", "got a bin of 12 bytes, not a whole number of elements");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_bin(&pk, 8);
    msgpack_pack_bin_body(&pk, "\0\0\0\0\1\0\0\0", 8); msgpack_pack_int(&pk, 2);
    OK("v(*r1:{4:2:0=i2,2=b},u4)");    /* the padding byte is not looked at */
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_bin(&pk, 8);
    msgpack_pack_bin_body(&pk, "\0\0\0\0\1\0\2\0", 8); msgpack_pack_int(&pk, 2);
    BAD("v(*r1:{4:2:0=i2,2=b,3=u1},u4)", "element 1: byte 2 is 2, not a _Bool");
    /* a NULL buffer with a length would crash the function: 400 */
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_nil(&pk); msgpack_pack_int(&pk, 5);
    BAD("v(*r1:f8,i4)", "NULL buffer must have length 0");
    BAD("v(*x1:f8,i4)", "NULL buffer must have length 0");
    BAD("v(*w1:f8,i4)", "NULL buffer must have length 0");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_nil(&pk); msgpack_pack_int(&pk, -1);
    BAD("v(*r1:f8,i4)", "negative");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 5); msgpack_pack_nil(&pk);
    BAD("v(i4,*r0:f8)", "NULL buffer must have length 0");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_array(&pk, 0); msgpack_pack_int(&pk, -1);
    BAD("v(*r1:f8,i4)", "negative");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_true(&pk); msgpack_pack_int(&pk, 1);
    BAD("v(*r1:f8,i4)", "got bool");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_nil(&pk); msgpack_pack_int(&pk, 0);
    OK("v(*r1:f8,i4)");   /* NULL with length 0 */
    OK("v(*w1:f8,i4)");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_true(&pk); msgpack_pack_uint64(&pk, (uint64_t)1 << 40);
    BAD("v(*w1:f8,u8)", "TURBOLIFT_MAX_ALLOC");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_true(&pk); msgpack_pack_uint64(&pk, (uint64_t)1 << 61);
    BAD("v(*w1:f8,u8)", "overflow");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_true(&pk); msgpack_pack_uint64(&pk, UINT64_MAX);
    BAD("v(*w1:u1,u8)", "TURBOLIFT_MAX_ALLOC");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_true(&pk); msgpack_pack_uint64(&pk, 1000);
    OK("v(*w1:f8,u8)");
    /* a small struct element per byte of input would still be refused */
    tl_codec_set_alloc_limit(4096);
    BAD("v(*w1:f8,u8)", "4096 bytes");
    tl_codec_set_alloc_limit(0);
    CHECK(tl_codec_alloc_limit() == (size_t)256 << 20);
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_false(&pk); msgpack_pack_int(&pk, 1);
    BAD("v(*w1:f8,u8)", "true or nil");
    start(); msgpack_pack_array(&pk, 2); msgpack_pack_array(&pk, 1); msgpack_pack_double(&pk, 1); msgpack_pack_int(&pk, 1);
    BAD("v(*w1:f8,u8)", "true or nil");
    start(); msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, 1);
    BAD("v(&w{8:8:0=f8})", "true or nil");
    BAD("v(&r{8:8:0=f8})", "expected array");

    /* truncation, trailing bytes, garbage */
    const char *sig_text = "i4(s,*x2:{16:8:0=f8,8=i2},u8,&r{8:4:0=i4,4=f4})";
    start(); msgpack_pack_array(&pk, 4);
    msgpack_pack_str(&pk, 5); msgpack_pack_str_body(&pk, "hello", 5);
    msgpack_pack_bin(&pk, 32);
    msgpack_pack_bin_body(&pk, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                          "\0\0\0\0\0\0\xf0\x3f\xff\xff\0\0\0\0\0\0", 32);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 7); msgpack_pack_float(&pk, 0.5f);
    OK(sig_text);
    for (size_t len = 0; len < body.size; len++)
        expect_request_error(__LINE__, sig_text, body.data, len, len ? "truncated" : "empty");
    msgpack_pack_nil(&pk);
    BAD(sig_text, "trailing");
    expect_request_error(__LINE__, sig_text, NULL, 0, "empty");
    expect_request_error(__LINE__, sig_text, "\xc1", 1, "malformed");
    /* an array header that claims four billion elements in five bytes */
    expect_request_error(__LINE__, sig_text, "\xdd\xff\xff\xff\xff", 5, NULL);
    expect_request_error(__LINE__, sig_text, "\x94\xdd\x0f\xff\xff\xff", 6, NULL);
    expect_request_error(__LINE__, sig_text, "\xdf\xff\xff\xff\xff", 5, NULL);
    msgpack_sbuffer_destroy(&body);
}

/* ---- malformed replies: an error, and the caller's memory untouched ---- */

static void expect_reply_error(int line, const char *needle)
{
    struct tl_sig *sig = sig_of("i4(*x1:f8,u4,&w{8:8:0=f8})");
    double xs[2] = { 1, 2 }, obj = 5;
    double *p = xs, *op = &obj;
    uint32_t n = 2;
    int32_t result = 42;
    void *args[3] = { &p, &n, &op };

    err[0] = '\0';
    if (tl_decode_reply(sig, body.data, body.size, args, &result, err, sizeof err) != -1) {
        fprintf(stderr, "test_codec.c:%d: CHECK failed: a bad reply was accepted\n", line);
        tl_check_failures++;
    } else if (needle && strstr(err, needle) == NULL) {
        fprintf(stderr, "test_codec.c:%d: CHECK failed: message \"%s\" lacks \"%s\"\n",
                line, err, needle);
        tl_check_failures++;
    }
    if (xs[0] != 1 || xs[1] != 2 || obj != 5 || result != 42) {
        fprintf(stderr, "test_codec.c:%d: CHECK failed: caller memory changed\n", line);
        tl_check_failures++;
    }
    tl_sig_free(sig);
}

static void reply_head(unsigned keys)
{
    start();
    msgpack_pack_map(&pk, keys);
    msgpack_pack_str(&pk, 6); msgpack_pack_str_body(&pk, "result", 6);
}

static void pack_out_key(void)
{
    msgpack_pack_str(&pk, 3); msgpack_pack_str_body(&pk, "out", 3);
}

/* A block of n doubles (little-endian, as on the wire). */
static void pack_doubles(unsigned n, ...)
{
    va_list ap;

    msgpack_pack_bin(&pk, n * 8);
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++) {
        double d = va_arg(ap, double);
        msgpack_pack_bin_body(&pk, &d, 8);
    }
    va_end(ap);
}

static void test_bad_replies(void)
{
    msgpack_sbuffer_init(&body);

    start(); msgpack_pack_array(&pk, 0);
    expect_reply_error(__LINE__, "must be a map");
    reply_head(1); msgpack_pack_int(&pk, 1);
    expect_reply_error(__LINE__, "no \"out\"");
    start(); msgpack_pack_map(&pk, 1); pack_out_key(); msgpack_pack_array(&pk, 2);
    msgpack_pack_nil(&pk); msgpack_pack_nil(&pk);
    expect_reply_error(__LINE__, "no \"result\"");
    reply_head(3); msgpack_pack_int(&pk, 1);
    msgpack_pack_str(&pk, 6); msgpack_pack_str_body(&pk, "result", 6); msgpack_pack_int(&pk, 1);
    pack_out_key(); msgpack_pack_array(&pk, 0);
    expect_reply_error(__LINE__, "twice");
    reply_head(2); msgpack_pack_int(&pk, 1); pack_out_key(); msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
    expect_reply_error(__LINE__, "array of 2 elements");
    reply_head(2); msgpack_pack_uint64(&pk, (uint64_t)1 << 40); pack_out_key();
    msgpack_pack_array(&pk, 2); msgpack_pack_nil(&pk); msgpack_pack_nil(&pk);
    expect_reply_error(__LINE__, "result: ");
    /* the first out is well-formed, the second is not: nothing is written */
    reply_head(2); msgpack_pack_int(&pk, 7); pack_out_key(); msgpack_pack_array(&pk, 2);
    pack_doubles(2, 10.0, 20.0);
    msgpack_pack_nil(&pk);
    expect_reply_error(__LINE__, "out 1 (argument 2): expected array (struct), got nil");
    reply_head(2); msgpack_pack_int(&pk, 7); pack_out_key(); msgpack_pack_array(&pk, 2);
    pack_doubles(3, 10.0, 20.0, 30.0);
    msgpack_pack_array(&pk, 1); msgpack_pack_double(&pk, 1);
    expect_reply_error(__LINE__, "expected 16 bytes (2 elements of 8 bytes), got a bin of 24");
    reply_head(2); msgpack_pack_int(&pk, 7); pack_out_key(); msgpack_pack_array(&pk, 2);
    pack_doubles(2, 10.0, 20.0);
    msgpack_pack_array(&pk, 1); msgpack_pack_double(&pk, 1);
    size_t good_size = body.size;
    body.size = good_size - 1;
    expect_reply_error(__LINE__, "truncated");
    body.size = good_size;

    /* ...and the same reply, complete and with an unknown extra key, works */
    {
        struct tl_sig *sig = sig_of("i4(*x1:f8,u4,&w{8:8:0=f8})");
        double xs[2] = { 1, 2 }, obj = 5;
        double *p = xs, *op = &obj;
        uint32_t n = 2;
        int32_t result = 42;
        void *args[3] = { &p, &n, &op };
        reply_head(3); msgpack_pack_int(&pk, 7);
        msgpack_pack_str(&pk, 4); msgpack_pack_str_body(&pk, "note", 4); msgpack_pack_nil(&pk);
        pack_out_key(); msgpack_pack_array(&pk, 2);
        pack_doubles(2, 10.0, 20.0);
        msgpack_pack_array(&pk, 1); msgpack_pack_double(&pk, 1);
        CHECK_MSG(tl_decode_reply(sig, body.data, body.size, args, &result, err,
                                  sizeof err) == 0, "%s", err);
        CHECK(result == 7 && xs[0] == 10 && xs[1] == 20 && obj == 1);
        /* a NULL pointer on the client but data in the reply */
        op = NULL;
        CHECK(tl_decode_reply(sig, body.data, body.size, args, &result, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "NULL") != NULL, "%s", err);
        tl_sig_free(sig);
    }
    msgpack_sbuffer_destroy(&body);
}


/* ---- blocks: large arrays of every string-free type, bit for bit ---- */

/* The element type of the current block test; the service's call walks it. */
static const struct tl_type *block_elem;

/* Mark the bytes of one element that scalars cover (1) and set each
 * scalar to its image under flip (0 = leave, 1 = invert the bits, a _Bool
 * negated). */
static void walk_elem(const struct tl_type *t, unsigned char *p, unsigned char *mask,
                      int flip)
{
    switch (t->kind) {
    case TL_KIND_BOOL:
        if (flip)
            p[0] = !p[0];
        if (mask)
            mask[0] = 1;
        return;
    case TL_KIND_INT: case TL_KIND_UINT: case TL_KIND_FLOAT:
        for (size_t i = 0; i < t->size; i++) {
            if (flip)
                p[i] = (unsigned char)~p[i];
            if (mask)
                mask[i] = 1;
        }
        return;
    case TL_KIND_STRUCT:
        for (unsigned i = 0; i < t->field_count; i++)
            walk_elem(t->fields[i].type, p + t->fields[i].offset,
                      mask ? mask + t->fields[i].offset : NULL, flip);
        return;
    case TL_KIND_ARRAY:
        for (size_t i = 0; i < t->count; i++)
            walk_elem(t->elem, p + i * t->elem->size,
                      mask ? mask + i * t->elem->size : NULL, flip);
        return;
    default:
        return;
    }
}

/* Random bits in every scalar, 0/1 in every _Bool, garbage in padding. */
static uint64_t block_seed = 0x9e3779b97f4a7c15ull;

static unsigned char block_byte(void)
{
    block_seed ^= block_seed << 13;
    block_seed ^= block_seed >> 7;
    block_seed ^= block_seed << 17;
    return (unsigned char)block_seed;
}

static void fill_elem(const struct tl_type *t, unsigned char *p)
{
    switch (t->kind) {
    case TL_KIND_BOOL:
        p[0] = block_byte() & 1;
        return;
    case TL_KIND_STRUCT:
        for (unsigned i = 0; i < t->field_count; i++)
            fill_elem(t->fields[i].type, p + t->fields[i].offset);
        return;
    case TL_KIND_ARRAY:
        for (size_t i = 0; i < t->count; i++)
            fill_elem(t->elem, p + i * t->elem->size);
        return;
    default:
        for (size_t i = 0; i < t->size; i++)
            p[i] = block_byte();
        return;
    }
}

/* v(*x1:T,u8): flips every scalar of every element. */
static void call_flip(void *const *args, void *result)
{
    unsigned char *p = *(unsigned char *const *)args[0];
    uint64_t n;

    (void)result;
    memcpy(&n, args[1], sizeof n);
    for (uint64_t i = 0; i < n; i++)
        walk_elem(block_elem, p + i * block_elem->size, NULL, 1);
}

/* u8(*r1:T,u8): FNV-1a of the covered bytes, the service's view. */
static uint64_t fnv_covered(const unsigned char *p, uint64_t n)
{
    size_t size = block_elem->size;
    unsigned char *mask = calloc(1, size ? size : 1);
    uint64_t h = 1469598103934665603ull;

    REQUIRE(mask != NULL);
    walk_elem(block_elem, (unsigned char[64]){ 0 }, NULL, 0);
    {
        /* the mask of one element, from a scratch copy */
        unsigned char *scratch = calloc(1, size ? size : 1);
        REQUIRE(scratch != NULL);
        walk_elem(block_elem, scratch, mask, 0);
        free(scratch);
    }
    for (uint64_t i = 0; i < n; i++) {
        for (size_t b = 0; b < size; b++) {
            if (mask[b])
                h = (h ^ p[i * size + b]) * 1099511628211ull;
        }
    }
    free(mask);
    return h;
}

static void call_hash(void *const *args, void *result)
{
    const unsigned char *p = *(unsigned char *const *)args[0];
    uint64_t n, h;

    memcpy(&n, args[1], sizeof n);
    h = fnv_covered(p, n);
    memcpy(result, &h, sizeof h);
}

static void block_case(const char *elem_text, size_t n)
{
    char text_x[512], text_r[512];
    struct tl_sig *sig;
    unsigned char *mem, *want, *mask;
    size_t size;
    uint64_t count = n, hash = 0;
    void *args[2];

    snprintf(text_x, sizeof text_x, "v(*x1:%s,u8)", elem_text);
    snprintf(text_r, sizeof text_r, "u8(*r1:%s,u8)", elem_text);
    sig = sig_of(text_x);
    block_elem = sig->params[0].type;
    CHECK_MSG(tl_type_is_block(block_elem), "%s", elem_text);
    size = block_elem->size;
    mem = malloc(n * size + 1);
    want = malloc(n * size + 1);
    mask = calloc(1, size + 1);
    REQUIRE(mem != NULL && want != NULL && mask != NULL);
    walk_elem(block_elem, want, mask, 0);
    for (size_t i = 0; i < n; i++)
        fill_elem(block_elem, mem + i * size);
    memcpy(want, mem, n * size);
    for (size_t i = 0; i < n; i++)
        walk_elem(block_elem, want + i * size, NULL, 1);
    args[0] = &mem;
    args[1] = &count;

    /* read_only: the service sees exactly the caller's covered bytes */
    CHECK_MSG(round_trip(text_r, args, &hash, call_hash) == 0, "%s", text_r);
    CHECK_MSG(hash == fnv_covered(mem, n), "%s: the service saw other bytes", text_r);
    /* read_write: every covered bit comes back flipped; padding is zero */
    CHECK_MSG(round_trip(text_x, args, NULL, call_flip) == 0, "%s", text_x);
    for (size_t i = 0; i < n * size; i++) {
        unsigned char expect = mask[i % size] ? want[i] : 0;
        if (mem[i] != expect) {
            fprintf(stderr, "%s: byte %zu is %02x, wanted %02x\n", text_x, i, mem[i],
                    expect);
            tl_check_failures++;
            break;
        }
    }
    free(mem);
    free(want);
    free(mask);
    tl_sig_free(sig);
}

static void test_blocks(void)
{
    static const char *const elems[] = {
        "i1", "u1", "b", "i2", "u2", "i4", "u4", "i8", "u8", "i16", "u16", "f4", "f8",
        /* padding between and after fields, a _Bool, nested arrays */
        "{24:8:0=b,2=i2,8=f8,16=[3]u1,20=f4}",
        "{32:16:0=i16,16=[2]{4:2:0=b,2=[1]i2},24=u8}",
        "{12:4:0=[2][3]u2}",
        "{1:1:0=b}",
    };
    size_t n = (size_t)1 << 16;   /* 64 Ki elements: up to 2 MiB a block */

    for (size_t i = 0; i < sizeof elems / sizeof elems[0]; i++)
        block_case(elems[i], n);
    block_case("f8", 0);
    block_case("{24:8:0=b,2=i2,8=f8,16=[3]u1,20=f4}", 1);

    /* the bytes of the wire form, as docs/abi.md spells them */
    {
        struct tl_sig *sig = sig_of("v(*x1:f8,u8)");
        double xs[2] = { 1.0, 2.0 }, *p = xs;
        uint64_t two = 2;
        void *args[2] = { &p, &two };
        static const unsigned char want[] = {
            0x92, 0xc4, 0x10, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x02,
        };
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        CHECK(tl_encode_request(sig, args, &buf, err, sizeof err) == 0);
        CHECK(buf.size == sizeof want && memcmp(buf.data, want, sizeof want) == 0);
        msgpack_sbuffer_destroy(&buf);
        tl_sig_free(sig);
    }
    {
        struct elem { int16_t a; float b; } e = { -2, 0.5f }, *p = &e;
        struct tl_sig *sig = sig_of("v(*r1:{8:4:0=i2,4=f4},u8)");
        uint64_t one = 1;
        void *args[2] = { &p, &one };
        static const unsigned char want[] = {
            0x92, 0xc4, 0x08, 0xfe, 0xff, 0, 0, 0, 0, 0, 0x3f, 0x01,
        };
        msgpack_sbuffer buf;
        memset(&e, 0xaa, sizeof e);     /* padding garbage is sent as zeros */
        e.a = -2;
        e.b = 0.5f;
        msgpack_sbuffer_init(&buf);
        CHECK(tl_encode_request(sig, args, &buf, err, sizeof err) == 0);
        CHECK(buf.size == sizeof want && memcmp(buf.data, want, sizeof want) == 0);
        msgpack_sbuffer_destroy(&buf);
        tl_sig_free(sig);
    }
}

int main(void)
{
    test_scalars();
    test_strings();
    test_structs();
    test_pointers();
    test_blocks();
    test_bad_requests();
    test_bad_replies();
    return tl_check_status("test_codec");
}
