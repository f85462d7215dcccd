/* podfiles: what the kubelet writes for a pod's name resolution and service discovery, pure
 * (no I/O) for unit tests — the managed /etc/hosts (pod IP with hostname and subdomain FQDN,
 * hostAliases), /etc/resolv.conf per dnsPolicy and dnsConfig, and the Docker-link style service
 * environment variables (FOO_SERVICE_HOST, FOO_PORT_80_TCP_ADDR, ...). Prefix: kpf_.
 * Every returned string or strv is the caller's to free.
 */
#ifndef K3CORE_KUBELET_PODFILES_H
#define K3CORE_KUBELET_PODFILES_H

#include "dind/json.h"

/* The pod's hostname: spec.hostname or the pod name (at most 63 bytes, like upstream). */
char *kpf_hostname(const json_t *pod);

/* /etc/hosts as upstream's kubelet writes it ("# Kubernetes-managed hosts file." ...). */
char *kpf_hosts(const json_t *pod, const char *pod_ip, const char *cluster_domain);
/* /etc/hosts of a hostNetwork pod: the node's own hosts file plus the pod's HostAliases. */
char *kpf_hosts_host_network(const json_t *pod, const char *node_hosts);

struct kpf_dns {
    const char *cluster_dns;    /* nameserver for ClusterFirst (e.g. 10.43.0.10) */
    const char *cluster_domain; /* cluster.local */
    const char *host_resolv;    /* the node's /etc/resolv.conf text (dnsPolicy Default), or NULL */
};
/* /etc/resolv.conf for the pod's dnsPolicy (ClusterFirst by default, Default, None,
 * ClusterFirstWithHostNet) merged with spec.dnsConfig. -EINVAL when the result has no
 * nameserver with policy None ("dnsPolicy None needs dnsConfig.nameservers"). */
int kpf_resolv(const json_t *pod, const struct kpf_dns *d, char **ret, dd_err *e);

/* Service variables for the pod: every Service of `services` (items of a list, all of the pod's
 * namespace) when spec.enableServiceLinks is not false, plus `master` (the default/kubernetes
 * Service, may be NULL) always. Headless services and ones without a clusterIP are skipped.
 * Returns a strv of "K=V" sorted by name. */
char **kpf_service_env(const json_t *pod, const json_t *services, const json_t *master);

#endif
