/* SPDX-License-Identifier: MIT */
/*
 * A variable of another file that the tagged function reaches and main
 * changes (docs/remote.md, "Variables of other files"): the plugin cannot
 * capture it, so the first call must say so by name.
 */
static int mode = 2;
int untouched = 7;	/* defined here, never reached by the service */

void set_mode(int m)
{
	mode = m;
}

int scale_by_mode(int x)
{
	return x * mode;
}
