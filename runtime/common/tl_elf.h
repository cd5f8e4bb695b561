/* SPDX-License-Identifier: MIT */
/*
 * tl_elf.h - read the sections and the symbol table of an ELF file of this
 * machine (a program, a shared library, an object), mapped read-only.
 *
 * The runtime looks at its own binaries: which objects a program was linked
 * from (the turbolift_units section), where a variable lies in a program or
 * a service (docs/remote.md, "Variables of other files"). Every offset and
 * index read from the file is checked against the file's size, so a
 * truncated or foreign file is an error, never a crash.
 */
#ifndef TL_ELF_H
#define TL_ELF_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>

struct tl_elf {
    const unsigned char *map;
    size_t size;
    const ElfW(Shdr) *sections;
    size_t section_count;
    const char *section_names;
    size_t section_names_size;
};

struct tl_elf_symbol {
    const char *name;
    const char *file;           /* the STT_FILE symbol before it, or ""   */
    uint64_t value;
    uint64_t size;
    unsigned char bind;         /* STB_LOCAL, STB_GLOBAL, STB_WEAK        */
    unsigned char type;         /* STT_OBJECT, STT_FUNC, STT_TLS, ...     */
    unsigned shndx;
    const char *section;        /* its section's name, or "" (undefined)  */
    uint64_t section_flags;     /* SHF_ALLOC, SHF_WRITE, ...; 0 if none   */
};

/* 0, or -1 with err set: not readable, not an ELF file of this machine. */
int tl_elf_open(const char *path, struct tl_elf *elf, char *err, size_t errlen);
void tl_elf_close(struct tl_elf *elf);

/* The contents of section `name` inside the mapping (not NUL-terminated):
 * 0 found, 1 no such section (or one without contents in the file). */
int tl_elf_section(const struct tl_elf *elf, const char *name,
                   const char **data, size_t *len);

/* Every entry of .symtab, in order, to fn (which returns non-zero to stop;
 * that value is returned). *has_symtab is 0 for a stripped file. -1 with
 * err set for a malformed table. */
typedef int (*tl_elf_symbol_fn)(const struct tl_elf_symbol *sym, void *arg);
int tl_elf_symbols(const struct tl_elf *elf, tl_elf_symbol_fn fn, void *arg,
                   int *has_symtab, char *err, size_t errlen);

/* Section `name` of the file at path, malloc'd in *data (NUL-terminated,
 * *len bytes before the NUL): 0 found, 1 none, -1 with err set. */
int tl_elf_read_section(const char *path, const char *name, char **data, size_t *len,
                        char *err, size_t errlen);

#endif /* TL_ELF_H */
