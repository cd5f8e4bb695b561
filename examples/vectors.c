/* SPDX-License-Identifier: MIT */
/*
 * vectors.c - arrays in and out of services with GCC's access attribute.
 *
 * access(read_only, P, N): the N elements behind parameter P are sent.
 * access(write_only, P, N): they come back, written by the service.
 * access(read_write, P, N): both. With no N, the pointer is to one object.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <turbolift.h>

struct stats {
	double min, max, mean;
};

__attribute__((access(read_only, 1, 2)))
TURBOLIFT("local") double norm(const double *xs, size_t n)
{
	double sum = 0.0;

	for (size_t i = 0; i < n; i++)
		sum += xs[i] * xs[i];
	return sqrt(sum);
}

__attribute__((access(read_write, 1, 2)))
TURBOLIFT("local") void normalize(double *xs, size_t n)
{
	double length = norm(xs, n);

	for (size_t i = 0; length > 0.0 && i < n; i++)
		xs[i] /= length;
}

__attribute__((access(read_only, 1, 3), access(write_only, 2, 3)))
TURBOLIFT("local") void prefix_sums(const int *in, long long *out, size_t n)
{
	long long running = 0;

	for (size_t i = 0; i < n; i++)
		out[i] = running += in[i];
}

__attribute__((access(read_only, 1, 2), access(write_only, 3)))
TURBOLIFT("local") int describe(const double *xs, size_t n, struct stats *out)
{
	if (n == 0)
		return -1;
	out->min = out->max = xs[0];
	out->mean = 0.0;
	for (size_t i = 0; i < n; i++) {
		out->min = xs[i] < out->min ? xs[i] : out->min;
		out->max = xs[i] > out->max ? xs[i] : out->max;
		out->mean += xs[i] / (double)n;
	}
	return 0;
}

TURBOLIFT("local") size_t count_char(const char *text, char c)
{
	size_t count = 0;

	for (; text && *text; text++)
		count += *text == c;
	return count;
}

int main(void)
{
	double xs[8];
	int ints[10];
	long long sums[10];
	struct stats st;

	for (int i = 0; i < 8; i++)
		xs[i] = (i - 3) * 1.5;
	for (int i = 0; i < 10; i++)
		ints[i] = i * i - 7;

	printf("norm %.6f\n", norm(xs, 8));
	normalize(xs, 8);
	printf("normalized");
	for (int i = 0; i < 8; i++)
		printf(" %.4f", xs[i]);
	printf("\nnorm after %.6f\n", norm(xs, 8));
	prefix_sums(ints, sums, 10);
	printf("prefix sums");
	for (int i = 0; i < 10; i++)
		printf(" %lld", sums[i]);
	printf("\n");
	printf("describe %d", describe(xs, 8, &st));
	printf(" min %.4f max %.4f mean %.4f\n", st.min, st.max, st.mean);
	printf("describe empty %d\n", describe(xs, 0, &st));
	printf("count %zu %zu\n", count_char("distribution is an afterthought", 't'),
	       count_char(NULL, 'x'));
	return 0;
}
