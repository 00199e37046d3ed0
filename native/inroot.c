#define _GNU_SOURCE
#include "inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "util.h"

/* Two ways, one meaning. Where the kernel has openat2 (Linux 5.6; Raspberry Pi OS runs
 * 6.x) RESOLVE_IN_ROOT resolves an existing path in one call. What it cannot give (a
 * missing component to create, an older kernel, qemu-user, which has no openat2) is
 * the walk's: a component at a time from an fd of the directory above, never following
 * a symlink but reading it and going on from the root or from where it is, like the
 * kernel. Every step is relative to an fd, so no path is ever resolved twice. */

/* As the kernel's MAXSYMLINKS. */
#define MAX_LINKS 40
/* Directories deep below the root; an image has no reason to come near. */
#define MAX_DEPTH 256

struct walk {
	int fds[MAX_DEPTH + 1]; /* fds[0] is the root (not ours to close), fds[depth] where we are */
	int depth;
	char *buf;  /* what is left to resolve: `rest` points into it */
	char *rest;
	int links;
};

static int open_kernel(int rootfd, const char *path)
{
#ifdef SYS_openat2
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
#else
	(void)rootfd, (void)path;
	errno = ENOSYS;
	return -1;
#endif
}

static bool is_kind(int fd, enum inroot_create create)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return false;
	if (create == INROOT_DIR && !S_ISDIR(st.st_mode))
		return errno = ENOTDIR, false;
	if (create == INROOT_FILE && S_ISDIR(st.st_mode))
		return errno = EISDIR, false;
	return true;
}

static void pop_to(struct walk *w, int depth)
{
	while (w->depth > depth)
		close(w->fds[w->depth--]);
}

/* The next component of w->rest, NUL-terminated in place; NULL when none is left. */
static char *next_component(struct walk *w)
{
	char *s = w->rest + strspn(w->rest, "/");
	if (!*s)
		return NULL;
	size_t n = strcspn(s, "/");
	w->rest = s + n + (s[n] ? 1 : 0);
	s[n] = '\0';
	return s;
}

/* Whether a component other than `.` is left. */
static bool more_components(const char *s)
{
	for (;;) {
		s += strspn(s, "/");
		size_t n = strcspn(s, "/");
		if (n == 0)
			return false;
		if (n != 1 || s[0] != '.')
			return true;
		s += n;
	}
}

/* Goes on from the symlink LINK: its target, then what was left. */
static int follow(struct walk *w, int link)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(link, "", target, sizeof target);
	if (n < 0)
		return -1;
	if ((size_t)n == sizeof target)
		return errno = ENAMETOOLONG, -1;
	target[n] = '\0';
	if (++w->links > MAX_LINKS)
		return errno = ELOOP, -1;
	if (target[0] == '/')
		pop_to(w, 0);
	size_t rest = strlen(w->rest);
	char *buf = xrealloc(NULL, (size_t)n + 1 + rest + 1);
	memcpy(buf, target, (size_t)n);
	buf[n] = '/';
	memcpy(buf + n + 1, w->rest, rest + 1);
	free(w->buf);
	w->buf = w->rest = buf;
	return 0;
}

/* Creates NAME in DIR; something already there (made meanwhile) is not an error. */
static int make(int dir, const char *name, bool file, mode_t mode)
{
	int rc;
	if (file) {
		/* O_EXCL with O_CREAT never follows a symlink, not even a dangling one. */
		rc = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (rc >= 0)
			close(rc);
	} else {
		rc = mkdirat(dir, name, mode);
	}
	return rc < 0 && errno != EEXIST ? -1 : 0;
}

/* One component, not `.` or `..`: into it, or on from its symlink's target. A missing
 * directory on the way is made 0755, the last component with MODE. */
static int step(struct walk *w, const char *name, bool last, enum inroot_create create, mode_t mode)
{
	int dir = w->fds[w->depth];
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	bool made = false;
	if (fd < 0 && errno == ENOENT && create != INROOT_EXISTING) {
		if (make(dir, name, last && create == INROOT_FILE, last ? mode : 0755) < 0)
			return -1;
		made = true;
		fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	struct stat st;
	int rc = fstat(fd, &st);
	if (rc == 0 && S_ISLNK(st.st_mode)) {
		/* A link where we have just made something was planted meanwhile. */
		rc = made ? (errno = ELOOP, -1) : follow(w, fd);
		close(fd);
		return rc;
	}
	if (rc == 0 && !last && !S_ISDIR(st.st_mode))
		rc = (errno = ENOTDIR, -1);
	if (rc == 0 && w->depth == MAX_DEPTH)
		rc = (errno = ENAMETOOLONG, -1);
	if (rc < 0) {
		close(fd);
		return -1;
	}
	w->fds[++w->depth] = fd;
	return 0;
}

static int walk(int rootfd, const char *path, enum inroot_create create, mode_t mode)
{
	struct walk w = { .fds = { rootfd } };
	w.buf = w.rest = xrealloc(NULL, strlen(path) + 1);
	strcpy(w.buf, path);
	int fd = -1;
	char *name;
	while ((name = next_component(&w))) {
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			pop_to(&w, w.depth > 0 ? w.depth - 1 : 0);
			continue;
		}
		if (step(&w, name, !more_components(w.rest), create, mode) < 0)
			goto out;
	}
	fd = w.depth > 0 ? w.fds[w.depth--] : fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (fd >= 0 && !is_kind(fd, create)) {
		close(fd);
		fd = -1;
	}
out:;
	int saved = errno;
	pop_to(&w, 0);
	free(w.buf);
	errno = saved;
	return fd;
}

int inroot_open(int rootfd, const char *path, enum inroot_create create, mode_t mode)
{
	/* Any failure of openat2, or a path that is there but of the wrong kind, goes to
	 * the walk, which creates what is missing or names the error. */
	int fd = open_kernel(rootfd, path);
	if (fd >= 0 && is_kind(fd, create))
		return fd;
	if (fd >= 0)
		close(fd);
	return walk(rootfd, path, create, mode);
}
