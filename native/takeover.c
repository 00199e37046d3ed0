#define _GNU_SOURCE
#include "takeover.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inroot.h"
#include "plan.h"
#include "util.h"

/* The hand-over of docs/stage1-interface.md ("run", stage0's steps 1-5) where stage0
 * cannot make it: without FFI (koffi has no ARMv6 build) Node can neither unshare nor
 * mount nor exec. stage0 writes its plan to a file and runs this verb from the stage1
 * tree in the store, on the host, with the pod lock as fd `lock-fd`; it does what
 * stage0's handover.ts would, in the same order, and execs the run entrypoint inside
 * the pod's stage1 root, which from there on is as if stage0 had exec'd it.
 *
 * A failure prints one line naming the step and exits 254. Everything mounted by then
 * is in this process's private mount namespace and goes with it. */

/* The step under way, for error lines. */
static char doing[1024];

static __attribute__((format(printf, 1, 2))) void now(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(doing, sizeof doing, fmt, ap);
	va_end(ap);
}

/* `stage1: takeover: STEP: CALL: strerror(errno)`, exit 254. */
static noreturn void step_die(const char *call)
{
	fail("takeover: %s: %s: %s", doing, call, strerror(errno));
}

static void describe(const struct op *op)
{
	char at[PATH_MAX * 2];
	snprintf(at, sizeof at, "%s%s in %s", op->target.path[0] == '/' ? "" : "/", op->target.path, op->target.root);
	switch (op->kind) {
	case OP_MKDIR:
		now("make directory %s", at);
		break;
	case OP_MOUNT:
		now("mount %s at %s", op->fstype, at);
		break;
	case OP_BIND:
		if (op->source)
			now("bind %s at %s", op->source, at);
		else
			now("bind %s in %s at %s", op->source_in.path, op->source_in.root, at);
		break;
	case OP_BIND_DEVICE:
		now("bind %s at %s", op->source, at);
		break;
	case OP_SYMLINK:
		now("link %s to %s", at, op->link_to);
		break;
	case OP_REMOUNT_RO:
		now("make %s read-only", at);
		break;
	}
}

/* A root is a host path stage0 controls: a symlink in it would mean an image redirected
 * it (an app root under a stage1 image's /opt symlink). It is opened for each op, so
 * that it is the mount an earlier op made there. */
static int open_root(const char *root)
{
	char real[PATH_MAX];
	if (!realpath(root, real))
		step_die("realpath");
	if (strcmp(real, root))
		fail("takeover: %s: root %s resolves to %s: an image has a symlink in its way", doing, root, real);
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		step_die("open the root");
	return fd;
}

static int resolve(const struct in_root *p, enum inroot_create create, mode_t mode)
{
	int root = open_root(p->root);
	int fd = inroot_open(root, p->path, create, mode);
	if (fd < 0)
		step_die(create == INROOT_EXISTING ? "resolve in the root" : "make in the root");
	close(root);
	return fd;
}

/* mount(2) takes paths: this one names the file FD holds, resolved already. */
static void mount_at(const char *source, int fd, const char *fstype, unsigned long flags, const char *data)
{
	char target[32];
	snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
	if (mount(source, target, fstype, flags, data) < 0)
		step_die(flags & MS_REMOUNT ? "remount" : "mount");
}

/* Resolved again: an fd from before a mount is below it, and a remount needs the mount. */
static void remount(const struct in_root *target, unsigned long flags)
{
	int fd = resolve(target, INROOT_EXISTING, 0);
	mount_at(NULL, fd, NULL, MS_REMOUNT | MS_BIND | flags, NULL);
	close(fd);
}

static void do_mkdir(const struct op *op)
{
	int fd = resolve(&op->target, INROOT_DIR, 0755);
	if (op->has_owner) {
		char path[32];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		/* Owner first: chown clears the set-id bits a mode may give. */
		if (fchownat(fd, "", op->uid, op->gid, AT_EMPTY_PATH) < 0)
			step_die("chown");
		if (chmod(path, op->mode) < 0)
			step_die("chmod");
	}
	close(fd);
}

static void do_mount(const struct op *op)
{
	int fd = resolve(&op->target, INROOT_DIR, 0755);
	mount_at(op->source, fd, op->fstype, op->flags, op->data);
	close(fd);
}

/* A host source is taken as the host sees it (a host volume is the user's choice); a
 * source in a root is resolved inside it. The target is made a directory or a file
 * after the source. */
