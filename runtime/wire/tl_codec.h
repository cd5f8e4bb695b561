/* SPDX-License-Identifier: MIT */
/*
 * tl_codec.h - signature parser and msgpack codec shared by client and service.
 *
 * The signature string (docs/abi.md, section 1) is parsed once into a
 * tl_sig; both ends then encode and decode with the same tree, so they
 * cannot disagree about the wire format (docs/abi.md, section 2).
 *
 * Every function that can fail returns 0 on success and -1 on failure,
 * writing a one-line reason into err (at most errlen bytes, NUL-terminated).
 */
#ifndef TL_CODEC_H
#define TL_CODEC_H

#include <stdatomic.h>
#include <stddef.h>
#include <msgpack.h>

struct tl_sig;          /* parsed signature: return type + parameters       */
struct tl_frame;        /* service side: decoded arguments and result space */

int  tl_sig_parse(const char *text, struct tl_sig **out, char *err, size_t errlen);
/* The signature of a service that also takes the program's variables of
 * other files (docs/abi.md, section 2): text's own `captures` captured
 * values, then a "[block]u1" when block > 0, then strings times "s".
 * Client and service both parse it so, from the same numbers. */
int  tl_sig_parse_with_globals(const char *text, unsigned captures, size_t block,
                               size_t strings, struct tl_sig **out, char *err, size_t errlen);
void tl_sig_free(struct tl_sig *sig);
unsigned tl_sig_param_count(const struct tl_sig *sig);
size_t tl_sig_result_size(const struct tl_sig *sig);   /* 0 for void */

/* Client: args[i] is the address of argument i (docs/abi.md, section 3). */
int tl_encode_request(const struct tl_sig *sig, void *const *args,
                      msgpack_sbuffer *out, char *err, size_t errlen);
/* Client: writes the result into *result (unless void or result is NULL)
 * and copies the "out" buffers back through the caller's pointers found via
 * args. The whole reply is checked before any byte of the caller's memory
 * is written, so on failure the caller's memory is unchanged. Strings in
 * the result or in written-back objects are malloc'd and belong to the
 * caller (a read_write string field whose text did not change keeps the
 * caller's own pointer). */
int tl_decode_reply(const struct tl_sig *sig, const char *data, size_t len,
                    void *const *args, void *result, char *err, size_t errlen);

/* Service: the memory all calls in flight hold, against one limit
 * (docs/abi.md, "Limits"). Take before allocating, give back after
 * freeing; take fails (-1) instead of going over the limit. A NULL budget
 * takes everything. */
struct tl_budget {
    _Atomic size_t used;
    size_t limit;
};
int  tl_budget_take(struct tl_budget *budget, size_t bytes);
void tl_budget_give(struct tl_budget *budget, size_t bytes);

/* Client: a request in pieces. The body is the sbuffer's bytes with, for
 * each piece in order, `len` bytes from `ptr` inserted before sbuffer byte
 * `at`: a block of at least TL_PIECE_MIN bytes whose wire form is its C
 * memory (little-endian host, no _Bool or padding inside) is sent from the
 * caller's memory instead of being copied into the body first. The
 * caller's memory must not change until the request is sent. */
#define TL_PIECE_MIN ((size_t)64 << 10)
struct tl_piece {
    size_t at;
    const void *ptr;
    size_t len;
};
struct tl_pieces {
    struct tl_piece *v;
    unsigned count, capacity;
    size_t total;               /* sum of len                             */
};
int tl_encode_request_pieces(const struct tl_sig *sig, void *const *args,
                             msgpack_sbuffer *out, struct tl_pieces *pieces,
                             char *err, size_t errlen);

/* Service: decode a request into a frame that owns every buffer it needs. */
int tl_decode_request(const struct tl_sig *sig, const char *data, size_t len,
                      struct tl_frame **out, char *err, size_t errlen);
/* The same, with `charged` bytes the call already holds (its body) counted
 * against the call's limit, and every buffer of the frame taken from
 * budget (given back by tl_frame_free). On failure *status says which
 * answer fits: 400 a bad request, 413 more memory than one call may have,
 * 503 the budget is taken by other calls (or memory ran out). */
int tl_decode_request_in(const struct tl_sig *sig, const char *data, size_t len,
                         size_t charged, struct tl_budget *budget,
                         struct tl_frame **out, unsigned *status,
                         char *err, size_t errlen);
/* The same, but a read-only ('*r') block argument whose bytes lie in data
 * at its element type's alignment (little-endian hosts) is not copied: the
 * frame points into data, which must then stay unchanged until the
 * function has run (the service's body buffer; the reply may be encoded
 * over it after the call, since a read-only argument is not sent back). */
int tl_decode_request_lent(const struct tl_sig *sig, const char *data, size_t len,
                           size_t charged, struct tl_budget *budget,
                           struct tl_frame **out, unsigned *status,
                           char *err, size_t errlen);
void *const *tl_frame_args(const struct tl_frame *frame);
void *tl_frame_result(const struct tl_frame *frame);   /* NULL for void */
/* Bytes the frame's buffers take (what counts against the call's limit). */
size_t tl_frame_memory(const struct tl_frame *frame);
/* Most bytes tl_encode_reply() will produce for the frame as it is now. */
size_t tl_reply_bound(const struct tl_sig *sig, const struct tl_frame *frame);
/* Encode the reply; the sbuffer grows once, to tl_reply_bound(). */
int tl_encode_reply(const struct tl_sig *sig, const struct tl_frame *frame,
                    msgpack_sbuffer *out, char *err, size_t errlen);
/* 1 when the frame's only out block lies in the request body
 * (tl_decode_request_lent lends a big read_write block with no _Bool or
 * padding inside when it is the function's only out parameter). */
int tl_frame_lent_out(const struct tl_frame *frame);
/* Such a frame's reply written around its block, inside buf (the request
 * body's buffer, cap bytes): the reply's other bytes go right before the
 * block. 0: the reply is the *len bytes at *start; 1: no room before the
 * block (encode it with tl_encode_reply into a buffer of its own: never
 * into buf, which holds the block); -1: error. */
int tl_encode_reply_in_place(const struct tl_sig *sig, const struct tl_frame *frame,
                             char *buf, size_t cap, char **start, size_t *len,
                             char *err, size_t errlen);
void tl_frame_free(struct tl_frame *frame);

/* Service: most bytes one decoded frame may allocate, including write-only
 * buffers (default 256 MiB, env TURBOLIFT_MAX_ALLOC in bytes). Setting 0
 * restores the default. */
size_t tl_codec_alloc_limit(void);
void tl_codec_set_alloc_limit(size_t bytes);
/* -1 with a message when TURBOLIFT_MAX_ALLOC is set but not a positive
 * number of bytes (tl_env.h's rule; the limit then stays the default). */
int tl_codec_check_env(char *err, size_t errlen);

#endif /* TL_CODEC_H */
