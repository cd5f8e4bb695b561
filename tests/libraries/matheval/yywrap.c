/* SPDX-License-Identifier: MIT */
/* The scanner's end-of-input hook: what flex's libfl would provide (the
 * library links @LEXLIB@); one input string, nothing more to read. */
int yywrap(void);

int yywrap(void)
{
	return 1;
}
