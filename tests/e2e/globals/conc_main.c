/* SPDX-License-Identifier: MIT */
/* Four threads call at once after main set level: with one worker, the
 * calls still overlap (31, not 30), in-process and distributed alike. */
#include <pthread.h>
#include <stdio.h>
#include <turbolift.h>

extern int level;
int slow_level(void);

TURBOLIFT("local") int leveled(void)
{
	return slow_level();
}

static int results[4];

static void *caller(void *arg)
{
	results[(long)arg] = leveled();
	return NULL;
}

int main(void)
{
	pthread_t t[4];

	level = 3;
	printf("%d\n", leveled());	/* first call: the service is set up */
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, caller, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		printf("%d\n", results[i]);
	return 0;
}
