/* SPDX-License-Identifier: MIT */
#include "parts.h"

long sum_squares(int n)
{
	long s = 0;

	for (int i = 1; i <= n; i++)
		s += (long)i * i;
	return s;
}

/* is_even -> is_odd (b.c) -> is_even: recursion across files */
int is_even(int n)
{
	return n == 0 ? 1 : is_odd(n - 1);
}
