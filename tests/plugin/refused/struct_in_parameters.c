/* A struct declared in a parameter list has no name outside the function,
 * so the dispatcher cannot name it: the build's check of the service text
 * (beside cc1, emit.cc) fails the user's build at the tag. */
#include <turbolift.h>
TURBOLIFT("local") int sum_pair(struct pair_in_params { int a, b; } p) { return p.a + p.b; } /* expect-error: the service for 'sum_pair' does not compile */
int main(void) { return 0; }
