#!/usr/bin/env bash
# Wheels for a GPU machine with no network whose image lacks some of the package's pure
# dependencies (the lent image has torch and triton, not pydantic): the cp312 manylinux wheels of
# pydantic (with pydantic-core, annotated-types, typing-inspection, typing-extensions), hypothesis
# (with sortedcontainers, for the gpu-marked tests) and safetensors (kept weights), about 4.5 MB.
#   bash bench/pack_wheels.sh [PYTHON_VERSION]   -> .whl/opt/*.whl (default 3.12, the image's)
# bench/gpu_session.sh installs them into /tmp/site on the GPU machine when `import pydantic,
# hypothesis` fails there; carry `.whl` with the call.
# The wheels are downloaded into a fresh folder that then replaces .whl/opt: a wheel left from an
# earlier run beside a newer one of the same project makes pip on the GPU machine refuse both
# ("Cannot install hypothesis 6.170.27 and hypothesis 6.170.29"), and the call fails.
set -euo pipefail
python_version=${1:-3.12}
mkdir -p .whl
fresh=$(mktemp -d .whl/opt.new.XXXXXX)
trap 'rm -rf "$fresh"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$fresh" \
  pydantic pydantic-core annotated-types typing-inspection typing-extensions hypothesis sortedcontainers safetensors
# pydantic pins pydantic-core exactly: the two must come from the same resolution; one wheel a project
FRESH="$fresh" python3 - <<'PY'
import collections, os, pathlib, re, sys, zipfile
opt = pathlib.Path(os.environ["FRESH"])
projects = collections.Counter(p.name.split("-")[0].lower() for p in opt.glob("*.whl"))
if twice := sorted(name for name, n in projects.items() if n > 1):
    sys.exit(f"more than one wheel of {twice} in {opt}")
wheel = next(opt.glob("pydantic-[0-9]*.whl"))
with zipfile.ZipFile(wheel) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    pin = re.search(r"^Requires-Dist: pydantic-core==([\w.]+)", z.read(meta).decode(), re.M)
cores = [p.name.split("-")[1] for p in opt.glob("pydantic_core-*.whl")]
if pin is None or pin.group(1) not in cores:
    sys.exit(f"{wheel.name} needs pydantic-core=={pin and pin.group(1)}; the download has {cores}")
PY
chmod 755 "$fresh"  # mktemp makes it 0700
rm -rf .whl/opt
mv "$fresh" .whl/opt
ls -la .whl/opt
du -ch .whl/opt/*.whl | tail -1
