#define _GNU_SOURCE
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "conf.h"
#include "loopback.h"
#include "notify.h"
#include "signals.h"
#include "util.h"

/* The run entrypoint: an outer process that stage0 exec'd, holding the pod lock, and
 * its child, the pod's PID 1, which starts the apps and reaps everything. */

/* PID 1's cgroup inside each of the pod's cgroups (the apps have one each beside it):
 * not an AC name, so no app can be called so. */
#define STAGE1_CGROUP "stage1.init"

struct runner {
	struct pod *pod;
	size_t next;   /* the first app not yet started */
	bool stopping; /* a signal came: start no more apps */
};

static void mount_proc(const char *target, const char *what)
{
	if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mount proc on", what);
}

/* An app's /proc is opened without following symlinks and mounted through its fd, so
 * an image that ships /proc as a symlink cannot make stage1 mount proc elsewhere. */
static void mount_app_proc(const struct app *app)
{
	char what[PATH_MAX], target[64];
	path_join(what, sizeof what, app->root, "proc");
	int root = open(app->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		die("open", app->root);
	if (mkdirat(root, "proc", 0555) < 0 && errno != EEXIST)
		die("mkdir", what);
	int proc = openat(root, "proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (proc < 0)
		die("open", what);
	snprintf(target, sizeof target, "/proc/self/fd/%d", proc);
	mount_proc(target, what);
	close(proc);
	close(root);
}

/* Stage1's own /proc first: the apps' mounts go through /proc/self/fd. */
static void mount_procs(const struct pod *pod)
{
	mkdir_if_missing("/proc", 0555);
	mount_proc("/proc", "/proc");
	for (size_t i = 0; i < pod->napps; i++)
		mount_app_proc(&pod->apps[i]);
}

static void mark_started(const struct app *app)
{
	char path[PATH_MAX];
	mkdir_if_missing(RKT_DIR "/started", 0755);
	path_join(path, sizeof path, RKT_DIR "/started", app->name);
	touch(path);
}

static void record_status(struct app *app, int status)
{
	char path[PATH_MAX], text[16];
	app->status = status;
	app->has_status = true;
	mkdir_if_missing(RKT_DIR "/status", 0755);
	path_join(path, sizeof path, RKT_DIR "/status", app->name);
	snprintf(text, sizeof text, "%d\n", status);
	write_file_atomic(path, text);
}

/* Handlers run like the app (same root, user and environment) but never own the tty. */
static void spawn_handler(struct app *app, struct strv *argv, enum phase phase)
{
	bool execed;
	app->pid = app_spawn(app, argv->v, false, &execed);
	app->phase = phase;
}

static void start_app(struct runner *r, struct app *app)
{
	bool execed;
	app->pid = app_spawn(app, app->exec.v, r->pod->interactive, &execed);
	app->phase = PHASE_RUNNING;
	if (execed)
		mark_started(app);
}

/* Starts apps in manifest order; an app's pre-start handler must exit before the app,
 * and the apps after it, start. */
static void advance(struct runner *r)
{
	for (; r->next < r->pod->napps; r->next++) {
		struct app *app = &r->pod->apps[r->next];
		if (app->phase == PHASE_PRE_START)
			return;
		if (app->phase != PHASE_WAITING)
			continue;
		if (r->stopping) {
			app->phase = PHASE_DONE;
		} else if (app->pre_start.n) {
			spawn_handler(app, &app->pre_start, PHASE_PRE_START);
			return;
		} else {
			start_app(r, app);
		}
	}
	notify_if_ready(r->pod);
}

static void app_exited(struct app *app, int status)
{
	record_status(app, status);
	if (app->post_stop.n)
		spawn_handler(app, &app->post_stop, PHASE_POST_STOP);
	else
		app->phase = PHASE_DONE;
}

/* A failing pre-start handler counts as the app's exit status; the app never starts. */
static void pre_start_exited(struct runner *r, struct app *app, int status)
{
	if (status != 0)
		record_status(app, status);
	if (status != 0 || r->stopping)
		app->phase = PHASE_DONE;
	else
		start_app(r, app);
}

static void child_exited(struct runner *r, pid_t pid, int status)
{
	for (size_t i = 0; i < r->pod->napps; i++) {
		struct app *app = &r->pod->apps[i];
		if (app->pid != pid || app->phase == PHASE_WAITING || app->phase == PHASE_DONE)
			continue;
		if (app->phase == PHASE_PRE_START)
			pre_start_exited(r, app, status);
		else if (app->phase == PHASE_RUNNING)
			app_exited(app, status);
		else
			app->phase = PHASE_DONE;
		return;
	}
	/* Not ours: an orphan reparented to PID 1, now reaped. */
}

static void reap(struct runner *r)
{
	int wstatus;
	pid_t pid;
	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
		child_exited(r, pid, exit_status(wstatus));
	if (pid < 0 && errno != ECHILD)
		die("waitpid", "");
}

static void forward(struct runner *r, int sig)
{
	r->stopping = true;
	for (size_t i = 0; i < r->pod->napps; i++) {
		struct app *app = &r->pod->apps[i];
		if (app->phase == PHASE_RUNNING)
			kill(app->pid, sig);
	}
}

static bool all_done(const struct pod *pod)
{
	for (size_t i = 0; i < pod->napps; i++)
		if (pod->apps[i].phase != PHASE_DONE)
			return false;
	return true;
}

/* The first app in manifest order that failed decides; 0 when none did. */
static int pod_status(const struct pod *pod)
{
	for (size_t i = 0; i < pod->napps; i++)
		if (pod->apps[i].has_status && pod->apps[i].status != 0)
			return pod->apps[i].status;
	return 0;
}

static noreturn void pid1(struct pod *pod, const sigset_t *set, int go)
{
	/* If the outer process dies, the pod lock is released: the pod must die with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		die("prctl", "PR_SET_PDEATHSIG");
	char byte;
	if (read(go, &byte, 1) != 1)
		_exit(EXIT_STAGE1); /* the outer process failed before /rkt/pid, and said why */
	close(go);
	for (size_t i = 0; i < pod->cgroups.n; i++) {
		char dir[PATH_MAX];
		path_join(dir, sizeof dir, pod->cgroups.v[i], STAGE1_CGROUP);
		cgroup_join(dir);
	}
	loopback_up();
	mount_procs(pod);
	struct runner r = { .pod = pod };
	advance(&r);
	while (!all_done(pod)) {
		int sig = sigwaitinfo(set, NULL);
		if (sig < 0 && errno != EINTR)
			die("sigwaitinfo", "");
		if (sig == SIGCHLD)
			reap(&r);
		else if (signals_forwarded(sig))
			forward(&r, sig);
		advance(&r);
	}
	_exit(pod_status(pod));
}

/* rmdir, waiting up to a second for a cgroup whose last processes are still exiting
 * (EBUSY); a failure is one line, and gc removes what is left. */
static void remove_cgroup(int dirfd, const char *name, const char *shown)
{
	for (int tries = 0;; tries++) {
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY || tries == 100) {
			fprintf(stderr, "stage1: rmdir %s: %s (rkt gc removes it)\n", shown, strerror(errno));
			return;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

/* Once PID 1 has exited, every process of the pod has (the kernel kills the rest of its
 * PID namespace first), so its cgroups are empty: removed here, leaves first. This
 * process never was in them, so it can. */
static void remove_cgroups(const struct pod *pod)
{
	for (size_t i = 0; i < pod->cgroups.n; i++) {
		const char *dir = pod->cgroups.v[i];
		DIR *d = opendir(dir);
		if (!d) {
			if (errno != ENOENT)
				fprintf(stderr, "stage1: opendir %s: %s (rkt gc removes it)\n", dir, strerror(errno));
			continue;
		}
		/* The names first: removing entries while reading the directory is unspecified. */
		char **names = NULL;
		size_t n = 0;
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_type == DT_DIR && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				names = xrealloc(names, (n + 1) * sizeof *names);
				names[n++] = strdup(e->d_name);
			}
		for (size_t j = 0; j < n; j++) {
			char shown[PATH_MAX];
			snprintf(shown, sizeof shown, "%s/%s", dir, names[j] ? names[j] : "");
			if (names[j])
				remove_cgroup(dirfd(d), names[j], shown);
			free(names[j]);
		}
		free(names);
		closedir(d);
		remove_cgroup(AT_FDCWD, dir, dir);
	}
}

/* /rkt/pid holds the host PID of the pod's PID 1; PID 1 starts nothing before it is
 * written, so whoever sees an app started can read it. */
static void write_pid(pid_t pid)
{
	char text[16];
	snprintf(text, sizeof text, "%d\n", (int)pid);
	write_file_atomic(RKT_DIR "/pid", text);
}

int cmd_run(int argc, char **argv)
{
	(void)argv;
	if (argc != 2)
		usage();
	struct pod pod;
	conf_read(CONF_PATH, &pod);
	sigset_t set;
	signals_block(&set);
	if (unshare(CLONE_NEWPID) < 0)
		die("unshare", "CLONE_NEWPID");
	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		die("pipe2", "");
	pid_t child = fork();
	if (child < 0)
		die("fork", "PID 1");
	if (child == 0) {
		close(go[1]);
		pid1(&pod, &set, go[0]);
	}
	close(go[0]);
	write_pid(child);
	if (write(go[1], "g", 1) != 1)
		die("write", "to PID 1");
	close(go[1]);
	int status = wait_forwarding(child, &set);
	remove_cgroups(&pod);
	return status;
}
