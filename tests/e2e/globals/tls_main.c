/* SPDX-License-Identifier: MIT */
/* Sets tls_other.c's thread-local, then calls a tagged function that reads
 * it through that file: distributed, the worker's own value (1) is read,
 * and the first call warns with its name. */
#include <stdio.h>
#include <turbolift.h>

extern _Thread_local int depth;
int current_depth(void);

TURBOLIFT("local") int seen_depth(void)
{
	return current_depth();
}

int main(void)
{
	depth = 5;
	printf("%d\n", seen_depth());
	return 0;
}
