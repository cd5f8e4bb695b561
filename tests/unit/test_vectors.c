/* SPDX-License-Identifier: MIT */
/*
 * test_vectors.c - the wire bytes of docs/abi-vectors.md, byte for byte, in
 * both directions.
 *
 * Every other codec test round-trips through the same code on both ends,
 * so a change that both ends share (16-byte integers big-endian, a block in
 * host order) passes them. Here the bytes come from the document a client
 * in another language reads, and for each vector:
 *
 *   client  tl_encode_request(args)  == request bytes
 *   service tl_decode_request(bytes) == args (value by value)
 *   service tl_encode_reply(result, out) == reply bytes
 *   client  tl_decode_reply(bytes)   == result and out (value by value)
 *
 * and each malformed body is refused with the status and the message the
 * document gives (requests: tl_decode_request_in's status; replies: the
 * client's message).
 *
 * The document's format (lines inside its ``` blocks; '#' starts a comment):
 *
 *   call SIGNATURE           starts a vector
 *   args V, V, ...           the caller's arguments: a pointer's pointee
 *                            ([...] for a buffer, {...} or a scalar for an
 *                            object) or nil; a write-only buffer's
 *                            contents are not sent
 *   request HEX              the request body
 *   result V                 the return value (omitted for v)
 *   out V, ...               the w/x buffers after the call, in order
 *   reply HEX                the reply body
 *   bad-request STATUS "MESSAGE PART" HEX   refused, for the last `call`
 *   bad-reply "MESSAGE PART" HEX            refused by the client
 *
 * Values: integers (decimal, up to 128 bits), floats (strtod), true/false,
 * "strings" (\" \\ \n escapes), nil, {struct fields}, [array elements].
 * HEX: pairs of hex digits; "text" stands for the bytes of text.
 * Assumes a little-endian host (the C values are compared in memory).
 */
#include "tl_check.h"
#include "tl_sig.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#define VEC_MAX_PARAMS 16
#define VEC_MAX_BYTES 4096

static const char *vec_file;
static unsigned vec_line;
static unsigned vec_count, vec_bad_count;

#define VEC_FAIL(...) do {                                                  \
        fprintf(stderr, "%s:%u: ", vec_file, vec_line);                     \
        fprintf(stderr, __VA_ARGS__);                                       \
        fputc('\n', stderr);                                                \
        tl_check_failures++;                                                \
    } while (0)

/* ---- values ------------------------------------------------------------ */

static void skip_space(const char **p)
{
    while (isspace((unsigned char)**p))
        (*p)++;
}

