/* The stage1 init: one static binary for the four entrypoints of the stage1
 * interface (docs/stage1-interface.md), chosen by argv[1], and `takeover`, which the
 * run entrypoint's file serves for a stage0 without FFI (takeover.c). */
#include <string.h>

#include "enter.h"
#include "run.h"
#include "stop.h"
#include "takeover.h"
#include "util.h"

int main(int argc, char **argv)
{
	if (argc >= 2) {
		if (!strcmp(argv[1], "run"))
			return cmd_run(argc, argv);
		if (!strcmp(argv[1], "enter"))
			return cmd_enter(argc, argv);
		if (!strcmp(argv[1], "stop"))
			return cmd_stop(argc, argv);
		if (!strcmp(argv[1], "gc"))
			return cmd_gc(argc, argv);
		if (!strcmp(argv[1], "takeover"))
			return cmd_takeover(argc, argv);
	}
	usage();
}
