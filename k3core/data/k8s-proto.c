/* k8s-proto.c: compiles the generated message descriptors (k8s-proto.inc, made by gen-proto.py
 * from the upstream Kubernetes 1.33 .proto files) for the protobuf body decoder. */
#include "k3core/server/kpb.h"

#include "k3core/data/k8s-proto.inc"
