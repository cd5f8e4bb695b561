#include <turbolift.h>
TURBOLIFT("local") int main(void) { return 0; } /* expect-error: 'main' cannot become a service */
