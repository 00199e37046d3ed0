#ifndef STAGE1_TAKEOVER_H
#define STAGE1_TAKEOVER_H

/* init takeover PLAN: the hand-over stage0 cannot do without FFI, done here from the
 * host, ending in an exec of the run entrypoint in the pod's stage1 root (takeover.c). */
int cmd_takeover(int argc, char **argv);

#endif
