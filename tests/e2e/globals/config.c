/* SPDX-License-Identifier: MIT */
/*
 * A configuration struct filled from argv, with a string field and a char
 * array, and a string global: read by a tagged function that writes a
 * message into the caller's buffer.
 *
 *   config NAME LEVEL
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <turbolift.h>

struct config {
	char name[16];
	const char *greeting;
	int level;
	double factor;
};

struct config cfg = { "nobody", "hello", 0, 1.0 };
static const char *suffix = "!";

__attribute__((access(write_only, 1, 2)))
TURBOLIFT("local") int describe(char *out, int n)
{
	return snprintf(out, (size_t)n, "%s says %s%s at level %d (x%.2f)",
			cfg.name, cfg.greeting ? cfg.greeting : "(nothing)", suffix,
			cfg.level, cfg.factor * cfg.level);
}

TURBOLIFT("local") int answering_pid(void)
{
	return (int)getpid();
}

int main(int argc, char **argv)
{
	char line[128];

	describe(line, sizeof line);
	printf("%s\n", line);
	if (argc > 2) {
		snprintf(cfg.name, sizeof cfg.name, "%s", argv[1]);
		cfg.level = atoi(argv[2]);
		cfg.factor = 2.5;
	}
	cfg.greeting = argc > 3 ? argv[3] : "good morning";
	suffix = "?!";
	describe(line, sizeof line);
	printf("%s\n", line);
	cfg.greeting = NULL;
	suffix = "";
	describe(line, sizeof line);
	printf("%s\n", line);
	fprintf(stderr, "answered by %s\n", answering_pid() == getpid() ? "this process" : "another process");
	return 0;
}
