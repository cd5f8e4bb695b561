#include <turbolift.h>
TURBOLIFT("local") int counter; /* expect-error: applies to functions only */
