#define _GNU_SOURCE
#include "enter.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "app.h"
#include "conf.h"
#include "signals.h"
#include "util.h"

/* Joined in this order; mnt last, since after it this process's /proc is no longer
 * the one the paths were opened in (they are all opened first anyway). */
static const char *const namespaces[] = { "ipc", "uts", "net", "pid", "mnt" };
#define NNS (sizeof namespaces / sizeof namespaces[0])

/* Joins PID's namespaces and its root. The root is taken from /proc/PID/root, opened
 * before joining: after a pivot_root it is the mount namespace's root, but a pod run
 * under chroot (as the tests do) has a root of its own. */
static void join_pod(pid_t pid)
{
	char paths[NNS][64], root_path[64];
	int fds[NNS];
	for (size_t i = 0; i < NNS; i++) {
		snprintf(paths[i], sizeof paths[i], "/proc/%d/ns/%s", (int)pid, namespaces[i]);
		fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			die("open", paths[i]);
	}
	snprintf(root_path, sizeof root_path, "/proc/%d/root", (int)pid);
	int root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		die("open", root_path);
	for (size_t i = 0; i < NNS; i++) {
		if (setns(fds[i], 0) < 0)
			die("setns", paths[i]);
		close(fds[i]);
	}
	if (fchdir(root) < 0 || chroot(".") < 0)
		die("chroot", root_path);
	close(root);
}

/* As root, with the app's root, working directory and environment. CMD may be a bare
 * name: it is looked up in the app's PATH (glibc's default path without one). */
static noreturn void exec_in_app(const struct app *app, char *const cmd[])
{
	signals_default();
	cloexec_from(3);
	app_enter_root(app);
	signals_unblock();
	extern char **environ;
	environ = app->env.v;
	execvp(cmd[0], cmd);
	die("execvp", cmd[0]);
}

int cmd_enter(int argc, char **argv)
{
	static char *default_cmd[] = { "/bin/sh", NULL };
	if (argc < 4)
		usage();
	pid_t pid = parse_pid(argv[2]);
	join_pod(pid);
	struct pod pod;
	conf_read(CONF_PATH, &pod);
	struct app *app = conf_find_app(&pod, argv[3]);
	if (!app)
		fail("enter: no app \"%s\" in %s", argv[3], CONF_PATH);
	sigset_t set;
	signals_block(&set);
	/* setns to a PID namespace takes effect for children only. */
	pid_t child = fork();
	if (child < 0)
		die("fork", app->name);
	if (child == 0)
		exec_in_app(app, argc > 4 ? &argv[4] : default_cmd);
	return wait_forwarding(child, &set);
}
