/* proxy.c: the node's service proxy (kube-proxy's role, iptables mode). It follows the service
 * view (svcview.c): every coalesced change, and every sync tick while a change is still owed,
 * renders the whole rule set (proxyrules.c) and, when the text differs from what is installed,
 * replaces the chain set "K3D-<bridge>-*" in one iptables-restore (net_chainset_apply), entered
 * from nat PREROUTING/OUTPUT/POSTROUTING and, for new connections, filter INPUT/FORWARD/OUTPUT.
 * Nothing is installed before the pod bridge is up. The cluster DNS address is left alone: the
 * node serves it itself. kubelet_stop removes the chains and jumps (the bridge's teardown would
 * too). Bridged pod-to-pod replies must pass iptables for DNAT to be undone, so
 * bridge-nf-call-iptables is switched on where the kernel has it.
 */
#include <fcntl.h>
#include <unistd.h>

#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/kubelet/proxyrules.h"

static const struct net_jump jumps[] = {
    {"nat", "PREROUTING", NULL, KPX_SERVICES},
    {"nat", "OUTPUT", NULL, KPX_SERVICES},
    {"nat", "POSTROUTING", NULL, KPX_POSTROUTING},
    {"filter", "INPUT", "-m conntrack --ctstate NEW", KPX_FILTER},
    {"filter", "FORWARD", "-m conntrack --ctstate NEW", KPX_FILTER},
    {"filter", "OUTPUT", "-m conntrack --ctstate NEW", KPX_FILTER},
};

static void bridge_nf_on(void)
{
    _cleanup_close_ int fd =
        open("/proc/sys/net/bridge/bridge-nf-call-iptables", O_WRONLY | O_CLOEXEC);
    if (fd >= 0 && write(fd, "1\n", 2) != 2)
        dd_warn("kubelet: service proxy: enabling bridge-nf-call-iptables: %s", strerror(errno));
}

void kl_proxy_sync(kubelet *k)
{
    ksvc_view *v = k->svcview;
    if (!v || !k->proxy_dirty || !k->net_up || k->stopping)
        return;
    _cleanup_free_ char *prefix = dd_asprintf(NET_CHAIN_PREFIX "%s-", k->net.bridge);
    struct kpx_opts o = {.prefix = prefix,
                         .cluster_cidr = k->cluster_cidr,
                         .skip_ip = k->cluster_dns,
                         .node_name = k->node_name};
    char *text = kpx_rules(ksvc_services(v), ksvc_slices(v), &o);
    if (k->proxy_rules && !strcmp(text, k->proxy_rules)) {
        free(text);
        k->proxy_dirty = false;
        return;
    }
    if (!k->proxy_rules)
        bridge_nf_on();
    struct net_chainset cs = {.bridge = k->net.bridge,
                              .text = text,
                              .jumps = jumps,
                              .n_jumps = DD_ARRAY_SIZE(jumps),
                              .localnet = true};
    dd_err e = {0};
    if (net_chainset_apply(&cs, &e) < 0) {
        /* retried on every sync tick: said once, until it works again */
        if (!k->proxy_failed)
            dd_warn("kubelet: service proxy: %s", e.msg);
        else
            dd_debug("kubelet: service proxy: %s", e.msg);
        k->proxy_failed = true;
        free(text);
        return;
    }
    k->proxy_failed = false;
    free(k->proxy_rules);
    k->proxy_rules = text;
    k->proxy_dirty = false;
    dd_debug("kubelet: service proxy rules updated (%zu bytes)", strlen(text));
}

static void on_view_changed(void *ud)
{
    kubelet *k = ud;
    k->proxy_dirty = true;
    kl_proxy_sync(k);
}

void kl_proxy_start(kubelet *k)
{
    k->proxy_dirty = true;
    ksvc_subscribe(k->svcview, on_view_changed, k);
}

void kl_proxy_stop(kubelet *k)
{
    ksvc_unsubscribe(k->svcview, on_view_changed, k);
    dd_err e = {0};
    if (k->proxy_rules && net_chainset_remove(k->net.bridge, &e) < 0)
        dd_warn("kubelet: service proxy: %s", e.msg);
    free(k->proxy_rules);
    k->proxy_rules = NULL;
}
