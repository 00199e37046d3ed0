/* Capabilities: what an app may ever hold, and what it holds now. */
#ifndef STAGE1_CAPS_H
#define STAGE1_CAPS_H

#include <stdint.h>

/* Drops every capability not in MASK (bit N = capability N) from the bounding set,
 * so no execve, not even of a setuid-root or file-capability binary, gets it back.
 * Needs CAP_SETPCAP: call it before changing uid. */
void caps_bound(uint64_t mask);

/* Keeps only MASK in the effective, permitted and inheritable sets. The bounding set
 * does not limit the inheritable set, and at execve a uid 0 process gains its
 * inheritable set whatever the bounding set says; this closes that. Lowering needs
 * no capability, so it works after the uid change too. */
void caps_limit(uint64_t mask);

#endif
