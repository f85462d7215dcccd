/* create: parsing and validating a Docker create body (create.c) and translating a container into
 * the runtime's rt_spec (spec.c, spec-build.c). Internal to dindd's container modules. */
#ifndef DINDD_CREATE_H
#define DINDD_CREATE_H

#include <jansson.h>

#include "container.h"

struct rt_spec;
struct img_image;

/* Parses the body (case-insensitive keys, unknown fields ignored) into the canonical Config,
 * HostConfig (dockerd's defaults filled in) and NetworkingConfig.EndpointsConfig (or NULL), and
 * validates everything that needs no runtime. -EINVAL with a client-facing message otherwise. */
int create_parse(const char *body, size_t len, json_t **ret_config, json_t **ret_host_config,
                 json_t **ret_net_config, dd_err *e);
/* Re-validates a HostConfig changed by `docker update` (restart policy, limits). */
int create_check_update(json_t *hc, dd_err *e);
/* Merges the image's run config (the image config's "config" object) into cfg, dockerd's way. */
void create_merge_image(json_t *cfg, const json_t *img_config);
/* Path and Args from Entrypoint + Cmd; -EINVAL "No command specified" when both are empty. */
int create_command(const json_t *cfg, char **ret_path, char ***ret_args, dd_err *e);

/* One mount as parsed from Binds, Mounts and Tmpfs (in that order). */
struct spec_mount {
    char *type;        /* "bind" or "tmpfs" (volumes are ctr-volumes.h's: spec_mounts skips them) */
    char *source;      /* host path ("" for tmpfs) */
    char *dest;        /* absolute path in the container */
    char *mode;        /* Binds' mode text as given ("ro", "z", ""), for inspect */
    char *propagation; /* "rprivate" etc. for binds, "" otherwise */
    bool rw;
    bool in_inspect; /* shown in inspect's Mounts (Tmpfs entries are not) */
    char **opts;     /* rt_mount options */
};
/* dir: the container's directory (anonymous volumes live under it); NULL when only checking. */
int spec_mounts(const json_t *hc, const char *dir, struct spec_mount **ret, size_t *ret_n,
                dd_err *e);
void spec_mounts_free(struct spec_mount *m, size_t n);
int spec_check_host_config(const json_t *hc, dd_err *e);
/* Docker's default capabilities with CapAdd/CapDrop applied ("ALL" included). */
int spec_caps(const json_t *hc, uint64_t *ret, dd_err *e);
/* Ulimits, Sysctls and Devices into spec (spec NULL: only check). */
int spec_limits(const json_t *hc, struct rt_spec *spec, dd_err *e);

/* Builds the rt_spec of c from its canonical config and its image's layers (img). Writes the
 * container's hosts / hostname / resolv.conf into c->dir and creates missing bind sources and
 * anonymous volume directories. Containers named in container:<x> modes are looked up in s and
 * must be running. */
int spec_build(struct ctr_store *s, struct container *c, const struct img_image *img,
               struct rt_spec *ret, dd_err *e);
/* Writes hosts, hostname and resolv.conf into c->dir. */
int spec_write_etc(struct container *c, dd_err *e);

#endif
