/* stage1.conf, the pod as stage0 hands it over (docs/stage1-interface.md). */
#ifndef STAGE1_CONF_H
#define STAGE1_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A NULL-terminated list of strings, as execve wants argv and envp; `v` is never NULL. */
struct strv {
	char **v;
	size_t n;
};

/* Where an app is in its life, for the PID 1 loop (run.c). */
enum phase { PHASE_WAITING, PHASE_PRE_START, PHASE_RUNNING, PHASE_POST_STOP, PHASE_DONE };

struct app {
	const char *name;
	const char *root; /* its rootfs inside the stage1 root */
	const char *cwd;  /* "/" when not given */
	struct strv exec, env, pre_start, post_stop;
	uid_t uid; /* 0 when not given, as gid */
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
	bool has_caps; /* without `caps` the bounding set is left as it is */
	uint64_t caps;
	bool nnp;
	struct strv cgroups; /* cgroup directories the app's processes join before exec */

	/* Kept by run.c while the pod runs: the process of the current phase. */
	enum phase phase;
	pid_t pid;
	bool has_status;
	int status;
};

struct pod {
	bool interactive;
	struct strv cgroups; /* the pod's cgroup directories: PID 1 joins their stage1.init */
	struct app *apps;
	size_t napps;
};

/* Reads and checks PATH; any problem exits 254 with one line naming it. The strings
 * point into one buffer that lives as long as the process. */
void conf_read(const char *path, struct pod *pod);

/* The app called NAME, or NULL. */
struct app *conf_find_app(struct pod *pod, const char *name);

#endif
