/* SPDX-License-Identifier: MIT */
/* Writes the globals shared.c's tagged function reads. */
#include <stdio.h>
#include <unistd.h>

extern int threshold;
double weight = 1.0;
double weigh(int x);
int answering_pid(void);

int main(void)
{
	printf("%.2f %.2f\n", weigh(5), weigh(50));
	threshold = 100;
	weight = 0.25;
	printf("%.2f %.2f\n", weigh(5), weigh(50));
	fprintf(stderr, "answered by %s\n", answering_pid() == getpid() ? "this process" : "another process");
	return 0;
}
