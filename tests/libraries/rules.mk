# SPDX-License-Identifier: MIT
# What the libraries' Makefiles share, written as a make user writes it:
# each of the library's files (in SRC, the unpacked Debian source) compiled
# on its own into an object here, the objects put in a static archive LIB
# with ar, the user's files (MAIN_OBJS, from HERE) compiled and linked with
# the archive. CFLAGS/LDLIBS carry the plugin (pkg-config --cflags / --libs
# turbolift) or not; with -flto, AR=gcc-ar.
# A library's Makefile sets SRC (on the command line), LIB, LIB_OBJS,
# LIB_CPPFLAGS, MAIN_OBJS, MAIN_CPPFLAGS, LIB_LIBS and includes this file.
CC ?= gcc
AR ?= ar
CFLAGS ?= -O2

prog: $(MAIN_OBJS) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(MAIN_OBJS) $(LIB) $(LDLIBS) $(LIB_LIBS)

$(LIB): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJS)

$(LIB_OBJS): %.o: $(SRC)/%.c
	$(CC) $(LIB_CPPFLAGS) $(CFLAGS) -c $< -o $@

$(MAIN_OBJS): %.o: $(HERE)/%.c
	$(CC) -I$(SRC) $(MAIN_CPPFLAGS) $(CFLAGS) -c $< -o $@

clean:
	rm -f prog *.o $(LIB)
