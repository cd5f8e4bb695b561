/* SPDX-License-Identifier: MIT */
/* Calls a tagged function whose reach ends in other_file.c. */
#include <stdio.h>
#include <turbolift.h>

void set_mode(int m);
int scale_by_mode(int x);

TURBOLIFT("local") int scaled_by_mode(int x)
{
	return scale_by_mode(x);
}

int main(void)
{
	set_mode(3);
	printf("%d\n", scaled_by_mode(2));
	return 0;
}
