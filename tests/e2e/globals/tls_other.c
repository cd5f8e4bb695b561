/* SPDX-License-Identifier: MIT */
/* A thread-local of a file without a tag, which the service keeps: each
 * worker thread has its own, and the first call must say so. */
_Thread_local int depth = 1;

int current_depth(void)
{
	return depth;
}
