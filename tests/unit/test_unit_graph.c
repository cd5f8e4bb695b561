/* SPDX-License-Identifier: MIT */
/*
 * test_unit_graph.c - runtime/client/tl_unit_graph.c and tl_unit_writes.c
 * on unit folders written here: which units a tagged function needs (a
 * folder without vars.txt is kept, one it never reaches is not), the call
 * path to a write in another file, a static tagged function, the error
 * under werror=1, and lines that are malformed or too long (ignored).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_check.h"
#include "tl_unit_graph.h"
#include "tl_unit_writes.h"

static char root[] = "/tmp/tl-unit-graph-XXXXXX";

/* <root>/<name>/vars.txt with text, or only the folder when text is NULL */
static char *unit(const char *name, const char *text)
{
    char *dir = NULL, *path = NULL;
    FILE *f;

    REQUIRE(asprintf(&dir, "%s/%s", root, name) > 0);
    REQUIRE(mkdir(dir, 0700) == 0);
    if (text != NULL) {
        REQUIRE(asprintf(&path, "%s/vars.txt", dir) > 0);
        f = fopen(path, "w");
        REQUIRE(f != NULL);
        fputs(text, f);
        fclose(f);
        free(path);
    }
    return dir;
}

static size_t key(const struct tl_unit_graph *g, const char *k)
{
    for (size_t i = 0; i < g->nkeys; i++)
        if (strcmp(g->keys[i], k) == 0)
            return i;
    return TL_UNIT_GRAPH_NONE;
}

int main(void)
{
    char long_line[3000];
    char *text = NULL, err[2048];
    struct tl_unit_ref refs[4];
    struct tl_unit_graph g;
    size_t parent[64];
    int needed[4];

    REQUIRE(mkdtemp(root) != NULL);
    memset(long_line, 'x', sizeof long_line - 2);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = '\0';
    REQUIRE(asprintf(&text, "file=a.c\ndef=f g\nref=f g helper g\nref=onlyone\nwrite=a\n"
                     "def=\n%sdef=own l\nwrite=own l f g - 2:3 own a.c\n", long_line) > 0);
    refs[0] = (struct tl_unit_ref){ unit("a", text), "a.c" };
    refs[1] = (struct tl_unit_ref){ unit("b", "file=b.c\ndef=helper g\ndef=note l\n"
                                         "ref=helper g note l\nref=note l counter l\n"
                                         "var=counter 4 sw\n"
                                         "write=counter l note l - 3:5 counter /src/b c.c\n"
                                         "libc=rand helper g 7:9 /src/b c.c\n"), "b.c" };
    refs[2] = (struct tl_unit_ref){ unit("c", "file=c.c\ndef=unrelated g\n"
                                         "write=x g unrelated g - 1:1 x c.c\n"), "c.c" };
    refs[3] = (struct tl_unit_ref){ unit("d", NULL), "d.c" };

    /* 1. which units f needs */
    REQUIRE(tl_unit_graph_read(&g, "f", refs, 4) == 0);
    REQUIRE(g.nkeys < sizeof parent / sizeof parent[0]);
    CHECK(g.root != TL_UNIT_GRAPH_NONE && strcmp(g.keys[g.root], "f") == 0);
    CHECK(tl_unit_graph_needed(&g, needed) == 0);
    CHECK(needed[0] == 1 && needed[1] == 1);
    CHECK(needed[2] == 0);              /* defines nothing f reaches */
    CHECK(needed[3] == 1);              /* says nothing: kept */

    /* 2. the path to b.c's note, and the file-local keys */
    CHECK(tl_unit_graph_walk(&g, 0, parent) == 0);
    {
        size_t note = key(&g, "1#note"), helper = key(&g, "helper"), f = key(&g, "f");

        CHECK(note != TL_UNIT_GRAPH_NONE && helper != TL_UNIT_GRAPH_NONE);
        CHECK(parent[note] == helper && parent[helper] == f && parent[f] == f);
        CHECK(parent[key(&g, "unrelated")] == TL_UNIT_GRAPH_NONE);
    }
    CHECK(tl_unit_graph_walk(&g, 1, parent) == 0);   /* a.c's own edges only */
    CHECK(parent[key(&g, "helper")] == key(&g, "f"));
    CHECK(parent[key(&g, "1#note")] == TL_UNIT_GRAPH_NONE);
    CHECK(g.nrecords == 4);             /* the malformed write= is not one */

    /* 3. the warnings: a.c's own write is the compile's; b.c's are listed */
    CHECK(tl_unit_writes_check("f", &g, err, sizeof err) == 0);
    tl_unit_graph_free(&g);

    /* 4. werror=1 in the writing file: an error that lists them */
    {
        char *path = NULL;
        FILE *f;

        REQUIRE(asprintf(&path, "%s/vars.txt", refs[1].dir) > 0);
        f = fopen(path, "a");
        REQUIRE(f != NULL);
        fputs("werror=1\n", f);
        fclose(f);
        free(path);
    }
    err[0] = '\0';
    REQUIRE(tl_unit_graph_read(&g, "f", refs, 4) == 0);
    CHECK(tl_unit_writes_check("f", &g, err, sizeof err) == -1);
    tl_unit_graph_free(&g);
    CHECK_MSG(strstr(err, "\n  /src/b c.c:3:5: counter, written in note (f -> helper -> note)") !=
              NULL, "%s", err);
    CHECK_MSG(strstr(err, "\n  /src/b c.c:7:9: rand() keeps hidden state in the C library, "
                     "called in helper (f -> helper)") != NULL, "%s", err);
    CHECK_MSG(strstr(err, "own") == NULL && strstr(err, "c.c:1:1") == NULL, "%s", err);

    /* 5. a static tagged function is found as its file's own */
    {
        struct tl_unit_ref one[1] = { { unit("s", "def=g l\nref=g l h g\n"), "s.c" } };

        REQUIRE(tl_unit_graph_read(&g, "g", one, 1) == 0);
        CHECK(g.root != TL_UNIT_GRAPH_NONE && strcmp(g.keys[g.root], "0#g") == 0);
        tl_unit_graph_free(&g);
        free((char *)one[0].dir);
    }

    /* 6. a tagged file that says nothing (an older plugin): every unit kept */
    {
        struct tl_unit_ref two[2] = { { refs[3].dir, "d.c" }, { refs[2].dir, "c.c" } };

        REQUIRE(tl_unit_graph_read(&g, "f", two, 2) == 0);
        CHECK(g.root == TL_UNIT_GRAPH_NONE);
        CHECK(tl_unit_graph_needed(&g, needed) == 0 && needed[0] == 1 && needed[1] == 1);
        tl_unit_graph_free(&g);
    }

    for (int i = 0; i < 4; i++)
        free((char *)refs[i].dir);
    free(text);
    {
        char *cmd = NULL;

        if (asprintf(&cmd, "rm -rf '%s'", root) > 0 && system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", root);
        free(cmd);
    }
    return tl_check_status("test_unit_graph");
}