static void do_bind(const struct op *op)
{
	char in_root[32];
	int source_fd = -1;
	const char *source = op->source;
	if (!source) {
		source_fd = resolve(&op->source_in, INROOT_EXISTING, 0);
		snprintf(in_root, sizeof in_root, "/proc/self/fd/%d", source_fd);
		source = in_root;
	}
	struct stat st;
	if (stat(source, &st) < 0)
		step_die("stat the source");
	bool dir = S_ISDIR(st.st_mode);
	int fd = resolve(&op->target, dir ? INROOT_DIR : INROOT_FILE, dir ? 0755 : 0644);
	mount_at(source, fd, NULL, MS_BIND | (op->recursive ? MS_REC : 0), NULL);
	close(fd);
	if (source_fd >= 0)
		close(source_fd);
	if (op->read_only || op->flags)
		remount(&op->target, (op->read_only ? MS_RDONLY : 0) | op->flags);
}

static void do_remount_ro(const struct op *op)
{
	remount(&op->target, MS_RDONLY | op->flags);
}

static void do_bind_device(const struct op *op)
{
	int fd = resolve(&op->target, INROOT_FILE, 0644);
	mount_at(op->source, fd, NULL, MS_BIND, NULL);
	close(fd);
}

/* Already there as the same link (a copy from an earlier run) is fine. */
static bool same_link(int dir, const char *name, const char *to)
{
	char text[PATH_MAX];
	ssize_t n = readlinkat(dir, name, text, sizeof text - 1);
	errno = EEXIST; /* what the caller reports when it is not the same link */
	if (n < 0)
		return false;
	text[n] = '\0';
	return !strcmp(text, to);
}

static void do_symlink(const struct op *op)
{
	const char *path = op->target.path;
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		fail("takeover: %s: the path does not end in a name", doing);
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - path) : 0, path);
	struct in_root dir_in = { op->target.root, parent };
	int dir = resolve(&dir_in, INROOT_DIR, 0755);
	if (symlinkat(op->link_to, dir, name) < 0 && (errno != EEXIST || !same_link(dir, name, op->link_to)))
		step_die("symlink");
	close(dir);
}

static void run_op(const struct op *op)
{
	static void (*const run[])(const struct op *) = {
		[OP_MKDIR] = do_mkdir,
		[OP_MOUNT] = do_mount,
		[OP_BIND] = do_bind,
		[OP_BIND_DEVICE] = do_bind_device,
		[OP_SYMLINK] = do_symlink,
		[OP_REMOUNT_RO] = do_remount_ro,
	};
	describe(op);
	run[op->kind](op);
}

/* Before anything changes: the lock must reach the run entrypoint, which holds it for
 * as long as the pod runs. */
static void keep_open(int fd)
{
	now("keep the pod lock (fd %d) open", fd);
	int flags = fcntl(fd, F_GETFD);
	if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
		step_die("fcntl");
}

/* The pod's namespaces, with / private: no mount below reaches the host, and all of
 * them die with the pod. The PID namespace is the run entrypoint's. */
static void unshare_pod(const struct plan *plan)
{
	now("make the pod's namespaces");
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (plan->new_net ? CLONE_NEWNET : 0)) < 0)
		step_die("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		step_die("make / private");
	if (plan->join_net) {
		now("join the network namespace %s", plan->netns);
		int fd = open(plan->netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			step_die("open");
		if (setns(fd, CLONE_NEWNET) < 0)
			step_die("setns");
		close(fd);
	}
}

static void pivot(const char *root)
{
	now("pivot_root into %s", root);
	if (chdir(root) < 0)
		step_die("chdir");
	/* The old root ends up on top of the new one; detaching it leaves only the pod's. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		step_die("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		step_die("umount2");
	if (chdir("/") < 0)
		step_die("chdir /");
}

int cmd_takeover(int argc, char **argv)
{
	if (argc != 3)
		usage();
	struct plan plan;
	plan_read(argv[2], &plan);
	keep_open(plan.lock_fd);
	unshare_pod(&plan);
	for (size_t i = 0; i < plan.nops; i++)
		run_op(&plan.ops[i]);
	now("set the hostname %s", plan.hostname);
	if (sethostname(plan.hostname, strlen(plan.hostname)) < 0)
		step_die("sethostname");
	pivot(plan.stage1_root);
	/* fds 0-2 and the lock are open and inherited; nothing else is. */
	now("execute stage1 %s", plan.entrypoint);
	char *run[] = { (char *)plan.entrypoint, "run", NULL };
	execv(plan.entrypoint, run);
	step_die("execve");
}
