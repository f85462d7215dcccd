/* archive: dindd's /containers/{id}/archive endpoints (HEAD stat, GET tar, PUT extract) and
 * /containers/{id}/export (a tar of the container's own root, without its mounts). Prefix: arc_.
 *
 * All filesystem work on a container happens in a short-lived child process of the daemon that
 * first enters the container's root (see archive-child.c), so that paths, ".." and symlinks
 * resolve exactly as they do inside the container and nothing the child does can reach the
 * host's tree. The daemon side (archive.c) only relays bytes between the HTTP connection and
 * the child, with backpressure in both directions, and never blocks its event loop.
 */
#ifndef DINDD_ARCHIVE_H
#define DINDD_ARCHIVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "dind/base.h"
#include "dind/http.h"
#include "dind/tar.h"

/* ---- the child side (archive-child.c) ---- */

/* Whose root the child enters: a running container's (pid > 0: its mount namespace and root, so
 * its bind mounts are seen), else the mounted rootfs directory (created or exited containers). */
struct arc_root {
    pid_t pid;
    const char *rootfs;
};

/* ARC_EXPORT: `docker export`, a tar of the whole root with names relative to it ("bin/sh"). */
enum arc_op { ARC_STAT, ARC_GET, ARC_PUT, ARC_EXPORT };

struct arc_job {
    enum arc_op op;
    struct arc_root root;
    const char *path;      /* as the client gave it; "" = "/" */
    const char *container; /* the reference as the client gave it, for messages */
    /* ARC_PUT */
    tar_src body;
    bool no_overwrite_dir_non_dir;
    bool copy_uid_gid;
    const char *user; /* the container's Config.User, for copy_uid_gid */
};

/* Runs job in the calling (freshly forked, single-threaded) process and writes the result to
 * out: one JSON line first, {"status":200,"stat":{...}} or {"status":N,"message":"..."}, then for
 * ARC_GET the tar stream. Returns the process exit code: 0 when everything was written. */
int arc_child_run(const struct arc_job *job, int out);

/* The X-Docker-Container-Path-Stat value for a stat object (base64 of its compact JSON); caller
 * frees. */
char *arc_stat_header(const json_t *stat);
/* Go's os.FileMode bits for a st_mode (dir 1<<31, symlink 1<<27, ... | permission bits). */
uint32_t arc_go_filemode(mode_t m);

/* The endpoints are dindd_area_archive (daemon.h): HEAD, GET and PUT /containers/{id}/archive. */

#endif
