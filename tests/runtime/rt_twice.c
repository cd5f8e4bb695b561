/* SPDX-License-Identifier: MIT */
/*
 * rt_twice.c - a shared library of "the user's own" that lives in the
 * build tree, not in a system folder: test_build.c links with it, and the
 * service_ext.c slice calls it, so the service must be linked with it and
 * find it at run time (an rpath the runtime adds).
 */
int rt_twice(int x);

int rt_twice(int x)
{
    return 2 * x;
}
