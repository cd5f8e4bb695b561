/* SPDX-License-Identifier: MIT */
/* A thread-local of a file without a tag, which the service keeps and
 * writes: each worker thread has its own; the first call must say so, and
 * the service's link warns at the write. */
_Thread_local int depth = 1;

int current_depth(void)
{
	return depth++;
}
