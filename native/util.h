/* Errors, numbers and small file writes shared by every entrypoint. */
#ifndef STAGE1_UTIL_H
#define STAGE1_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdnoreturn.h>
#include <sys/types.h>

/* The exit status that means stage1 itself failed (docs/stage1-interface.md). */
#define EXIT_STAGE1 254

/* Where stage0 puts the pod's files, inside the stage1 root. */
#define RKT_DIR "/rkt"
#define CONF_PATH RKT_DIR "/stage1.conf"

/* Prints `stage1: CALL WHAT: strerror(errno)` and exits 254. */
noreturn void die(const char *call, const char *what);

/* Prints `stage1: ` and the formatted message, and exits 254. */
noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In a child that is about to exec: die() and fail() also write a byte to `fd`, so the
 * parent can tell a failed start from a started app (see app_spawn). */
void die_tell(int fd);

void *xrealloc(void *ptr, size_t size);

/* The next KEY and VALUE of a NUL-separated key, value list (stage1.conf, the plan)
 * read from *AT on; false when KEY is the last string and has no value. */
bool nul_pair(char *buf, size_t len, size_t *at, char **key, char **value);

/* The position of KEY in the NULL-terminated LIST, or -1: the parsers' key tables. */
int index_of(const char *const *list, const char *key);

/* A decimal (base 10), octal (base 8) or hexadecimal (base 16, optional 0x) number
 * with nothing around it: no sign, no spaces, not empty, at most `max`. */
bool parse_uint(const char *s, int base, unsigned long long max, unsigned long long *out);

/* A host PID given on the command line: never 0 or 1 or negative, since kill(2)
 * would take those as "my group", "init" or "everyone". */
pid_t parse_pid(const char *s);

/* The whole of a file stage0 wrote (at most MAX bytes, else it fails), NUL-terminated
 * after its LEN bytes; the buffer lives as long as the process. */
char *read_file(const char *path, size_t max, size_t *len);

/* DIR/NAME into `buf`, failing when it does not fit. */
void path_join(char *buf, size_t size, const char *dir, const char *name);

/* Writes TEXT to a temporary name beside PATH, fsyncs it and renames it into place, so
 * a reader never sees a half-written file. */
void write_file_atomic(const char *path, const char *text);

/* An empty file at PATH (kept if it exists). */
void touch(const char *path);

/* mkdir that accepts an existing directory. */
void mkdir_if_missing(const char *path, mode_t mode);

/* Marks every fd from `first` up close-on-exec in this process only: the fd table is
 * per process after fork, so the parent's fds stay as they are. */
void cloexec_from(int first);

/* A wait status as an exit status: the code, or 128 + the signal. */
int exit_status(int wstatus);

noreturn void usage(void);

#endif
