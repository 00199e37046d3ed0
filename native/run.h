#ifndef STAGE1_RUN_H
#define STAGE1_RUN_H

/* init run: see docs/stage1-interface.md. */
int cmd_run(int argc, char **argv);

#endif
