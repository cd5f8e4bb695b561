/* SPDX-License-Identifier: MIT */
#include "parts.h"

long ar_helper(int n)
{
	return n % 3 ? 5 : 7;
}

long ar_unused(int n)
{
	return -n;
}
