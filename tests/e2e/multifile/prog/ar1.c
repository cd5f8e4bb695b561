/* SPDX-License-Identifier: MIT */
#include "parts.h"

long ar_twice(int n)
{
	return 2L * n + ar_helper(n);
}
