/* SPDX-License-Identifier: MIT */
/*
 * test_elf.c - runtime/common/tl_elf.c against this test's own binary: a
 * static variable is found under its file's name, a global by its name, a
 * section's bytes are the ones compiled in; and against broken copies of it
 * (truncated anywhere, section headers pointing outside the file, random
 * bytes in the headers): an error or a short answer, never a read outside
 * the file.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_check.h"
#include "tl_elf.h"

static double test_elf_static_table[7] = { 1, 2, 3 };
double test_elf_global_table[5] = { 4 };
__attribute__((section("tl_test_section"), used))
static const char test_elf_tagline[] = "bytes of a section";

struct found {
    int statics, globals;
    uint64_t static_size, global_size;
    const char *static_file;
};

static int note(const struct tl_elf_symbol *s, void *arg)
{
    struct found *f = arg;

    if (strcmp(s->name, "test_elf_static_table") == 0 && s->bind == STB_LOCAL &&
        s->type == STT_OBJECT) {
        f->statics++;
        f->static_size = s->size;
        f->static_file = s->file;
    }
    if (strcmp(s->name, "test_elf_global_table") == 0 && s->bind == STB_GLOBAL &&
        (s->section_flags & SHF_WRITE)) {
        f->globals++;
        f->global_size = s->size;
    }
    return 0;
}

static int count(const struct tl_elf_symbol *s, void *arg)
{
    (void)s;
    ++*(size_t *)arg;
    return 0;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    struct stat st;

    REQUIRE(f != NULL && fstat(fileno(f), &st) == 0);
    data = malloc((size_t)st.st_size);
    REQUIRE(data != NULL && fread(data, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
    fclose(f);
    *len = (size_t)st.st_size;
    return data;
}

static void write_all(const char *path, const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    REQUIRE(f != NULL && fwrite(data, 1, len, f) == len && fclose(f) == 0);
}

/* Open the broken copy and read everything tl_elf offers: must not crash. */
static void survive(const char *path)
{
    struct tl_elf elf;
    char err[256];
    const char *data;
    size_t len, n = 0;
    int has;

    if (tl_elf_open(path, &elf, err, sizeof err) != 0) {
        CHECK(err[0] != '\0');
        return;
    }
    (void)tl_elf_section(&elf, "tl_test_section", &data, &len);
    (void)tl_elf_symbols(&elf, count, &n, &has, err, sizeof err);
    tl_elf_close(&elf);
}

int main(void)
{
    struct tl_elf elf;
    struct found f = { 0 };
    char err[512], path[] = "/tmp/turbolift-test-elf-XXXXXX", *copy;
    const char *data;
    unsigned char *image, *broken;
    size_t len, size;
    int has, fd;

    /* 1. this binary */
    REQUIRE(tl_elf_open("/proc/self/exe", &elf, err, sizeof err) == 0);
    CHECK(tl_elf_section(&elf, "tl_test_section", &data, &len) == 0 &&
          len == sizeof test_elf_tagline && memcmp(data, test_elf_tagline, len) == 0);
    CHECK(tl_elf_section(&elf, "no_such_section", &data, &len) == 1);
    CHECK_MSG(tl_elf_symbols(&elf, note, &f, &has, err, sizeof err) == 0, "%s", err);
    CHECK(has == 1);
    CHECK(f.statics == 1 && f.static_size == sizeof test_elf_static_table);
    CHECK(f.static_file != NULL && strcmp(f.static_file, "test_elf.c") == 0);
    CHECK(f.globals == 1 && f.global_size == sizeof test_elf_global_table);
    tl_elf_close(&elf);
    CHECK(tl_elf_read_section("/proc/self/exe", "tl_test_section", &copy, &len, err,
                              sizeof err) == 0 && strcmp(copy, test_elf_tagline) == 0);
    free(copy);
    CHECK(tl_elf_open("/nonexistent/turbolift", &elf, err, sizeof err) == -1 &&
          strstr(err, "/nonexistent/turbolift") != NULL);
    /* written through an index the compiler cannot know: the static stays */
    test_elf_static_table[getpid() % 7] += 1;
    test_elf_global_table[getpid() % 5] += 1;
    CHECK(test_elf_static_table[6] + test_elf_global_table[4] >= 0);

    /* 2. broken copies */
    image = read_all("/proc/self/exe", &size);
    fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    broken = malloc(size);
    REQUIRE(broken != NULL);
    for (size_t cut = 0; cut < size; cut += cut < 4096 ? 61 : size / 97 + 1) {
        write_all(path, image, cut);
        survive(path);
    }
    {
        const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)image;
        ElfW(Shdr) *sh;
        uint64_t seed = 42;

        /* every section header pointing far outside the file */
        memcpy(broken, image, size);
        sh = (ElfW(Shdr) *)(broken + eh->e_shoff);
        for (unsigned i = 0; i < eh->e_shnum; i++) {
            sh[i].sh_offset = size - 8;
            sh[i].sh_size = (uint64_t)1 << 40;
        }
        write_all(path, broken, size);
        survive(path);
        /* the section headers themselves beyond the end */
        memcpy(broken, image, size);
        ((ElfW(Ehdr) *)broken)->e_shoff = size - 16;
        write_all(path, broken, size);
        CHECK(tl_elf_open(path, &elf, err, sizeof err) == -1);
        /* random bytes in the section headers, many times */
        for (int round = 0; round < 300; round++) {
            memcpy(broken, image, size);
            for (int k = 0; k < 16; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t at = eh->e_shoff + (seed >> 33) % (eh->e_shnum * sizeof(ElfW(Shdr)));

                broken[at] = (unsigned char)(seed >> 13);
            }
            write_all(path, broken, size);
            survive(path);
        }
    }
    unlink(path);
    free(broken);
    free(image);
    return tl_check_status("test_elf");
}
