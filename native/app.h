/* Starting one process of an app: the app itself or one of its event handlers. */
#ifndef STAGE1_APP_H
#define STAGE1_APP_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"

/* Forks a process that runs ARGV in APP's root with APP's user, groups, capabilities,
 * no-new-privileges, working directory and exactly APP's environment; with SESSION it
 * also becomes a session leader with stdin's terminal as its controlling tty. Returns
 * its pid; *EXECED says whether the execve happened (if not, the child has printed why
 * and exits 254, to be reaped like any child). */
pid_t app_spawn(const struct app *app, char *const argv[], bool session, bool *execed);

/* Makes APP's root the calling process's root and APP's working directory its own
 * (needs CAP_SYS_CHROOT: before any uid change). Dies on failure. */
void app_enter_root(const struct app *app);

/* Moves the calling process into the cgroup at DIR (a path in the stage1 root, where
 * stage0 bound the pods' cgroup directories) by writing its pid to DIR/cgroup.procs;
 * the pid is read in the writer's PID namespace. Dies on failure. */
void cgroup_join(const char *dir);

#endif
