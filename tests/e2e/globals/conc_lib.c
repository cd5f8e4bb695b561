/* SPDX-License-Identifier: MIT */
/*
 * A variable main sets once (level) and per-worker bookkeeping marked
 * TURBOLIFT_STATIC: calls that bring the value a worker already holds run
 * side by side there, as they do in-process (service/tl_capture.c).
 */
#include <stdatomic.h>
#include <time.h>
#include <turbolift.h>

int level = 1;
static atomic_int inflight TURBOLIFT_STATIC;
static atomic_int peak TURBOLIFT_STATIC;

/* level * 10, plus 1 when another call ran at the same time here */
int slow_level(void)
{
	int now = atomic_fetch_add(&inflight, 1) + 1, seen = atomic_load(&peak);
	struct timespec pause = { 0, 300 * 1000 * 1000 };

	while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now))
		;
	nanosleep(&pause, NULL);
	atomic_fetch_sub(&inflight, 1);
	return level * 10 + (atomic_load(&peak) >= 2);
}
