/* SPDX-License-Identifier: MIT */
#ifndef HELPER_H
#define HELPER_H
long weigh(int n);	/* helper.c */
#endif
