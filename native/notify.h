/* Readiness: /rkt/ready and sd_notify(3) READY=1 once every app has started. */
#ifndef STAGE1_NOTIFY_H
#define STAGE1_NOTIFY_H

#include "conf.h"

/* Called by PID 1 after each round of starting apps. The first time every app of POD
 * has /rkt/started/<app>, writes the empty file /rkt/ready (atomically) and then, when
 * NOTIFY_SOCKET is set, sends "READY=1" to it. Later calls do nothing. A failed send
 * is reported on stderr and is not fatal: the pod runs on. */
void notify_if_ready(const struct pod *pod);

#endif
