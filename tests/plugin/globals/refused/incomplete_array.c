#include <turbolift.h>
extern int table[];	/* expect-error: 'table', read by the service for 'at', has no size here */
TURBOLIFT("local") int at(int i) { return table[i & 7]; }
