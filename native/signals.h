/* The signals stage1 forwards, and the clean slate an app starts from. */
#ifndef STAGE1_SIGNALS_H
#define STAGE1_SIGNALS_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* Blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD and puts them in `set`: they are then
 * taken one at a time with sigwaitinfo, so no handler races the main loop and none
 * is lost between fork and wait. Blocked signals also reach a PID 1, which drops
 * signals with no handler that are sent from outside its namespace. */
void signals_block(sigset_t *set);

/* Whether a signal taken from the set above goes on to the apps. */
bool signals_forwarded(int sig);

/* In a child about to exec: every disposition back to SIG_DFL (stage0's node ignores
 * SIGPIPE, and an ignored signal stays ignored across execve). */
void signals_default(void);

/* In a child about to exec: an empty signal mask. */
void signals_unblock(void);

/* Waits for `child`, forwarding the signals of `set` to it, and returns its exit
 * status (128 + the signal if it was killed). */
int wait_forwarding(pid_t child, const sigset_t *set);

#endif
