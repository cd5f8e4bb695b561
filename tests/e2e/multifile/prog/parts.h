/* SPDX-License-Identifier: MIT */
/* The program's files and what each defines. */
#ifndef PARTS_H
#define PARTS_H
long sum_squares(int n);        /* a.c */
int is_even(int n);             /* a.c, recursion with b.c */
int is_odd(int n);              /* b.c */
long scaled(int n);             /* b.c, reads factor from c.c */
extern const int factor;        /* c.c */
long ar_twice(int n);           /* libparts.a: ar1.c */
long ar_helper(int n);          /* libparts.a: ar2.c */
long ar_unused(int n);          /* libparts.a: ar2.c, reached by nothing */
long never_called(void);        /* c.c, reached by nothing */
#endif
