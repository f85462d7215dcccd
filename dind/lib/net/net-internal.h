/* Shared between the net module's files; not a public interface. */
#ifndef DIND_NET_INTERNAL_H
#define DIND_NET_INTERNAL_H

#include "dind/net.h"

/* Comment prefix of every iptables rule we install; the bridge name follows. */
#define NET_RULE_TAG "k3d-dind-net:"

/* Installs the bridge's FORWARD accept rules and (if masquerade) the nat rule for cidr. */
int net_rules_ensure(const char *bridge, const struct net_cidr *cidr, bool masquerade,
                     const struct net_cidr *masq_exclude, dd_err *e);
/* Removes our rules for bridge (NULL: for every bridge); returns how many. */
int net_rules_remove(const char *bridge, dd_err *e);

#endif
