#define _GNU_SOURCE
#include "signals.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "util.h"

void signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		die("sigprocmask", "SIG_BLOCK");
	/* An inherited SIG_IGN for SIGCHLD would have the kernel reap children itself, and
	 * their exit statuses would be lost. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	if (sigaction(SIGCHLD, &dfl, NULL) < 0)
		die("sigaction", "SIGCHLD");
}

bool signals_forwarded(int sig)
{
	return sig == SIGTERM || sig == SIGINT || sig == SIGHUP;
}

void signals_default(void)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	/* Errors are expected and harmless: SIGKILL, SIGSTOP and the C library's own
	 * real-time signals cannot be changed. */
	for (int sig = 1; sig < _NSIG; sig++)
		sigaction(sig, &dfl, NULL);
}

void signals_unblock(void)
{
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		die("sigprocmask", "SIG_SETMASK");
}

/* The next signal of `set`; EINTR comes from a stop and continue (SIGSTOP, then SIGCONT). */
static int next_signal(const sigset_t *set)
{
	for (;;) {
		int sig = sigwaitinfo(set, NULL);
		if (sig > 0)
			return sig;
		if (errno != EINTR)
			die("sigwaitinfo", "");
	}
}

int wait_forwarding(pid_t child, const sigset_t *set)
{
	for (;;) {
		int sig = next_signal(set);
		if (signals_forwarded(sig)) {
			kill(child, sig);
			continue;
		}
		int wstatus;
		pid_t pid = waitpid(child, &wstatus, WNOHANG);
		if (pid < 0)
			die("waitpid", "");
		if (pid == child)
			return exit_status(wstatus);
	}
}
