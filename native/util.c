#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int tell_fd = -1;

void die_tell(int fd)
{
	tell_fd = fd;
}

/* One write(2) per message, so lines from several processes never interleave, and
 * _exit, since die() also runs in forked children that must not flush or run atexit. */
static noreturn void print_and_exit(const char *msg)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "stage1: %s\n", msg);
	if (n < 0 || (size_t)n >= sizeof line) {
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
	(void)ignored;
	if (tell_fd >= 0)
		ignored = write(tell_fd, "!", 1);
	_exit(EXIT_STAGE1);
}

noreturn void die(const char *call, const char *what)
{
	char msg[900];
	snprintf(msg, sizeof msg, "%s %s: %s", call, what, strerror(errno));
	print_and_exit(msg);
}

noreturn void fail(const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	print_and_exit(msg);
}

noreturn void usage(void)
{
	fail("usage: init run | enter PID APP [CMD...] | stop PID [--force] | gc UUID | takeover PLAN");
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size);
	if (!p)
		die("realloc", "");
	return p;
}

bool parse_uint(const char *s, int base, unsigned long long max, unsigned long long *out)
{
	if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!*s)
		return false;
	/* strtoull alone would take "-1", " 7" and "7x" (and "9" in base 8, as 0). */
	for (const char *c = s; *c; c++)
		if (!(base == 16 ? isxdigit((unsigned char)*c) : *c >= '0' && *c < '0' + base))
			return false;
	errno = 0;
	unsigned long long v = strtoull(s, NULL, base);
	if (errno || v > max)
		return false;
	*out = v;
	return true;
}

pid_t parse_pid(const char *s)
{
	unsigned long long v;
	if (!parse_uint(s, 10, INT_MAX, &v) || v < 2)
		fail("pid \"%s\" is not a process id above 1", s);
	return (pid_t)v;
}

char *read_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat", path);
	if ((unsigned long long)st.st_size > max)
		fail("parse %s: larger than %zu bytes", path, max);
	char *buf = xrealloc(NULL, (size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read", path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

void path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size)
		fail("path %s/%s is too long", dir, name);
}

static void write_all(int fd, const char *text, size_t len, const char *path)
{
	while (len > 0) {
		ssize_t n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write", path);
		text += n, len -= (size_t)n;
	}
}

void write_file_atomic(const char *path, const char *text)
{
	/* The temporary file must be in the same directory for rename to be atomic; one
	 * writer per file, so a fixed name is enough. */
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof tmp, "%.*s.%s.tmp", dirlen, path, path + dirlen);
	if (n < 0 || (size_t)n >= sizeof tmp)
		fail("path %s is too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open", tmp);
	write_all(fd, text, strlen(text), tmp);
	if (fsync(fd) < 0)
		die("fsync", tmp);
	if (close(fd) < 0)
		die("close", tmp);
	if (rename(tmp, path) < 0)
		die("rename", path);
}

void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open", path);
	close(fd);
}

void mkdir_if_missing(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		die("mkdir", path);
}

/* Kernels before 5.11, common on ARM boards, lack CLOSE_RANGE_CLOEXEC: then each fd
 * listed in /proc/self/fd is marked by hand. */
static void cloexec_each(int first)
{
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		die("opendir", "/proc/self/fd");
	struct dirent *e;
	while ((e = readdir(dir))) {
		unsigned long long fd;
		if (!parse_uint(e->d_name, 10, INT_MAX, &fd) || (int)fd < first || (int)fd == dirfd(dir))
			continue;
		if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
			die("fcntl", e->d_name);
	}
	closedir(dir);
}

void cloexec_from(int first)
{
	if (close_range((unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	if (errno != ENOSYS && errno != EINVAL)
		die("close_range", "CLOSE_RANGE_CLOEXEC");
	cloexec_each(first);
}

int exit_status(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}

int index_of(const char *const *list, const char *key)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(list[i], key))
			return i;
	return -1;
}

bool nul_pair(char *buf, size_t len, size_t *at, char **key, char **value)
{
	*key = buf + *at;
	*at += strlen(*key) + 1;
	if (*at >= len)
		return false;
	*value = buf + *at;
	*at += strlen(*value) + 1;
	return true;
}
