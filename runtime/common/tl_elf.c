/* SPDX-License-Identifier: MIT */
/*
 * tl_elf.c - sections and symbols of an ELF file (tl_elf.h).
 *
 * The whole file is mapped: the symbol tables the runtime reads (a program,
 * a service, the objects of a link) are read once each, front to back, and
 * the page cache already holds them, since they were just written or run.
 */
#define _GNU_SOURCE
#include "tl_elf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does [off, off + len) lie inside the file? */
static int in_file(const struct tl_elf *elf, uint64_t off, uint64_t len)
{
    return off <= elf->size && len <= elf->size - off;
}

int tl_elf_open(const char *path, struct tl_elf *elf, char *err, size_t errlen)
{
    const ElfW(Ehdr) *eh;
    struct stat st;
    size_t count, names;
    int fd;

    memset(elf, 0, sizeof *elf);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof *eh) {
        snprintf(err, errlen, "%s: not an ELF file", path);
        close(fd);
        return -1;
    }
    elf->size = (size_t)st.st_size;
    elf->map = mmap(NULL, elf->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);                      /* the mapping keeps the file */
    if (elf->map == MAP_FAILED) {
        snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
        elf->map = NULL;
        return -1;
    }
    eh = (const ElfW(Ehdr) *)elf->map;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
        eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff == 0 ||
        eh->e_shoff % _Alignof(ElfW(Shdr)) != 0 ||
        !in_file(elf, eh->e_shoff, sizeof(ElfW(Shdr))))
        goto bad;
    elf->sections = (const ElfW(Shdr) *)(elf->map + eh->e_shoff);
    /* more than 0xff00 sections: the real count and names' index are in
     * section 0 */
    count = eh->e_shnum != 0 ? eh->e_shnum : elf->sections[0].sh_size;
    names = eh->e_shstrndx != SHN_XINDEX ? eh->e_shstrndx : elf->sections[0].sh_link;
    if (count == 0 || count > ((size_t)1 << 24) || names >= count ||
        !in_file(elf, eh->e_shoff, count * sizeof(ElfW(Shdr))))
        goto bad;
    elf->section_count = count;
    if (elf->sections[names].sh_type == SHT_NOBITS ||
        !in_file(elf, elf->sections[names].sh_offset, elf->sections[names].sh_size))
        goto bad;
    elf->section_names = (const char *)elf->map + elf->sections[names].sh_offset;
    elf->section_names_size = elf->sections[names].sh_size;
    return 0;
bad:
    snprintf(err, errlen, "%s: not an ELF file of this machine, or malformed section headers",
             path);
    tl_elf_close(elf);
    return -1;
}

void tl_elf_close(struct tl_elf *elf)
{
    if (elf->map != NULL)
        munmap((void *)elf->map, elf->size);
    memset(elf, 0, sizeof *elf);
}

/* Name i of a string table [base, base + size), or "" when out of range
 * or not terminated inside it. */
static const char *string_at(const char *base, size_t size, uint64_t i)
{
    if (i >= size || memchr(base + i, '\0', size - i) == NULL)
        return "";
    return base + i;
}

static const char *section_name(const struct tl_elf *elf, size_t i)
{
    return string_at(elf->section_names, elf->section_names_size, elf->sections[i].sh_name);
}

int tl_elf_section(const struct tl_elf *elf, const char *name,
                   const char **data, size_t *len)
{
    for (size_t i = 1; i < elf->section_count; i++) {
        const ElfW(Shdr) *s = &elf->sections[i];

        if (s->sh_type == SHT_NOBITS || strcmp(section_name(elf, i), name) != 0 ||
            !in_file(elf, s->sh_offset, s->sh_size))
            continue;
        *data = (const char *)elf->map + s->sh_offset;
        *len = s->sh_size;
        return 0;
    }
    return 1;
}

int tl_elf_symbols(const struct tl_elf *elf, tl_elf_symbol_fn fn, void *arg,
                   int *has_symtab, char *err, size_t errlen)
{
    *has_symtab = 0;
    for (size_t i = 1; i < elf->section_count; i++) {
        const ElfW(Shdr) *tab = &elf->sections[i], *str;
        const ElfW(Sym) *syms;
        const char *names, *file = "";
        size_t count;

        if (tab->sh_type != SHT_SYMTAB)
            continue;
        *has_symtab = 1;
        if (tab->sh_entsize != sizeof(ElfW(Sym)) || tab->sh_link >= elf->section_count ||
            tab->sh_offset % _Alignof(ElfW(Sym)) != 0 ||
            !in_file(elf, tab->sh_offset, tab->sh_size))
            goto bad;
        str = &elf->sections[tab->sh_link];
        if (!in_file(elf, str->sh_offset, str->sh_size))
            goto bad;
        syms = (const ElfW(Sym) *)(elf->map + tab->sh_offset);
        names = (const char *)elf->map + str->sh_offset;
        count = tab->sh_size / sizeof *syms;
        for (size_t k = 1; k < count; k++) {
            struct tl_elf_symbol s = {
                .name = string_at(names, str->sh_size, syms[k].st_name),
                .value = syms[k].st_value,
                .size = syms[k].st_size,
                .bind = ELF64_ST_BIND(syms[k].st_info),
                .type = ELF64_ST_TYPE(syms[k].st_info),
                .shndx = syms[k].st_shndx,
                .section = "",
            };
            int rc;

            if (s.type == STT_FILE) {
                file = s.name;
                continue;
            }
            s.file = file;
            if (s.shndx != SHN_UNDEF && s.shndx < elf->section_count) {
                s.section = section_name(elf, s.shndx);
                s.section_flags = elf->sections[s.shndx].sh_flags;
            }
            rc = fn(&s, arg);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    return 0;
bad:
    snprintf(err, errlen, "malformed symbol table");
    return -1;
}

int tl_elf_read_section(const char *path, const char *name, char **data, size_t *len,
                        char *err, size_t errlen)
{
    struct tl_elf elf;
    const char *p;
    size_t n;
    int rc;

    *data = NULL;
    *len = 0;
    if (tl_elf_open(path, &elf, err, errlen) != 0)
        return -1;
    rc = tl_elf_section(&elf, name, &p, &n);
    if (rc == 0) {
        *data = malloc(n + 1);
        if (*data == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            memcpy(*data, p, n);
            (*data)[n] = '\0';
            *len = n;
        }
    }
    tl_elf_close(&elf);
    return rc;
}
