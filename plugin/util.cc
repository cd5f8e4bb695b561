/* SPDX-License-Identifier: MIT */
/*
 * util.cc - string buffers, files and child processes for the other steps.
 */
#include "tl_plugin.h"
#include "diagnostic-core.h"
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>

void tl_buf_append(struct tl_strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->data = (char *)xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void tl_buf_puts(struct tl_strbuf *b, const char *s)
{
	tl_buf_append(b, s, strlen(s));
}

void tl_buf_printf(struct tl_strbuf *b, const char *fmt, ...)
{
	char *text;
	va_list ap;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	tl_buf_puts(b, text);
	free(text);
}

void tl_buf_free(struct tl_strbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

bool tl_mkdir_p(const char *path)
{
	char *copy = xstrdup(path), *p;
	bool ok = true;

	for (p = copy + 1; ok; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, 0777) != 0 && errno != EEXIST)
			ok = false;
		*p = saved;
		if (!saved)
			break;
	}
	free(copy);
	return ok;
}

/* Write through a temporary and rename, so that a concurrent build of the
 * same service never sees half a file. */
bool tl_write_file(const char *path, const char *data, size_t len)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	bool ok;

	if (!f) {
		free(tmp);
		return false;
	}
	ok = fwrite(data, 1, len, f) == len;
	ok = (fclose(f) == 0) && ok;
	ok = ok && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok;
}

/* Start argv (argv[0] an absolute path or found on PATH) with its stdout
 * and stderr going to a temporary file, and stdin_file (when not NULL) as
 * its stdin; tl_run_wait collects them. The caller goes on meanwhile (the
 * service compiles while cc1 compiles the user's code). */
bool tl_run_start_input(const char *const *argv, struct tl_child *child, const char *stdin_file)
{
	char errname[] = "/tmp/turbolift-run-XXXXXX";

	child->pid = -1;
	child->errfd = mkstemp(errname);
	if (child->errfd < 0)
		return false;
	unlink(errname);
	child->pid = fork();
	if (child->pid == 0) {
		/* a file of its own: cc1's stdin is shared, and read to its end */
		int in = stdin_file ? open(stdin_file, O_RDONLY) : -1;

		if (stdin_file && (in < 0 || dup2(in, 0) < 0)) {
			fprintf(stderr, "cannot open %s: %s\n", stdin_file, xstrerror(errno));
			_exit(126);
		}
		dup2(child->errfd, 1);
		dup2(child->errfd, 2);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], xstrerror(errno));
		_exit(127);
	}
	if (child->pid < 0) {
		close(child->errfd);
		return false;
	}
	return true;
}

bool tl_run_start(const char *const *argv, struct tl_child *child)
{
	return tl_run_start_input(argv, child, NULL);
}

/* Wait for a tl_run_start child; its output in *output (or NULL). */
bool tl_run_wait(struct tl_child *child, char **output)
{
	int status = -1;
	struct stat st;

	*output = NULL;
	while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (fstat(child->errfd, &st) == 0 && st.st_size > 0) {
		char *text = (char *)xmalloc(st.st_size + 1);
		ssize_t n = pread(child->errfd, text, st.st_size, 0);

		text[n > 0 ? n : 0] = '\0';
		*output = text;
	}
	close(child->errfd);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Run argv (argv[0] an absolute path or found on PATH), stdout to
 * stdout_file (or with stderr), stderr captured into *output. */
bool tl_run(const char *const *argv, const char *stdout_file, char **output)
{
	char errname[] = "/tmp/turbolift-run-XXXXXX";
	int errfd = mkstemp(errname);
	int status = -1;
	pid_t pid;
	struct stat st;

	*output = NULL;
	if (errfd < 0)
		return false;
	pid = fork();
	if (pid == 0) {
		int out = stdout_file ? open(stdout_file, O_WRONLY | O_CREAT | O_TRUNC, 0666) : errfd;

		if (out < 0)
			_exit(126);
		dup2(out, 1);
		dup2(errfd, 2);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], xstrerror(errno));
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (fstat(errfd, &st) == 0 && st.st_size > 0) {
		char *text = (char *)xmalloc(st.st_size + 1);
		ssize_t n = pread(errfd, text, st.st_size, 0);

		text[n > 0 ? n : 0] = '\0';
		*output = text;
	}
	close(errfd);
	unlink(errname);
	return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* cc1 itself: the preprocessor that produced exactly what we compiled. */
const char *tl_cc1_path(void)
{
	static char path[4096];
	ssize_t n;

	if (path[0])
		return path;
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	return path;
}

tree tl_const_char_pointer(void)
{
	return build_pointer_type(build_qualified_type(char_type_node, TYPE_QUAL_CONST));
}

/* The plugin's own artefacts (descriptor, state, runtime entry): never part
 * of what a service reaches, captures or records. */
bool tl_is_own_symbol(tree decl)
{
	return DECL_NAME(decl) &&
	       !strncmp(IDENTIFIER_POINTER(DECL_NAME(decl)), "__turbolift_", 12);
}
