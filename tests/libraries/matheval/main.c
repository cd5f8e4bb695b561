/* SPDX-License-Identifier: MIT */
/*
 * A user's program that does its work through GNU libmatheval (Debian's
 * source package, fetched at test time; docs/libraries.md): the tagged
 * function parses an expression (the library's bison parser and flex
 * scanner), simplifies it, differentiates it and evaluates both at a
 * point. The library's files are other files of the program.
 */
#include <stdio.h>
#include <string.h>
#include <turbolift.h>
#include "matheval.h"

struct evaluation {
	int ok;                  /* 0: the expression did not parse */
	int variables;           /* distinct variables after simplification */
	double value, slope;     /* f(x, y) and df/dx at the point */
	char simplified[256];    /* the library's text of f */
	char derivative[512];    /* ... and of df/dx */
};

TURBOLIFT("local") struct evaluation evaluate(const char *expr, double x, double y)
{
	struct evaluation e;
	char buf[256], **names;
	void *f, *dfdx;

	memset(&e, 0, sizeof e);
	/* the library takes a char * it does not change */
	snprintf(buf, sizeof buf, "%s", expr);
	f = evaluator_create(buf);
	if (!f)
		return e;
	e.ok = 1;
	evaluator_get_variables(f, &names, &e.variables);
	e.value = evaluator_evaluate_x_y(f, x, y);
	snprintf(e.simplified, sizeof e.simplified, "%s", evaluator_get_string(f));
	dfdx = evaluator_derivative_x(f);
	if (dfdx) {
		e.slope = evaluator_evaluate_x_y(dfdx, x, y);
		snprintf(e.derivative, sizeof e.derivative, "%s", evaluator_get_string(dfdx));
		evaluator_destroy(dfdx);
	}
	evaluator_destroy(f);
	return e;
}

static const char *const exprs[] = {
	"sin(x)^2 + cos(x)^2",
	"x^3 - 2*x*y + 1",
	"exp(-x^2/2) / sqrt(2*pi)",
	"log(x) * atan(y) + sinh(x/3)",
	"(x + y) * (x - y) / (1 + abs(x))",
	"x * + ",                       /* does not parse */
	"e^x - 1 + 0*y",
};

int main(void)
{
	for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
		double x = 0.5 + (double)i, y = 2.0 - 0.25 * (double)i;
		struct evaluation e = evaluate(exprs[i], x, y);

		printf("%s at (%g, %g): ok %d, %d variables\n  f = %s = %.17g\n  df/dx = %s = %.17g\n",
		       exprs[i], x, y, e.ok, e.variables, e.simplified, e.value, e.derivative, e.slope);
	}
	return 0;
}
