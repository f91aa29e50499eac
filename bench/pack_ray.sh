#!/usr/bin/env bash
# Pack Ray for a GPU machine that has no network and no Ray (the device image), small enough to
# travel with a call (64 MiB in all): the cp312 manylinux wheel without ray/jars, rllib, serve,
# data and the dashboard client, as one xz tarball, plus jsonschema and its small dependencies.
#   bash bench/pack_ray.sh [RAY_VERSION]     -> .whl/ray_slim.tar.xz, .whl/*.whl (jsonschema & co)
# On the GPU machine (bench/gpu_session.sh does this when .whl/ray_slim.tar.xz exists):
#   mkdir -p /tmp/site && tar -xJf .whl/ray_slim.tar.xz -C /tmp/site && export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
version=${1:-$(python3 -c "import ray; print(ray.__version__)" 2>/dev/null || echo 2.52.0)}
mkdir -p .whl
tmp=$(mktemp -d)
platforms=(--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$tmp" "ray==$version"
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl jsonschema
rm -f .whl/attrs-*.whl .whl/typing_extensions-*.whl  # already on the device image
mkdir -p "$tmp/site"
python3 -m zipfile -e "$tmp"/ray-*.whl "$tmp/site"
rm -rf "$tmp/site/ray/jars" "$tmp/site/ray/rllib" "$tmp/site/ray/serve" "$tmp/site/ray/data" \
  "$tmp/site/ray/dashboard/client"
tar -cJf .whl/ray_slim.tar.xz -C "$tmp/site" .
rm -rf "$tmp"
ls -la .whl
du -ch .whl/* | tail -1
