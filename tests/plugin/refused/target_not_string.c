__attribute__((turbolift(42))) int twice(int x) { return 2 * x; } /* expect-error: takes one string, the target */
