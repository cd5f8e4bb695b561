/* SPDX-License-Identifier: MIT */
/*
 * The tagged function reaches units_lib.c, whose variables main sets
 * (directly, through a setter, through units_table.c) before and between
 * calls; a char pointer travels as text. A struct that holds a pointer
 * cannot: with "relabel" as argv[1] main changes tag.text, after which a
 * distributed call must fail, not run with the old text.
 */
#include <stdio.h>
#include <string.h>
#include <turbolift.h>

struct settings {
	char name[32];
	int level;
	double weights[4];
};
extern struct settings settings;
extern int verbose;
extern const char *label;
extern struct series { int n; double v[]; } series;
extern struct tagged_text { const char *text; int n; } tag;
void set_scale(double s);
void fill_lut(double base);
double weigh(int i);

int shared_mode;	/* read only by units_lib.c's code */

TURBOLIFT("local") double total(int n)
{
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += weigh(i);
	return sum;
}

int main(int argc, char **argv)
{
	printf("%g\n", total(3));	/* the initial values */
	set_scale(2.5);
	verbose = 1;
	strcpy(settings.name, "configured");
	settings.level = 3;
	settings.weights[2] = 4;
	fill_lut(10);
	series.v[1] = 40;	/* in the flexible array member's initialized part */
	shared_mode = 7;
	label = "changed by main";
	if (argc > 1 && strcmp(argv[1], "relabel") == 0)
		tag.text = "changed by main";
	printf("%g\n", total(4));
	set_scale(-1);
	verbose = 0;
	printf("%g\n", total(5));
	set_scale(1.0);		/* back to its initial value: must still travel */
	printf("%g\n", total(2));
	return 0;
}
