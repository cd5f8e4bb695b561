/* SPDX-License-Identifier: MIT */
/*
 * service_bench.c - the benchmark's service, hand-written in the shape the
 * plugin generates (docs/abi.md, section 4): one small function, so that
 * the benchmark measures the call path, not the work.
 */
struct tl_service_entry {
    const char *name;
    const char *signature;
    void (*call)(void *const *args, void *result);
};

static int add(int a, int b)
{
    return a + b;
}

static void call_add(void *const *args, void *result)
{
    *(int *)result = add(*(int *)args[0], *(int *)args[1]);
}

const struct tl_service_entry tl_service_entries[] = {
    { "add", "i4(i4,i4)", call_add },
};
const unsigned tl_service_entry_count = 1;
