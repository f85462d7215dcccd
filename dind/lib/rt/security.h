/* rt security: capabilities by name, Docker's default capability set, the daemon's bounding set
 * (what --privileged gets here), and Docker's default seccomp profile. Internal to the rt module.
 *
 * Order the container child must use before execve (runc's order):
 *   1. rt_seccomp_apply_default(caps, e)   -- skipped for privileged / seccomp=unconfined.
 *      Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so this comes while the child
 *      still holds every capability. The profile allows everything the next steps use (prctl,
 *      capset, setgroups, setresgid, setresuid, execve). A caller that wants
 *      --security-opt no-new-privileges sets prctl(PR_SET_NO_NEW_PRIVS) itself before step 1.
 *   2. rt_caps_apply(caps, uid, e)         -- still as root (euid 0), before setuid.
 *   3. setgroups(), setresgid(gid...), setresuid(uid...)
 *   4. execve()
 * What the process ends up with (as Docker): bounding = caps; uid 0: permitted = effective =
 * caps; uid != 0: no permitted/effective caps (setresuid clears them, KEEPCAPS is off);
 * inheritable and ambient are empty (Docker >= 20.10.14 behaviour, CVE-2022-24769).
 *
 * Capability numbers are Linux's (CAP_* from <linux/capability.h>); a set is a uint64_t bitmask
 * with bit n = capability n.
 */
#ifndef DIND_RT_SECURITY_H
#define DIND_RT_SECURITY_H

#include <stdint.h>
#include <sys/types.h>

#include "dind/base.h"

#define RT_CAP_BIT(c) (UINT64_C(1) << (c))

/* "CAP_NET_ADMIN" or "NET_ADMIN", any case -> 12. -EINVAL for an unknown name (e->msg says
 * which). "ALL" is not a capability: the caller expands it (to rt_caps_daemon_bounding()). */
int rt_cap_from_name(const char *name, int *ret_cap);
/* "CAP_NET_ADMIN"; NULL for a number we do not know. */
const char *rt_cap_name(int cap);
/* Highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap). */
int rt_cap_last(void);

/* Docker's 14 defaults: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
 * SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE. */
uint64_t rt_caps_docker_default(void);
/* Our own bounding set (PR_CAPBSET_READ over every known capability): what --privileged gets. */
uint64_t rt_caps_daemon_bounding(void);

/* Step 2 above. caps is masked with our bounding set (asking for a capability we do not hold is
 * not an error: privileged = what we have). Must run with euid 0 and CAP_SETPCAP. */
int rt_caps_apply(uint64_t caps, uid_t uid, dd_err *e);

/* Step 1 above: builds Docker's default profile (moby profiles/seccomp/default.json) for the
 * capability set caps on the native architecture (plus its 32-bit companions as Docker does),
 * default action EPERM, and loads it without setting no_new_privs. Syscall names that libseccomp
 * does not know on this architecture are skipped. */
int rt_seccomp_apply_default(uint64_t caps, dd_err *e);
/* The same filter as a classic BPF program (struct sock_filter[]), for a caller that compiles it
 * once and loads it in many children (rt's seccomp cache). *ret is malloc'ed. */
int rt_seccomp_export_default(uint64_t caps, void **ret, size_t *ret_len, dd_err *e);

#endif
