/* dind-shim: rt's helper processes (the per-container shim and the exec helper) as a small
 * static program of their own. libdind spawns it instead of re-executing the calling program
 * (helper.c): a daemon binary linked with libdind and some twenty shared libraries costs tens of
 * milliseconds of dynamic linking and megabytes of RSS per container, this binary almost none.
 * It is linked from libdind's rt and base objects only; the helper marker and argv[0] protocol
 * are libdind's (rt_shim_main_if_requested never returns when they are present). Started any
 * other way, it explains itself and fails. */
#include <stdio.h>

#include "dind/rt.h"

int main(int argc, char **argv)
{
    rt_shim_main_if_requested(argc, argv);
    fprintf(stderr, "dind-shim: an internal helper of libdind (rt), not meant to be run by hand\n");
    return 2;
}
