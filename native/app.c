#define _GNU_SOURCE
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "caps.h"
#include "signals.h"
#include "util.h"

/* The terminal on stdin becomes the app's controlling tty. It may still be that of
 * the shell that ran rkt, so take it over (argument 1, which needs CAP_SYS_ADMIN, held
 * until the uid changes), as `setsid --ctty` does. */
static void become_session_leader(void)
{
	if (setsid() < 0)
		die("setsid", "");
	if (ioctl(STDIN_FILENO, TIOCSCTTY, 1) < 0)
		die("ioctl", "TIOCSCTTY");
}

/* chdir first and chroot("."), so no moment exists where the root is changed but the
 * working directory is still outside it. */
void app_enter_root(const struct app *app)
{
	if (chdir(app->root) < 0)
		die("chdir", app->root);
	if (chroot(".") < 0)
		die("chroot", app->root);
	if (chdir(app->cwd) < 0)
		die("chdir", app->cwd);
}

/* Groups first: once the uid is not 0, setgroups and setgid are refused. */
static void set_ids(const struct app *app)
{
	if (setgroups(app->ngroups, app->groups) < 0)
		die("setgroups", app->name);
	if (setgid(app->gid) < 0)
		die("setgid", app->name);
	if (setuid(app->uid) < 0)
		die("setuid", app->name);
}

void cgroup_join(const char *dir)
{
	char path[4096], pid[24];
	int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	path_join(path, sizeof path, dir, "cgroup.procs");
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("open", path);
	if (write(fd, pid, (size_t)len) != len)
		die("write", path);
	close(fd);
}

static noreturn void exec_in_app(const struct app *app, char *const argv[], bool session)
{
	signals_default();
	/* The pod lock and anything else stage0 passed stage1 stay with stage1: an app that
	 * held the lock could unlock the pod or keep it looking alive. */
	cloexec_from(3);
	/* Before the chroot: the cgroup directories are in the stage1 root. What the app
	 * executes and forks stays in them. */
	for (size_t i = 0; i < app->cgroups.n; i++)
		cgroup_join(app->cgroups.v[i]);
	if (session)
		become_session_leader();
	app_enter_root(app);
	if (app->has_caps)
		caps_bound(app->caps);
	set_ids(app);
	if (app->has_caps)
		caps_limit(app->caps);
	if (app->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("prctl", "PR_SET_NO_NEW_PRIVS");
	signals_unblock();
	execve(argv[0], argv, app->env.v);
	die("execve", argv[0]);
}

/* Reads the close-on-exec pipe: end of file without a byte means execve succeeded. */
static bool exec_happened(int fd)
{
	char byte;
	ssize_t n;
	do
		n = read(fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == 0;
}

pid_t app_spawn(const struct app *app, char *const argv[], bool session, bool *execed)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		die("pipe2", app->name);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", app->name);
	if (pid == 0) {
		close(pipefd[0]);
		die_tell(pipefd[1]);
		exec_in_app(app, argv, session);
	}
	close(pipefd[1]);
	*execed = exec_happened(pipefd[0]);
	return pid;
}
