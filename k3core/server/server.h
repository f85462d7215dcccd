/* server: `k3core server` — the Kubernetes API server front end. Prefix: ksrv_.
 *
 * ksrv_run() owns the process: it creates or loads the PKI and the store, writes the admin
 * kubeconfig, listens with TLS, serves until SIGTERM/SIGINT and returns the exit code.
 */
#ifndef K3CORE_SERVER_H
#define K3CORE_SERVER_H

#include "k3core/server/config.h"

#define K3CORE_K8S_VERSION "v1.33.1"
#define K3CORE_VERSION     "v1.33.1+k3core1"

/* Returns the process exit status (0 after a clean shutdown). */
int ksrv_run(const struct kcfg *cfg);

#endif