static int expect_char(const char **p, char c)
{
    skip_space(p);
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static int word(const char **p, const char *w)
{
    size_t n = strlen(w);

    skip_space(p);
    if (strncmp(*p, w, n) != 0 || isalnum((unsigned char)(*p)[n]))
        return 0;
    *p += n;
    return 1;
}

/* A "string" with \" \\ \n escapes; malloc'd. */
static char *parse_string(const char **p)
{
    char *out, *o;

    if (expect_char(p, '"') < 0)
        return NULL;
    out = o = malloc(strlen(*p) + 1);
    REQUIRE(out != NULL);
    while (**p && **p != '"') {
        if (**p == '\\' && (*p)[1]) {
            (*p)++;
            *o++ = **p == 'n' ? '\n' : **p;
        } else {
            *o++ = **p;
        }
        (*p)++;
    }
    *o = '\0';
    if (**p != '"') {
        free(out);
        return NULL;
    }
    (*p)++;
    return out;
}

/* Parse one value of type t into mem (t->size bytes, zeroed by the caller). */
static int parse_value(const char **p, const struct tl_type *t, unsigned char *mem)
{
    skip_space(p);
    switch (t->kind) {
    case TL_KIND_VOID:
        return word(p, "nil") ? 0 : -1;
    case TL_KIND_BOOL:
        if (word(p, "true"))
            mem[0] = 1;
        else if (!word(p, "false"))
            return -1;
        return 0;
    case TL_KIND_INT:
    case TL_KIND_UINT: {
        unsigned __int128 v = 0;
        int neg = 0, digits = 0;

        if (**p == '-') {
            neg = 1;
            (*p)++;
        }
        while (isdigit((unsigned char)**p)) {
            v = v * 10 + (unsigned)(**p - '0');
            (*p)++;
            digits++;
        }
        if (digits == 0)
            return -1;
        if (neg)
            v = -v;
        memcpy(mem, &v, t->size);       /* little-endian host: the low bytes */
        return 0;
    }
    case TL_KIND_FLOAT: {
        char *end;
        double d = strtod(*p, &end);

        if (end == *p)
            return -1;
        *p = end;
        if (t->size == 4) {
            float f = (float)d;
            memcpy(mem, &f, 4);
        } else {
            memcpy(mem, &d, 8);
        }
        return 0;
    }
    case TL_KIND_STRING: {
        char *s = NULL;

        if (!word(p, "nil") && (s = parse_string(p)) == NULL)
            return -1;
        memcpy(mem, &s, sizeof s);
        return 0;
    }
    case TL_KIND_STRUCT:
        if (expect_char(p, '{') < 0)
            return -1;
        for (unsigned i = 0; i < t->field_count; i++) {
            if (i > 0 && expect_char(p, ',') < 0)
                return -1;
            if (parse_value(p, t->fields[i].type, mem + t->fields[i].offset) < 0)
                return -1;
        }
        return expect_char(p, '}');
    case TL_KIND_ARRAY:
        if (expect_char(p, '[') < 0)
            return -1;
        for (size_t i = 0; i < t->count; i++) {
            if (i > 0 && expect_char(p, ',') < 0)
                return -1;
            if (parse_value(p, t->elem, mem + i * t->elem->size) < 0)
                return -1;
        }
        return expect_char(p, ']');
    }
    return -1;
}

/* A [v, v, ...] of any length into a malloc'd buffer; *count elements. */
static int parse_buffer(const char **p, const struct tl_type *t, unsigned char **out,
                        size_t *count)
{
    size_t cap = 64, n = 0;
    unsigned char *buf = calloc(cap, t->size ? t->size : 1);

    REQUIRE(buf != NULL);
    if (expect_char(p, '[') < 0)
        goto fail;
    skip_space(p);
    if (**p == ']') {
        (*p)++;
        *out = buf;
        *count = 0;
        return 0;
    }
    for (;;) {
        if (n == cap) {
            buf = realloc(buf, cap * 2 * t->size);
            REQUIRE(buf != NULL);
            memset(buf + cap * t->size, 0, cap * t->size);
            cap *= 2;
        }
        if (parse_value(p, t, buf + n * t->size) < 0)
            goto fail;
        n++;
        skip_space(p);
        if (**p == ']') {
            (*p)++;
            break;
        }
        if (expect_char(p, ',') < 0)
            goto fail;
    }
    *out = buf;
    *count = n;
    return 0;
fail:
    free(buf);
    return -1;
}

/* Equal as C values: scalars byte for byte, strings by text, padding
 * ignored. */
static int same_value(const struct tl_type *t, const unsigned char *a, const unsigned char *b)
{
    switch (t->kind) {
    case TL_KIND_VOID:
        return 1;
    case TL_KIND_STRING: {
        const char *x, *y;
        memcpy(&x, a, sizeof x);
        memcpy(&y, b, sizeof y);
        return (x == NULL) == (y == NULL) && (x == NULL || strcmp(x, y) == 0);
    }
    case TL_KIND_STRUCT:
        for (unsigned i = 0; i < t->field_count; i++)
            if (!same_value(t->fields[i].type, a + t->fields[i].offset, b + t->fields[i].offset))
                return 0;
        return 1;
    case TL_KIND_ARRAY:
        for (size_t i = 0; i < t->count; i++)
            if (!same_value(t->elem, a + i * t->elem->size, b + i * t->elem->size))
                return 0;
        return 1;
    default:
        return memcmp(a, b, t->size) == 0;
    }
}

/* ---- hex --------------------------------------------------------------- */

static int parse_hex(const char **p, unsigned char *out, size_t *len)
{
    size_t n = 0;

    for (;;) {
        skip_space(p);
        if (**p == '\0' || **p == '#')
            break;
        if (**p == '"') {
            char *text = parse_string(p);
            size_t tl;
            if (text == NULL)
                return -1;
            tl = strlen(text);
            if (n + tl > VEC_MAX_BYTES) {
                free(text);
                return -1;
            }
            memcpy(out + n, text, tl);
            n += tl;
            free(text);
            continue;
        }
        if (!isxdigit((unsigned char)(*p)[0]) || !isxdigit((unsigned char)(*p)[1]) ||
            n == VEC_MAX_BYTES)
            return -1;
        {
            char two[3] = { (*p)[0], (*p)[1], 0 };
            out[n++] = (unsigned char)strtoul(two, NULL, 16);
        }
        *p += 2;
    }
    *len = n;
    return 0;
}

static void print_hex(const char *what, const unsigned char *b, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %02x", b[i]);
    fputc('\n', stderr);
}

/* ---- one vector -------------------------------------------------------- */

struct vec {
    char sig_text[512];
    struct tl_sig *sig;
    /* the caller's side */
    unsigned char *value[VEC_MAX_PARAMS];   /* argument i's storage       */
    void *argp[VEC_MAX_PARAMS];             /* args[i] for the runtime    */
    unsigned char *pointee[VEC_MAX_PARAMS]; /* a pointer argument's data  */
    size_t pointee_count[VEC_MAX_PARAMS];
    int have_args, have_request, have_result, have_out, have_reply;
    unsigned char request[VEC_MAX_BYTES], reply[VEC_MAX_BYTES];
    size_t request_len, reply_len;
    unsigned char result[256];
    unsigned char *out[VEC_MAX_PARAMS];     /* expected w/x contents      */
    size_t out_count[VEC_MAX_PARAMS];
};

static void vec_reset(struct vec *v)
{
    for (unsigned i = 0; i < VEC_MAX_PARAMS; i++) {
        free(v->value[i]);
        free(v->pointee[i]);
        free(v->out[i]);
    }
    if (v->sig != NULL)
        tl_sig_free(v->sig);
    memset(v, 0, sizeof *v);
}

static int parse_args(struct vec *v, const char *p)
{
    for (unsigned i = 0; i < v->sig->param_count; i++) {
        const struct tl_param *param = &v->sig->params[i];

        if (i > 0 && expect_char(&p, ',') < 0)
            return -1;
        if (param->kind == TL_PARAM_VALUE) {
            v->value[i] = calloc(1, param->type->size);
            REQUIRE(v->value[i] != NULL);
            if (parse_value(&p, param->type, v->value[i]) < 0)
                return -1;
        } else {
            void *ptr = NULL;
            v->value[i] = calloc(1, sizeof(void *));
            REQUIRE(v->value[i] != NULL);
            if (!word(&p, "nil")) {
                if (param->kind == TL_PARAM_BUFFER) {
                    if (parse_buffer(&p, param->type, &v->pointee[i], &v->pointee_count[i]) < 0)
                        return -1;
                } else {
                    v->pointee[i] = calloc(1, param->type->size);
                    REQUIRE(v->pointee[i] != NULL);
                    v->pointee_count[i] = 1;
                    if (parse_value(&p, param->type, v->pointee[i]) < 0)
                        return -1;
                }
                ptr = v->pointee[i];
            }
            memcpy(v->value[i], &ptr, sizeof ptr);
        }
        v->argp[i] = v->value[i];
    }
    skip_space(&p);
    return *p == '\0' || *p == '#' ? 0 : -1;
}

static int parse_out(struct vec *v, const char *p)
{
    unsigned k = 0;

    for (unsigned i = 0; i < v->sig->param_count; i++) {
        const struct tl_param *param = &v->sig->params[i];

        if (!tl_param_is_out(param))
            continue;
        if (k++ > 0 && expect_char(&p, ',') < 0)
            return -1;
        if (word(&p, "nil"))
            continue;
        if (param->kind == TL_PARAM_BUFFER) {
            if (parse_buffer(&p, param->type, &v->out[i], &v->out_count[i]) < 0)
                return -1;
        } else {
            v->out[i] = calloc(1, param->type->size);
            REQUIRE(v->out[i] != NULL);
            v->out_count[i] = 1;
            if (parse_value(&p, param->type, v->out[i]) < 0)
                return -1;
        }
    }
    skip_space(&p);
    return *p == '\0' || *p == '#' ? 0 : -1;
}

/* Run what the vector holds, once its block ends. */
static void vec_run(struct vec *v)
{
    msgpack_sbuffer buf;
    struct tl_frame *frame = NULL;
    char err[512];
    const struct tl_sig *sig = v->sig;

    if (sig == NULL || !v->have_args || !v->have_request)
        return;
    vec_count++;
    /* 1. client encode */
    msgpack_sbuffer_init(&buf);
    if (tl_encode_request(sig, v->argp, &buf, err, sizeof err) < 0) {
        VEC_FAIL("%s: encoding the request failed: %s", v->sig_text, err);
    } else if (buf.size != v->request_len || memcmp(buf.data, v->request, buf.size) != 0) {
        VEC_FAIL("%s: the client's request bytes differ", v->sig_text);
        print_hex("document", v->request, v->request_len);
        print_hex("encoded ", (const unsigned char *)buf.data, buf.size);
    }
    msgpack_sbuffer_destroy(&buf);

    /* 2. service decode: the same C values */
    if (tl_decode_request(sig, (const char *)v->request, v->request_len, &frame, err,
                          sizeof err) < 0) {
        VEC_FAIL("%s: the service refused the document's request: %s", v->sig_text, err);
        return;
    }
    {
        void *const *args = tl_frame_args(frame);
        for (unsigned i = 0; i < sig->param_count; i++) {
            const struct tl_param *param = &sig->params[i];
            unsigned char *got;

            if (param->kind == TL_PARAM_VALUE) {
                if (!same_value(param->type, v->value[i], args[i]))
                    VEC_FAIL("%s: argument %u decodes to another value", v->sig_text, i);
                continue;
            }
            memcpy(&got, args[i], sizeof got);
            if ((got == NULL) != (v->pointee[i] == NULL)) {
                VEC_FAIL("%s: argument %u: pointer %s on the service, %s in the document",
                         v->sig_text, i, got ? "set" : "NULL", v->pointee[i] ? "set" : "nil");
                continue;
            }
            if (got == NULL || param->access == TL_ACCESS_WRITE)
                continue;
            for (size_t e = 0; e < v->pointee_count[i]; e++)
                if (!same_value(param->type, v->pointee[i] + e * param->type->size,
                                got + e * param->type->size))
                    VEC_FAIL("%s: argument %u, element %zu decodes to another value",
                             v->sig_text, i, e);
        }

        /* 3. service encode of the reply: result and out from the document */
        if (v->have_reply) {
            void *result = tl_frame_result(frame);
            if (result != NULL && v->have_result)
                memcpy(result, v->result, tl_sig_result_size(sig));
            for (unsigned i = 0; i < sig->param_count; i++) {
                unsigned char *ptr;
                if (!tl_param_is_out(&sig->params[i]) || v->out[i] == NULL)
                    continue;
                memcpy(&ptr, args[i], sizeof ptr);
                if (ptr == NULL) {
                    VEC_FAIL("%s: out %u is nil in the request but not in `out`", v->sig_text, i);
                    continue;
                }
                memcpy(ptr, v->out[i], v->out_count[i] * sig->params[i].type->size);
            }
            msgpack_sbuffer_init(&buf);
            if (tl_encode_reply(sig, frame, &buf, err, sizeof err) < 0) {
                VEC_FAIL("%s: encoding the reply failed: %s", v->sig_text, err);
            } else if (buf.size != v->reply_len || memcmp(buf.data, v->reply, buf.size) != 0) {
                VEC_FAIL("%s: the service's reply bytes differ", v->sig_text);
                print_hex("document", v->reply, v->reply_len);
                print_hex("encoded ", (const unsigned char *)buf.data, buf.size);
            }
            msgpack_sbuffer_destroy(&buf);
        }
    }
    tl_frame_free(frame);

    /* 4. client decode of the reply into the caller's memory */
    if (v->have_reply) {
        unsigned char result[256];
        size_t rsize = tl_sig_result_size(sig);

        memset(result, 0, sizeof result);
        if (tl_decode_reply(sig, (const char *)v->reply, v->reply_len, v->argp,
                            rsize ? result : NULL, err, sizeof err) < 0) {
            VEC_FAIL("%s: the client refused the document's reply: %s", v->sig_text, err);
            return;
        }
        if (rsize > 0 && !same_value(sig->result, v->result, result))
            VEC_FAIL("%s: the result decodes to another value", v->sig_text);
        for (unsigned i = 0; i < sig->param_count; i++) {
            const struct tl_param *param = &sig->params[i];
            if (!tl_param_is_out(param) || v->out[i] == NULL)
                continue;
            for (size_t e = 0; e < v->out_count[i]; e++)
                if (!same_value(param->type, v->out[i] + e * param->type->size,
                                v->pointee[i] + e * param->type->size))
                    VEC_FAIL("%s: out argument %u, element %zu decodes to another value",
                             v->sig_text, i, e);
        }
    }
}

/* bad-request STATUS "PART" HEX  /  bad-reply "PART" HEX */
static void vec_bad(struct vec *v, const char *p, int is_request)
{
    unsigned char bytes[VEC_MAX_BYTES];
    size_t len;
    char err[512] = "", *part;
    unsigned want = 0, status = 0;

    if (v->sig == NULL) {
        VEC_FAIL("bad-* before any call");
        return;
    }
    if (is_request) {
        char *end;
        skip_space(&p);
        want = (unsigned)strtoul(p, &end, 10);
        p = end;
    }
    part = parse_string(&p);
    if (part == NULL || parse_hex(&p, bytes, &len) < 0) {
        VEC_FAIL("cannot read this line");
        free(part);
        return;
    }
    vec_bad_count++;
    if (is_request) {
        struct tl_frame *frame = NULL;
        if (tl_decode_request_in(v->sig, (const char *)bytes, len, 0, NULL, &frame, &status,
                                 err, sizeof err) == 0) {
            VEC_FAIL("%s: a malformed request was accepted", v->sig_text);
            tl_frame_free(frame);
        } else if (status != want || strstr(err, part) == NULL) {
            VEC_FAIL("%s: refused with %u \"%s\", the document says %u \"...%s...\"",
                     v->sig_text, status, err, want, part);
        }
    } else {
        unsigned char result[256];
        if (!v->have_args) {
            VEC_FAIL("bad-reply needs the vector's args");
        } else if (tl_decode_reply(v->sig, (const char *)bytes, len, v->argp, result, err,
                                   sizeof err) == 0) {
            VEC_FAIL("%s: a malformed reply was accepted", v->sig_text);
        } else if (strstr(err, part) == NULL) {
            VEC_FAIL("%s: reply refused with \"%s\", the document says \"...%s...\"",
                     v->sig_text, err, part);
        }
    }
    free(part);
}

int main(int argc, char **argv)
{
    static struct vec v;
    char line[8192];
    int in_block = 0;
    FILE *f;

    REQUIRE(argc == 2);
    vec_file = argv[1];
    f = fopen(vec_file, "r");
    REQUIRE(f != NULL);
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = line;
        char err[256];

        vec_line++;
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "```", 3) == 0) {
            in_block = !in_block;
            continue;
        }
        if (!in_block)
            continue;
        skip_space(&p);
        if (*p == '\0' || *p == '#')
            continue;
        if (word(&p, "call")) {
            vec_run(&v);
            vec_reset(&v);
            skip_space(&p);
            snprintf(v.sig_text, sizeof v.sig_text, "%s", p);
            v.sig_text[strcspn(v.sig_text, " #")] = '\0';
            if (tl_sig_parse(v.sig_text, &v.sig, err, sizeof err) < 0) {
                VEC_FAIL("bad signature %s: %s", v.sig_text, err);
                v.sig = NULL;
            }
        } else if (v.sig == NULL) {
            VEC_FAIL("a line outside a vector");
        } else if (word(&p, "args")) {
            if (parse_args(&v, p) < 0)
                VEC_FAIL("cannot read the args for %s", v.sig_text);
            else
                v.have_args = 1;
        } else if (word(&p, "request")) {
            v.have_request = parse_hex(&p, v.request, &v.request_len) == 0;
            if (!v.have_request)
                VEC_FAIL("cannot read the request bytes");
        } else if (word(&p, "result")) {
            v.have_result = parse_value(&p, v.sig->result, v.result) == 0;
            if (!v.have_result)
                VEC_FAIL("cannot read the result");
        } else if (word(&p, "out")) {
            v.have_out = parse_out(&v, p) == 0;
            if (!v.have_out)
                VEC_FAIL("cannot read the out values");
        } else if (word(&p, "reply")) {
            v.have_reply = parse_hex(&p, v.reply, &v.reply_len) == 0;
            if (!v.have_reply)
                VEC_FAIL("cannot read the reply bytes");
        } else if (word(&p, "bad-request")) {
            vec_bad(&v, p, 1);
        } else if (word(&p, "bad-reply")) {
            vec_bad(&v, p, 0);
        } else {
            VEC_FAIL("unknown line: %s", line);
        }
    }
    vec_run(&v);
    vec_reset(&v);
    fclose(f);
    printf("%u vectors, %u malformed bodies\n", vec_count, vec_bad_count);
    CHECK(vec_count >= 20 && vec_bad_count >= 20);
    return tl_check_status("test_vectors");
}
