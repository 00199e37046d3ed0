#ifndef STAGE1_ENTER_H
#define STAGE1_ENTER_H

/* init enter PID APP [CMD...]: see docs/stage1-interface.md. */
int cmd_enter(int argc, char **argv);

#endif
