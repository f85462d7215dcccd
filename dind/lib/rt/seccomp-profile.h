/* The shape of a seccomp profile as data: Docker's default.json expressed as C tables
 * (seccomp-profile.c) and read by security.c. Internal to the rt module. */
#ifndef DIND_RT_SECCOMP_PROFILE_H
#define DIND_RT_SECCOMP_PROFILE_H

#include <stddef.h>
#include <stdint.h>

enum rt_sc_action { RT_SC_ALLOW, RT_SC_ERRNO };
enum rt_sc_op { RT_SC_EQ, RT_SC_NE, RT_SC_MASKED_EQ };

struct rt_sc_arg {
    unsigned index;
    enum rt_sc_op op;
    uint64_t value; /* the mask for RT_SC_MASKED_EQ */
    uint64_t value2;
};

/* One entry of default.json's "syscalls" array. Lists are NULL-terminated. A rule applies when
 * every capability of caps_all is in the container's set, none of caps_none is, and the native
 * architecture (Docker's names: amd64, x86, x32, arm64, arm, s390x, s390, ppc64le, riscv64) is in
 * arches (if set) and not in not_arches. */
struct rt_sc_rule {
    const char *const *names;
    enum rt_sc_action action;
    int errno_ret; /* for RT_SC_ERRNO */
    const struct rt_sc_arg *args;
    size_t n_args;
    uint64_t caps_all;
    uint64_t caps_none;
    const char *const *arches;
    const char *const *not_arches;
};

extern const struct rt_sc_rule rt_sc_default_rules[];
extern const size_t rt_sc_default_n_rules;

#endif
