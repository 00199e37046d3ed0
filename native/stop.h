#ifndef STAGE1_STOP_H
#define STAGE1_STOP_H

/* init stop PID [--force] and init gc UUID: see docs/stage1-interface.md. */
int cmd_stop(int argc, char **argv);
int cmd_gc(int argc, char **argv);

#endif
