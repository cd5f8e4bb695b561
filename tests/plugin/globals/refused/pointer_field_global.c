#include <turbolift.h>
struct state { int *values; int n; };
static struct state st;	/* expect-error: pointer field 'values' of 'struct state' cannot cross the wire */
TURBOLIFT("local") int count(void) { return st.n; }
int main(void) { static int v[3]; st.values = v; st.n = 3; return count(); }
