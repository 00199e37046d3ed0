/* The pod's loopback interface. */
#ifndef STAGE1_LOOPBACK_H
#define STAGE1_LOOPBACK_H

/* Brings `lo` up if it is down. A pod with its own network namespace (--net=none) starts
 * with lo down, and apps expect 127.0.0.1 to work; in the host's namespace lo is up and
 * nothing changes. */
void loopback_up(void);

#endif
