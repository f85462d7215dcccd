/* net/addr: the node's own addresses as seen through getifaddrs. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include "dind/net.h"

char *net_first_ipv4(void)
{
    struct ifaddrs *ifs = NULL, *i;
    char buf[INET_ADDRSTRLEN] = "127.0.0.1";
    if (getifaddrs(&ifs) == 0) {
        for (i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
                continue;
            struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
            if ((ntohl(a.s_addr) >> 24) == 127)
                continue;
            inet_ntop(AF_INET, &a, buf, sizeof(buf));
            break;
        }
        freeifaddrs(ifs);
    }
    return dd_strdup(buf);
}
