/* kpb: decoder for Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
 * Prefix: kpb_.
 *
 * A body is "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw, contentEncoding,
 * contentType}; raw is the object encoded with its generated.proto message. kpb_decode() walks the
 * wire format generically with the descriptor tables generated from the upstream .proto files
 * (k3core/data/k8s-proto.c) and builds the JSON object the rest of the server handles, following
 * the Go JSON encoding: Time → RFC 3339 (zero omitted), Quantity → string, IntOrString → int or
 * string, bytes → base64, RawExtension/FieldsV1 → embedded JSON, empty strings omitted, inline
 * (embedded) structs merged into their parent object. There is no encoder: responses are JSON.
 */
#ifndef K3CORE_KPB_H
#define K3CORE_KPB_H

#include <jansson.h>

#include "dind/base.h"

enum kpb_type {
    KPB_STRING,
    KPB_BYTES,
    KPB_BOOL,
    KPB_INT32,
    KPB_INT64,
    KPB_UINT32,
    KPB_UINT64,
    KPB_DOUBLE,
    KPB_FLOAT,
    KPB_MSG,
    KPB_MAP,
};

enum kpb_special {
    KPB_SP_NONE,
    KPB_SP_TIME,
    KPB_SP_MICROTIME,
    KPB_SP_DURATION,
    KPB_SP_QUANTITY,
    KPB_SP_INTORSTRING,
    KPB_SP_RAWJSON, /* RawExtension, FieldsV1: field 1 holds JSON bytes */
    KPB_SP_ITEMS,   /* ExtraValue, Verbs: JSON is the bare `items` array */
};

/* A message field that is an embedded Go struct with `json:",inline"` (IngressRule's
 * ingressRuleValue, Volume's volumeSource, Probe's handler, ...): its fields are merged into the
 * parent JSON object instead of nesting under the proto field name. */
#define KPB_F_INLINE 1

struct kpb_field {
    unsigned num;
    const char *name;    /* the JSON name */
    unsigned char type;  /* enum kpb_type */
    unsigned char aux;   /* repeated flag; for KPB_MAP the value's kpb_type */
    int ref;             /* index in kpb_msgs of the message (or map value) type, else -1 */
    unsigned char flags; /* KPB_F_* */
};

struct kpb_msg {
    const char *name; /* full proto name, e.g. k8s.io.api.core.v1.ConfigMap */
    unsigned char special;
    unsigned nfields;
    const struct kpb_field *fields;
};

extern const struct kpb_msg kpb_msgs[];
extern const size_t kpb_nmsgs;

/* The message for apiVersion/kind ("apps/v1", "Deployment"), or NULL. */
const struct kpb_msg *kpb_find_kind(const char *api_version, const char *kind);
const struct kpb_msg *kpb_find(const char *full_name);

/* Decodes a whole body (with the "k8s\0" envelope). On success *ret is the object with apiVersion
 * and kind set from the envelope. -EINVAL with e filled for malformed input or unknown kinds. */
int kpb_decode(const void *data, size_t len, json_t **ret, dd_err *e);
/* Decodes one message of type m (no envelope). */
int kpb_decode_msg(const struct kpb_msg *m, const uint8_t *data, size_t len, json_t **ret,
                   dd_err *e);

#endif
