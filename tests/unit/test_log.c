/* SPDX-License-Identifier: MIT */
/*
 * test_log.c - a log message is written whole, in one line, however long:
 * the list of every missing symbol of a link or of every variable of other
 * files must never be cut (runtime/common/tl_log.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tl_check.h"
#include "tl_log.h"

/* Everything tl_log wrote to stderr while fn ran. */
static char *captured_stderr(void (*fn)(void))
{
    char path[] = "/tmp/turbolift-test-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    char *text = NULL;
    size_t cap = 0;
    FILE *f;

    REQUIRE(fd >= 0 && saved >= 0);
    fflush(stderr);
    REQUIRE(dup2(fd, 2) == 2);
    fn();
    fflush(stderr);
    REQUIRE(dup2(saved, 2) == 2);
    close(saved);
    f = fdopen(fd, "r");
    REQUIRE(f != NULL);
    rewind(f);
    if (getdelim(&text, &cap, '\0', f) < 0) {
        free(text);
        text = strdup("");
    }
    fclose(f);
    unlink(path);
    return text;
}

static char long_list[6000];

static void log_long(void)
{
    tl_log_error("the service of f needs 300 symbols:\n%s%s", long_list, "end of list");
}

static void log_short(void)
{
    tl_log_warn("%d %s", 42, "short");
}

int main(void)
{
    char *out;
    size_t n = 0;

    setenv("TURBOLIFT_LOG", "warn", 1);     /* errors and warnings shown */
    for (int i = 0; n + 20 < sizeof long_list; i++)
        n += (size_t)snprintf(long_list + n, sizeof long_list - n, "  symbol_%04d\n", i);

    out = captured_stderr(log_long);
    CHECK_MSG(strncmp(out, "turbolift: error: the service of f needs 300 symbols:\n", 54) == 0,
              "%.80s", out);
    CHECK_MSG(strstr(out, long_list) != NULL, "the list is cut: %zu of %zu bytes written",
              strlen(out), strlen(long_list));
    CHECK_MSG(strlen(out) > 5000 && strcmp(out + strlen(out) - 12, "end of list\n") == 0,
              "%zu bytes, ending with '%s'", strlen(out),
              strlen(out) > 12 ? out + strlen(out) - 12 : out);
    free(out);

    out = captured_stderr(log_short);
    CHECK_MSG(strcmp(out, "turbolift: warning: 42 short\n") == 0, "'%s'", out);
    free(out);
    return tl_check_status("test_log");
}
