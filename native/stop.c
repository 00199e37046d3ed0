#define _GNU_SOURCE
#include "stop.h"

#include <signal.h>
#include <string.h>

#include "util.h"

/* PID is the pod's PID 1 (/rkt/pid): SIGTERM goes on to every app, and SIGKILL ends
 * the PID namespace and so everything in it. */
int cmd_stop(int argc, char **argv)
{
	bool force = argc == 4 && !strcmp(argv[3], "--force");
	if (argc != 3 && !force)
		usage();
	pid_t pid = parse_pid(argv[2]);
	if (kill(pid, force ? SIGKILL : SIGTERM) < 0)
		die("kill", argv[2]);
	return 0;
}

/* Nothing of stage1's lives outside the pod's namespaces: a private network is made
 * and torn down by stage0 (src/stage0/network.ts), which runs its CNI DEL at gc. */
int cmd_gc(int argc, char **argv)
{
	(void)argv;
	if (argc != 3)
		usage();
	return 0;
}
