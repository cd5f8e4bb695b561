/* SPDX-License-Identifier: MIT */
/*
 * A user's program that does its work through cJSON (Debian's source
 * package, fetched at test time; docs/libraries.md): the tagged function
 * parses a JSON document, changes it, sorts its keys with cJSON_Utils and
 * prints it back, compact and formatted. cJSON.c and cJSON_Utils.c are
 * other files of the program (a static archive in most builds).
 */
#include <stdio.h>
#include <string.h>
#include <turbolift.h>
#include "cJSON.h"
#include "cJSON_Utils.h"

struct text {
	int ok;         /* 1 parsed, 0 a parse error */
	int items;      /* members of the top-level object */
	double sum;     /* of every number in the document */
	char compact[512];
	char pretty[1024];
};

/* every number in the tree, depth first */
static double sum_numbers(const cJSON *node)
{
	double s = 0;

	if (cJSON_IsNumber(node))
		return node->valuedouble;
	for (const cJSON *c = node->child; c; c = c->next)
		s += sum_numbers(c);
	return s;
}

static void copy_out(char *dst, size_t cap, char *printed)
{
	snprintf(dst, cap, "%s", printed ? printed : "(null)");
	cJSON_free(printed);
}

TURBOLIFT("local") struct text reformat(const char *json)
{
	struct text t;
	cJSON *doc, *tags;

	memset(&t, 0, sizeof t);
	doc = cJSON_Parse(json);
	if (!doc) {
		const char *at = cJSON_GetErrorPtr();

		snprintf(t.compact, sizeof t.compact, "parse error near '%.16s'", at ? at : "?");
		return t;
	}
	t.ok = 1;
	t.items = cJSON_GetArraySize(doc);
	t.sum = sum_numbers(doc);
	cJSON_AddNumberToObject(doc, "sum", t.sum);
	tags = cJSON_AddArrayToObject(doc, "tags");
	cJSON_AddItemToArray(tags, cJSON_CreateString("reformatted"));
	cJSON_AddItemToArray(tags, cJSON_CreateBool(t.items % 2));
	cJSONUtils_SortObject(doc);
	copy_out(t.compact, sizeof t.compact, cJSON_PrintUnformatted(doc));
	copy_out(t.pretty, sizeof t.pretty, cJSON_Print(doc));
	cJSON_Delete(doc);
	return t;
}

static const char *const docs[] = {
	"{\"name\": \"turbolift\", \"version\": [1, 2, 3], \"ratio\": 0.125}",
	"{\"z\": {\"y\": [1.5e3, -2, {\"x\": 7}]}, \"a\": null, \"m\": \"\\u00e9t\\u00e9\"}",
	"[1, 2, 3, 4.25]",
	"{\"broken\": [1, 2,, 3]}",
	"{\"nested\": {\"deep\": {\"deeper\": {\"deepest\": 42}}}, \"flag\": true}",
};

int main(void)
{
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct text t = reformat(docs[i]);

		printf("doc %zu: ok %d, items %d, sum %.17g\n%s\n%s\n", i, t.ok, t.items, t.sum,
		       t.compact, t.pretty);
	}
	return 0;
}
