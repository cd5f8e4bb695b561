/* SPDX-License-Identifier: MIT */
/*
 * service_ext.c - a test service whose slice calls a function of a user
 * library outside the system folders (rt_twice.c); see test_build.c.
 */
struct tl_service_entry {
    const char *name;
    const char *signature;
    void (*call)(void *const *args, void *result);
};

int rt_twice(int x);

static void call_twice(void *const *args, void *result)
{
    *(int *)result = rt_twice(*(int *)args[0]);
}

const struct tl_service_entry tl_service_entries[] = {
    { "twice", "i4(i4)", call_twice },
};
const unsigned tl_service_entry_count = 1;
