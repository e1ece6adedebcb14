#!/usr/bin/env bash
# Packs a directory into a one-layer image archive in the `docker save` format (manifest.json,
# config, an uncompressed layer tar) that `ctr images import` and `buildah pull docker-archive:`
# read: an image made without a registry or a container engine.
#
#   test/cluster/image-tar.sh <rootfs dir> <image name> <out.tar> [config JSON of the image]
#
# The config JSON is the image's "config" object, e.g. '{"Entrypoint":["/pause"]}'; PATH is set
# when it has no Env.
set -euo pipefail
[[ $# -ge 3 ]] || { echo "usage: $0 <rootfs dir> <image name> <out.tar> [config JSON]" >&2; exit 2; }
rootfs="$1" name="$2" out="$3"
config="${4:-{\}}"
[[ -d "$rootfs" ]] || { echo "image-tar: $rootfs is not a directory" >&2; exit 1; }
if [[ "$config" != *'"Env"'* ]]; then
  env='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
  if [[ "$config" == '{}' ]]; then config="{$env}"; else config="{$env,${config#\{}"; fi
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Fixed owners and times: the same tree gives the same layer digest.
tar --numeric-owner --sort=name --mtime=@0 -C "$rootfs" -cf "$work/layer.tar" .
layer="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
mv "$work/layer.tar" "$work/$layer.tar"
printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"test/cluster/image-tar.sh"}]}' \
  "$config" "$layer" >"$work/config.json"
cfg="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
mv "$work/config.json" "$work/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s.tar"]}]' "$cfg" "$name" "$layer" >"$work/manifest.json"
tar -C "$work" -cf "$out" manifest.json "$cfg.json" "$layer.tar"
echo "image-tar: $name -> $out ($(du -h "$out" | cut -f1), layer sha256:${layer:0:12})" >&2
