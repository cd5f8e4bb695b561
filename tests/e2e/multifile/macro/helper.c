/* SPDX-License-Identifier: MIT */
/* An untagged file: its unit is made at the first call, from its recipe. */
#include "helper.h"

long weigh(int n)
{
	return 7L * n * n + 3;
}
