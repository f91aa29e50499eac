#!/usr/bin/env bash
# One GPU session: carried wheels, GPU kernel tests, then the prefill benchmark. Output under $OUT.
#   bash bench/gpu_session.sh [tests|tests-all|gpu-marked|bench|quick|all|ts-probe|train-bench|step-graphs|fused-conv|split-wgrad|compile|conv-tune|seen-before|workers|profile-step|paper-rates|paper|profile NAME|slim [PROFILE]|unpack FILES_AT|land FILES_AT [PROFILE]|archive [PROFILE]|restore [PROFILE]] [extra args...]
# `tests` runs a subset that compiles in about 6 minutes on an H100 (every dtype at one shape per
# feature-dim class, the segment-parallel path, the fixed fp32 cases, training equivalence);
# `tests-all` runs every kernel test (longer than one 10-minute device call); `gpu-marked` every
# gpu-marked test outside the kernel grid (ensembles in bf16, training equivalence).
# `ts-probe` runs the transposed-state forward alone at BT = 16, 32, 64 (1 and 2 stages), each in
# its own process with CUDA_LAUNCH_BLOCKING=1 (under compute-sanitizer when it is on the PATH), to
# find which block shapes stop with an illegal memory access (bench/NOTES-kernels.md).
# `train-bench` measures training throughput at the paper profile's shapes: one run alone, N
# processes, ensembles of K = 1..64 (figures/data/train_throughput_cuda_paper.csv).
# `step-graphs` runs the GPU tests of the CUDA-graph training step and the fused member LayerNorm,
# then times eager, graphed and graphed + fused-norm steps at the paper profile's shapes (ensembles
# of 8, the paper sweep's size; STEPS per measurement).
# `fused-conv` runs the GPU tests of the Triton depthwise convolution and the graphed step (with the
# fused conv and the padded matmuls on), then times training with neither, the fused conv (on by
# default since), and both (READTWICE_FUSED_CONV, READTWICE_PAD_GEMM) in the same call (ensembles
# of 8, paper shapes).
# `split-wgrad` runs the GPU tests of MemberLinear's split weight gradient (READTWICE_SPLIT_WGRAD:
# each member's rows in up to 16 groups) and the graphed step with it on, times each MemberLinear
# shape of the paper models at d_model 36 and 128 one way and the other (bench/member_linear.py),
# then training with READTWICE_SPLIT_WGRAD=0 and 1 in the same call (ensembles of 8, paper shapes).
# `compile` tries the step's forward and loss through torch.compile (READTWICE_COMPILE): dynamo's
# graph breaks on the GPU, then replayed steps of ensembles of 8 at one batch shape (profile_step.py
# --pairs 1: the warm-up's wall time holds the compile) at d_model 36 / 128, eager / static /
# dynamic / eager, then the gpu-marked tests that compiled graphs train as eager steps (Based);
# EXPLAIN=0 skips the graph-break count, CALL_S=0 the tests; PAIRS=12 (with WARMUP=72) trains on
# all 12 batch shapes, so that the warm-up holds every compile (MODES="0 auto": dynamo's default).
# Dynamo logs why it recompiles (TORCH_LOGS=recompiles; TORCH_LOGS= turns it off) into compile.log.
# `conv-tune` times the fused depthwise convolution's forward + backward for several backward
# program counts and tile sizes against PyTorch's conv1d (bench/conv_backward.py; about 2 minutes).
# `seen-before` runs, on the GPU, every kept model of the checking profile (carry
# results/sd_order/checking/models) through bench/accuracy_by_position.py (accuracy by where the
# shared token sits) and the seen-before probe, then the untrained models of its first 2 runs a
# variant through the probe (bench/seen_before_cpu.py --device cuda; SEEN_PARTS picks the steps,
# SEEN_EXAMPLES, STATE_EXAMPLES, UNTRAINED, PARTS_OF_SET). Afterwards, here:
# `python bench/seen_before_cpu.py --label CSV` (with `--untrained 2` for the untrained CSV) and
# `python bench/accuracy_by_position.py --label CSV` name each model's mechanism from the records.
# `paper-rates` measures ensembles of 8 at all 20 paper shapes and prints the paper profile's cost.
# `workers` times one ensemble of 8 against two at once in two processes (the paper sweep's layout:
# two workers a GPU) at the smallest and largest paper shapes, same call; the cost estimate then
# takes the faster (bench/train_throughput.py --processes 2 --process-members 8).
# `profile-step` profiles replayed (graphed, fused-norm) steps of ensembles of 8 at the smallest and
# largest paper shapes (bench/profile_step.py; the table for bench/NOTES-training.md), then eager
# steps at the largest with each operator's GPU time by the line or autograd node that ran it.
# `paper` trains the sd_order paper profile until PAPER_MINUTES (default 9) minutes into the command
# (what came before, such as FORWARD_BENCH, counts; at least a minute must be left), resuming
# from results/sd_order/paper/runs.jsonl (tracked: it travels; it comes back under $OUT), two workers
# per GPU (or WORKERS: two recorded 3.5 runs a device-minute on an H100 against 2.0 for one,
# bench/NOTES-training.md); each call continues where the last stopped. The ensemble in flight at the
# limit keeps its state at its last evaluation (synthetic/snapshots.py): the records come back as
# $OUT/runs.jsonl.gz (refreshed every 30 s, so a call cut off early still returns them), the snapshots as $OUT/snapshots.tar.part-* (pieces under the 16 MiB a returned
# file may have; the tar also holds the weights the profile keeps, save_models = "checking": those of
# the models that check, 0.5-1.6 MB each) with the sha256 of the tar and of each piece; here,
#   bash bench/gpu_session.sh unpack FILES_AT [PROFILE]
# checks them, puts them in results/sd_order/PROFILE/, says what the next call will send and ends with
# the subject for the commit of the new records (built from them: profile, GPU, commit, runs per shape;
# `land FILES_AT` does unpack, that commit and the next `slim` in one step, below);
# commit runs.jsonl (and runs.archive*.jsonl.gz, the archive's volumes of at most about 4 MB, which
# unpack refreshes once the live file passes 4 MB) at once. Before a call, `bash bench/gpu_session.sh slim` rewrites the committed
# runs.jsonl in the working tree with the fields the sweep reads (about 3 of 34 KB a paper record;
# the call sends the working tree), and `unpack` restores the committed records and appends the
# new ones. A snapshot holds 12 bytes a parameter a member (fp32 weights, Adam's two
# moments): ensembles of 8 take 8.6 / 11.7 / 16.2 / 26.1 / 37.2 MB at d_model 36 / 48 / 64 / 96 /
# 128 (f = 24), and a call sends at most 64 MiB with the repository (~16 MB) and wheels (4 MB): the
# sweep gets `--snapshot-mb $(( 36 / workers ))` (SNAPSHOT_MB overrides it), which cuts ensembles to
# at most 5 members at d_model 96 (8 runs: 4 + 4) and 3 at 128 (3 + 3 + 2) with two workers (`unpack` prints the sum; the paper
# records grow about 30 KB a run).
# The next call carries the snapshots folder
# (carry: [".whl", "results/sd_order/paper/snapshots"]) and goes on from there. With Ray carried as
# a wheel (README), RUNNER=ray places one ensemble per GPU task. `profile NAME` does the same for
# another sd_order profile.
# Snapshots and kept weights are ignored by git (with them a call would pass 64 MiB), so a new
# checkout of main has none: at a session's end `bash bench/gpu_session.sh archive` commits them
# and untracks them again in the next commit; `bash bench/gpu_session.sh restore` puts the last
# archived ones back (untracked) before the next `paper` call carries them.
# A call returns at most 8 files from $OUT (16 MiB each): run one sweep mode a call (a sweep mode
# returns its log, runs.jsonl.gz, snapshots.sha256 and up to 4 snapshot pieces); a second mode in
# the same call can push the snapshot pieces over the count, and they are lost.
# Provenance: records and CSVs carry `git rev-parse --short HEAD` of the copy on the device, with
# `-dirty` when its tracked files differ from that commit (the copy's git can be older than the
# working tree sent with it); set READTWICE_COMMIT=<rev> in the command to name the commit exactly.
set -uo pipefail
what=${1:-all}; shift || true
py=python3; [[ -x .venv/bin/python ]] && py=.venv/bin/python  # this machine's Python (slim, unpack)
if [[ $what == slim ]]; then  # on this machine, before a `paper` call: send slim records (bench/slim_records.py)
  # and name the commit the call sends in .gpu_next_commit (ignored by git; carry it and pass
  # READTWICE_COMMIT=$(cat .gpu_next_commit)), with "-dirty" when tracked files other than the slim
  # records differ from it; a failure removes the file
  rm -f .gpu_next_commit
  records=results/sd_order/${1:-paper}/runs.jsonl
  "$py" bench/slim_records.py slim "$records" || exit 1
  sha=$(git rev-parse HEAD) || exit 1
  if git status --porcelain --untracked-files=no | grep -vqxF " M $records"; then
    echo "slim: tracked files other than $records differ from $sha; the next call's records say -dirty" >&2
    sha="$sha-dirty"
  fi
  echo "$sha" > .gpu_next_commit
  echo "next call: READTWICE_COMMIT=\$(cat .gpu_next_commit) = $sha; carry .gpu_next_commit"
  exit
fi
if [[ $what == archive || $what == restore ]]; then  # on this machine: keep snapshots and kept weights across checkouts
  # They are ignored (a call sends the working tree, and with them it would pass 64 MiB), so a new
  # checkout of main has none. `archive` commits them and untracks them again in the next commit
  # (the files stay here); `restore` puts the last archived ones back, untracked (a snapshot whose
  # runs are recorded meanwhile is pruned by the next sweep).
  dest=results/sd_order/${1:-paper}; subject="archive $dest: snapshots and kept weights"
  if [[ $what == archive ]]; then
    git diff --cached --quiet || { echo "archive: the index has staged changes; commit or unstage them first" >&2; exit 1; }
    paths=(); for d in snapshots models; do compgen -G "$dest/$d/*" >/dev/null && paths+=("$dest/$d"); done
    (( ${#paths[@]} )) || { echo "archive: nothing in $dest/snapshots or $dest/models" >&2; exit 1; }
    git add -f -- "${paths[@]}" && git commit -q -m "$subject" -m "bash bench/gpu_session.sh restore puts them back" \
      && sha=$(git rev-parse HEAD) && git rm -r -q --cached -- "${paths[@]}" \
      && git commit -q -m "archive $dest: untracked again (archived in ${sha:0:12})" || exit 1
    echo "archived in $sha: $(git ls-tree -r --name-only "$sha" -- "${paths[@]}" | wc -l) files; here, untracked as before"
  else
    sha=$(git log -1 --format=%H --fixed-strings --grep="$subject")
    [[ -n $sha ]] || { echo "restore: no commit '$subject' on this branch" >&2; exit 1; }
    files=$(git ls-tree -r --name-only "$sha" -- "$dest/snapshots" "$dest/models")
    for f in $files; do mkdir -p "$(dirname "$f")" && git show "$sha:$f" > "$f" || exit 1; done
    echo "restored from $sha: $(echo "$files" | grep -c .) files (untracked); carry $dest/snapshots with the next call"
  fi
  exit
fi
if [[ $what == land ]]; then  # on this machine, right after a `paper` call: unpack, commit, slim
  # A lent machine may go back seconds after a call (its idle release); chaining the next call in
  # time needs the whole step between two calls in one command. `land FILES_AT [PROFILE]` unpacks the
  # call's files (as `unpack`), commits the new records with unpack's subject, slims the records for
  # the next call and writes the commit it will send to .gpu_next_commit (ignored by git; carry it):
  #   [ -s .gpu_next_commit ] || exit 3; READTWICE_COMMIT=$(cat .gpu_next_commit) bash bench/gpu_session.sh paper
  # Any failure removes .gpu_next_commit first, so that a next call sent anyway stops at once instead
  # of training again what the failed step did not land. "-dirty" follows the commit when other
  # tracked files differ from it (the records then name it so; `slim` writes the file, and before a
  # session's first call `slim` alone does).
  from=${1:?usage: bash bench/gpu_session.sh land FILES_AT [PROFILE]}; profile=${2:-paper}
  dest=results/sd_order/$profile
  rm -f .gpu_next_commit
  git diff --cached --quiet || { echo "land: the index has staged changes; commit or unstage them first" >&2; exit 1; }
  unpacked=$(bash "$0" unpack "$from" "$profile" 2>&1); status=$?
  echo "$unpacked"
  (( status == 0 )) || { echo "land: unpack failed (above); nothing committed" >&2; exit 1; }
  records=("$dest/runs.jsonl"); for f in "$dest"/runs.archive*.jsonl.gz; do [[ -e $f ]] && records+=("$f"); done
  git add -- "${records[@]}" || exit 1
  if git diff --cached --quiet; then
    echo "land: no new records to commit"
  else
    subject=$(sed -n 's/^commit subject: //p' <<< "$unpacked" | tail -1)
    [[ -n $subject ]] || subject="$profile chunk: records"
    git commit -q -m "$subject" || exit 1
    echo "committed: $subject"
  fi
  bash "$0" slim "$profile"  # writes .gpu_next_commit
  exit
fi
if [[ $what == unpack ]]; then  # on this machine, after a `paper` call: its records and snapshots
  from=${1:?usage: bash bench/gpu_session.sh unpack FILES_AT [PROFILE]}; dest=results/sd_order/${2:-paper}
  [[ -f $from/runs.jsonl.gz ]] || { echo "no $from/runs.jsonl.gz: not the files of a paper call" >&2; exit 1; }
  trap 'rm -f /tmp/runs.returned.jsonl' EXIT
  gzip -dc "$from/runs.jsonl.gz" > /tmp/runs.returned.jsonl || exit 1
  if [[ -f $from/snapshots.sha256 ]]; then  # verify every piece first: a refusal changes nothing here
    # from 2026-12-07 the file also lists the call's pieces (a line each after the tar's): a piece
    # that is not listed was left in FILES_AT by another call, and is named rather than read
    listed=$(awk 'NR > 1 {print $2}' "$from/snapshots.sha256")
    if [[ -n $listed ]]; then
      for piece in "$from"/snapshots.tar.part-*; do
        [[ -e $piece ]] || continue  # none at all: the check below names the missing ones
        grep -qxF "$(basename "$piece")" <<< "$listed" || {
          echo "$piece is not one of this call's snapshot pieces ($(echo $listed)): left from another call? remove it and unpack again" >&2
          exit 1
        }
      done
      (cd "$from" && tail -n +2 snapshots.sha256 | sha256sum --check --quiet >&2) \
        || { echo "a snapshot piece listed in $from/snapshots.sha256 is missing or damaged (above)" >&2; exit 1; }
    fi
    got=$(cat "$from"/snapshots.tar.part-* 2>/dev/null | sha256sum | cut -d' ' -f1)
    [[ $got == "$(head -1 "$from/snapshots.sha256" | cut -d' ' -f1)" ]] \
      || { echo "snapshot pieces do not match snapshots.sha256: a piece is missing or damaged" >&2; exit 1; }
  fi
  # the returned records must extend what was sent (the whole file, or its slim version: then the
  # committed records are restored and the new ones appended; bench/slim_records.py)
  mkdir -p "$dest" && touch "$dest/runs.jsonl" && chmod 644 "$dest/runs.jsonl" \
    && merged=$("$py" bench/slim_records.py merge "$dest/runs.jsonl" /tmp/runs.returned.jsonl) || exit 1
  echo "$merged"
  wc -l "$dest/runs.jsonl"
  if [[ -f $from/snapshots.sha256 ]]; then  # checked above
    rm -rf "$dest/snapshots" && cat "$from"/snapshots.tar.part-* | tar -x -C "$dest" \
      && { [[ ! -d $dest/snapshots ]] || ls -l "$dest/snapshots"; } \
      && { [[ ! -d $dest/models ]] || echo "kept weights (not tracked; load_model reads them): $(ls "$dest/models" | wc -l) in $dest/models"; }
  else
    rm -rf "$dest/snapshots"; echo "no snapshots returned: no ensemble was in flight"
  fi
  # last (all checks passed): past 4 MB the live records move into runs.archive*.jsonl.gz
  # (synthetic/results.py: the store reads both; about a sixth of the size), so that no tracked
  # file passes 5 MB; merging the same files again is refused (bench/slim_records.py)
  if (( $(stat -c %s "$dest/runs.jsonl") > 4000000 )); then "$py" -m synthetic archive "$dest/runs.jsonl" || exit 1; fi
  # what the next call sends: tracked files, the carried wheels and snapshots (limit 64 MiB)
  size=$(( $(git ls-files -z | xargs -0 cat | wc -c) + $(cat .whl/*.whl .whl/opt/*.whl 2>/dev/null | wc -c) \
    + $(cat "$dest"/snapshots/*.safetensors 2>/dev/null | wc -c) ))
  echo "the next call sends at most about $(( size / 1048576 )) MiB (limit 64; less after \`slim\`)"
  (( size < 60 * 1048576 )) || echo "warning: near or over the 64 MiB a call may send; carry fewer snapshots" >&2
  grep '^commit subject: ' <<< "$merged" || true  # last, for the commit of the merged records
  exit
fi
out=${OUT:-/tmp/out}; mkdir -p "$out"
export PYTHONPATH=$PWD
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
if ls .whl/opt/*.whl >/dev/null 2>&1 && ! python3 -c "import pydantic, hypothesis" 2>/dev/null; then
  # the image lacks a package dependency: carry its wheels in .whl/opt (installed only when missing)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/opt/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
if [[ -f .whl/ray_slim.tar.xz && ( $what == paper || $what == profile || ${RUNNER:-local} == ray ) ]]; then  # bash bench/pack_ray.sh made it; carry .whl
  mkdir -p /tmp/site && tar -xJf .whl/ray_slim.tar.xz -C /tmp/site && export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
t=tests/synthetic/kernels/test_triton.py
if [[ $what == tests ]]; then
  # -v streams one line per test into the log, so a run cut short still says what passed
  READTWICE_AUTOTUNE=0 python3 -m pytest -v -rf --tb=short -p no:cacheprovider \
    "$t::test_based_triton_matches_reference" "$t::test_pla_triton_matches_reference" \
    "$t::test_sequence_parallel_forward" "$t::test_transposed_state_forward" "$t::test_gpu_dtypes" \
    tests/synthetic/kernels/test_reference.py::test_out_of_range_prefix_len_on_gpu_fails_loudly -k "not 1000 and not 513" \
    tests/synthetic/kernels/test_training_equivalence.py ${PYTEST_ARGS:-} 2>&1 | tee "$out/gpu_tests.log" | tail -40
fi
if [[ $what == gpu-marked ]]; then
  # every gpu-marked test outside the long Triton kernel grid (ensembles in bf16, training equivalence)
  READTWICE_AUTOTUNE=0 python3 -m pytest -v -rf --tb=short -p no:cacheprovider -m gpu tests \
    --deselect "$t" ${PYTEST_ARGS:-} 2>&1 | tee "$out/gpu_marked.log" | tail -40
fi
if [[ $what == tests-all || $what == all ]]; then
  READTWICE_AUTOTUNE=0 python3 -m pytest -v -rf --tb=short -p no:cacheprovider tests/synthetic/kernels \
    ${PYTEST_ARGS:-} 2>&1 | tee "$out/gpu_tests.log" | tail -40
fi
if [[ $what == quick ]]; then
  python3 bench/prefill.py --quick --out "$out" "$@" 2>&1 | tee "$out/bench.log" | tail -45
fi
if [[ $what == bench || $what == all ]]; then
  python3 bench/prefill.py --out "$out" "$@" 2>&1 | tee "$out/bench.log" | tail -80
fi

if [[ $what == ts-probe ]]; then
  sanitizer=$(command -v compute-sanitizer || true)
  for bt in 16 32 64; do
    for stages in 1 2; do
      CUDA_LAUNCH_BLOCKING=1 timeout 300 ${sanitizer:+$sanitizer --print-limit 5} python3 - "$bt" "$stages" \
        <<'PY' 2>&1 | tail -12 | tee -a "$out/ts_probe.log"
import sys

import torch

from synthetic.kernels import based_linear_attention
from synthetic.kernels.engine import autotune

bt, stages = int(sys.argv[1]), int(sys.argv[2])
g = torch.Generator(device="cuda").manual_seed(0)
q, k = (torch.randn(4, 2048, 16, 16, device="cuda", generator=g) / 16 for _ in range(2))
v = torch.randn(4, 2048, 16, 64, device="cuda", generator=g)
ref, _ = based_linear_attention(q, k, v, impl="reference")
with autotune.force_config(dict(BT=bt, DB=64, num_warps=4, num_stages=stages, TS=1)):
    y, _ = based_linear_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), impl="triton")
    torch.cuda.synchronize()
err = ((y.float() - ref).norm() / ref.norm()).item()
print(f"TS forward BT={bt} stages={stages}: ran, relative error {err:.2e}", flush=True)
PY
    done
  done
fi

if [[ $what == train-bench ]]; then
  python3 bench/train_throughput.py --profile paper --device cuda --members 1 2 4 8 16 32 64 \
    --processes 2 4 8 --steps 40 --repeats 3 --out "$out" "$@" 2>&1 | tee "$out/train_bench.log" | tail -60
fi

if [[ $what == paper-rates ]]; then
  # ensembles of 8 at all 20 paper shapes (pass --variants to split the grid over calls), then the
  # paper profile's cost from them
  python3 bench/train_throughput.py --profile paper --device cuda --shapes all --ensembles-only --members 8 \
    --steps ${STEPS:-200} --repeats 1 --out "$out" "$@" 2>&1 | tee "$out/paper_rates.log" | grep -v "^ *$" | tail -30
fi

if [[ $what == workers ]]; then
  python3 bench/train_throughput.py --profile paper --device cuda --variants "Based (causal)" "Based (non-causal)" \
    --ensembles-only --members 8 --processes 2 --process-members 8 --process-threads 4 --steps ${STEPS:-300} \
    --repeats 1 --out "$out" "$@" 2>&1 | tee "$out/workers.log" | grep -v "^ *$" | tail -14
fi

if [[ $what == profile-step ]]; then
  for shape in "Based (causal)|36|4" "Based (causal)|128|24" "Based (non-causal)|128|24"; do
    IFS='|' read -r variant d f <<< "$shape"
    python3 bench/profile_step.py --variant "$variant" --d-model "$d" --f "$f" --members 8 "$@" 2>&1 \
      | tee -a "$out/profile_step.log" | grep -v "^ *$" | head -24
  done
  # the same kernels launched eagerly, each operator's GPU time by the line or autograd node that ran it
  READTWICE_TRAIN_STEP=eager python3 bench/profile_step.py --variant "Based (causal)" --d-model 128 --f 24 \
    --members 8 --by-source --top 40 "$@" 2>&1 | tee -a "$out/profile_step.log" | grep -A41 "^operators by caller"
fi

if [[ $what == step-graphs ]]; then
  # the training step as CUDA graphs: its GPU tests, then eager against graphed training throughput
  python3 -m pytest -v -rf --tb=short -p no:cacheprovider -m gpu tests/synthetic/test_step_graphs.py \
    tests/synthetic/kernels/test_short.py tests/synthetic/kernels/test_member_norm.py 2>&1 | tee "$out/step_graphs_tests.log" | tail -25
  variants=("Based (causal)" "Based (non-causal)")  # VARIANTS="JRT-Prompt,JRT-RNN" for others
  [[ -n ${VARIANTS:-} ]] && IFS=',' read -ra variants <<< "$VARIANTS"
  for mode in eager graph graph+fused; do  # graph+fused: also the fused member LayerNorm
    fused=0; [[ $mode == *fused ]] && fused=1
    READTWICE_TRAIN_STEP=${mode%+fused} READTWICE_FUSED_NORM=$fused python3 bench/train_throughput.py \
      --profile paper --device cuda --variants "${variants[@]}" \
      --members 8 --steps ${STEPS:-300} --repeats 1 --out "$out/${mode/+/_}" "$@" 2>&1 \
      | tee -a "$out/step_graphs_bench.log" | grep -v "^ *$" | tail -13
  done
fi

if [[ $what == fused-conv ]]; then
  # the Triton depthwise convolution: its GPU tests and the layers' graphed training against eager,
  # then training throughput with it off and on (same run, ensembles of 8, paper shapes)
  READTWICE_FUSED_CONV=1 READTWICE_PAD_GEMM=1 python3 -m pytest -v -rf --tb=short -p no:cacheprovider -m gpu \
    tests/synthetic/kernels/test_depthwise_conv.py tests/synthetic/test_step_graphs.py 2>&1 | tee "$out/fused_conv_tests.log" | tail -25
  (( PIPESTATUS[0] == 0 )) || { echo "fused-conv: GPU tests failed; not timed" >&2; exit 1; }
  variants=("Based (causal)" "Based (non-causal)")  # VARIANTS="JRT-Prompt,JRT-RNN" for others
  [[ -n ${VARIANTS:-} ]] && IFS=',' read -ra variants <<< "$VARIANTS"
  for flags in "0 0" "1 0" "1 1"; do  # READTWICE_FUSED_CONV, READTWICE_PAD_GEMM
    read -r conv pad <<< "$flags"
    READTWICE_FUSED_CONV=$conv READTWICE_PAD_GEMM=$pad python3 bench/train_throughput.py --profile paper \
      --device cuda --variants "${variants[@]}" --members 8 --steps ${STEPS:-300} --repeats 1 \
      --out "$out/conv${conv}_pad${pad}" "$@" 2>&1 | tee -a "$out/fused_conv_bench.log" | grep -v "^ *$" | tail -13
  done
fi

if [[ $what == split-wgrad ]]; then
  # MemberLinear's split weight gradient: GPU tests (with the graphed step's, split on), each shape
  # one matmul against split, then training throughput with it off and on (same run, ensembles of 8)
  READTWICE_SPLIT_WGRAD=1 python3 -m pytest -v -rf --tb=short -p no:cacheprovider -m gpu \
    tests/synthetic/test_members.py tests/synthetic/test_step_graphs.py 2>&1 | tee "$out/split_wgrad_tests.log" | tail -25
  (( PIPESTATUS[0] == 0 )) || { echo "split-wgrad: GPU tests failed; not timed" >&2; exit 1; }
  python3 bench/member_linear.py --device cuda --out "$out" 2>&1 | tee "$out/split_wgrad_bench.log" | tail -30
  variants=("Based (causal)" "Based (non-causal)")  # VARIANTS="JRT-Prompt,JRT-RNN" for others
  [[ -n ${VARIANTS:-} ]] && IFS=',' read -ra variants <<< "$VARIANTS"
  for round in a b; do for split in 0 1; do  # twice each, interleaved: the call's spread beside the difference
    READTWICE_SPLIT_WGRAD=$split python3 bench/train_throughput.py --profile paper --device cuda \
      --variants "${variants[@]}" --members 8 --steps ${STEPS:-300} --repeats 1 --ensembles-only \
      --out "$out/split${split}_$round" "$@" 2>&1 | tee -a "$out/split_wgrad_bench.log" | grep -v "^ *$" | tail -8
  done; done  # returns 7 files: 2 logs, member_linear_cuda.csv, 4 throughput CSVs (8 is the limit)
fi

if [[ $what == compile ]]; then
  if [[ ${EXPLAIN:-1} == 1 ]]; then  # EXPLAIN=0 skips dynamo's graph-break count (1 graph, 0 breaks at 4b51e48)
    READTWICE_COMPILE=1 python3 bench/profile_step.py --d-model 128 --f 24 --pairs 1 --explain 2>&1 \
      | tee -a "$out/compile.log" | grep -v "^ *$" | tail -12
  fi
  shapes=("Based (causal)|36|4" "Based (causal)|128|24")  # SHAPES="d|f,d|f" (causal Based) for others
  [[ -n ${SHAPES:-} ]] && { shapes=(); IFS=',' read -ra dfs <<< "$SHAPES"; for x in "${dfs[@]}"; do shapes+=("Based (causal)|$x"); done; }
  for shape in "${shapes[@]}"; do
    IFS='|' read -r variant d f <<< "$shape"
    for c in ${MODES:-0 1 dynamic 0}; do  # eager forward twice: the call's spread beside the difference
      TORCH_LOGS=${TORCH_LOGS-recompiles} READTWICE_COMPILE=$c python3 bench/profile_step.py --variant "$variant" --d-model "$d" --f "$f" --members 8 \
        --pairs ${PAIRS:-1} --warmup ${WARMUP:-12} --steps ${STEPS:-50} --top 12 "$@" 2>&1 | tee -a "$out/compile.log" \
        | grep -v "^ *$" | head -${TOP_LINES:-3}
    done
  done
  left=$(( ${CALL_S:-590} - SECONDS ))  # the tests get what the call has left
  if (( left > 60 )); then
    READTWICE_AUTOTUNE=0 timeout $left python3 -m pytest -v -rf --tb=short -p no:cacheprovider -m gpu \
      tests/synthetic/test_step_graphs.py -k "compiled and based" 2>&1 | tee "$out/compile_tests.log" | tail -12
  else
    echo "compile: $left s left, GPU tests not run" | tee -a "$out/compile.log"
  fi
fi

if [[ $what == conv-tune ]]; then
  # BWD_PROGRAMS x TILE_ELEMENTS of synthetic/kernels/depthwise_conv.py at the training shapes
  python3 bench/conv_backward.py --device cuda --out "$out" "$@" 2>&1 | tee "$out/conv_backward.log" | tail -30
fi

if [[ $what == seen-before ]]; then
  # the checking profile's kept models (carried: results/sd_order/checking/models), then the
  # untrained models its runs started from: the seen-before probe beside the state probes
  [[ -d results/sd_order/checking/models ]] || { echo "seen-before: carry results/sd_order/checking/models" >&2; exit 1; }
  # SEEN_PARTS (default positions,probe,untrained; 21 models took more than one 10-minute call for
  # all three, 2026-12-06): which steps run, in this order; PARTS_OF_SET (default 4) parts of each
  # set for the accuracy by position (8 lines up |B| = 256 and 768: tokens before / after the copy);
  # SEEN_EXAMPLES a slice (half fit; 256 as the records), STATE_EXAMPLES > 0 probes the state again
  # (its ridge fits run on the CPU: slow at 1,024), UNTRAINED initial models a variant; the CSVs
  # are rewritten after every model, so a call cut off keeps the models it finished
  parts=${SEEN_PARTS:-positions,probe,untrained}
  for part in ${parts//,/ }; do
    case $part in
      positions)  # forward passes only
        python3 bench/accuracy_by_position.py --device cuda --profile checking --quarters ${PARTS_OF_SET:-4} \
          --out "$out/sd_accuracy_by_position_checking.csv" 2>&1 | tee -a "$out/seen_before.log" | tail -40 ;;
      probe)
        python3 bench/seen_before_cpu.py --device cuda --profile checking --examples ${SEEN_EXAMPLES:-256} \
          --state-examples ${STATE_EXAMPLES:-0} --out "$out/seen_before_checking.csv" "$@" 2>&1 \
          | tee -a "$out/seen_before.log" | tail -45 ;;
      untrained)
        python3 bench/seen_before_cpu.py --device cuda --profile checking --examples ${SEEN_EXAMPLES:-256} \
          --state-examples ${STATE_EXAMPLES:-0} --untrained ${UNTRAINED:-2} \
          --out "$out/seen_before_checking_untrained.csv" "$@" 2>&1 | tee -a "$out/seen_before.log" | tail -45 ;;
      *) echo "SEEN_PARTS: unknown part '$part'; allowed: positions, probe, untrained" >&2; exit 2 ;;
    esac
  done
fi

if [[ $what == paper || $what == profile ]]; then
  # `paper`, or `profile NAME`: train that sd_order profile, resuming from its runs.jsonl (carried)
  profile=paper; [[ $what == profile ]] && { profile=$1; shift; }
  gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
  # SIGINT at the limit: the sweep stops cleanly (records written, claims released; the ensemble in
  # flight keeps its snapshot at its last evaluation); killed 30 s later. No --time-limit: with
  # snapshots an ensemble cut off at the limit loses only the steps since its last evaluation.
  # training takes the short-sequence kernels (no autotuning); the chunked engine is reached by the
  # analysis' state reads only, where benchmarking every candidate in each worker would cost more
  # than it saves: its first candidate (the most frequent winner on an H100) unless set
  export READTWICE_AUTOTUNE=${READTWICE_AUTOTUNE:-0}
  # the probes' numpy linear algebra in two workers: BLAS threads that contend slowed it 7-70x on a
  # shared CPU (docs/synthetic/analysis.md); a few threads a worker
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-4} MKL_NUM_THREADS=${MKL_NUM_THREADS:-4}
  # every 30 s the complete lines of runs.jsonl go to $OUT, so a call cut off by its own limit (a
  # device lease shorter than PAPER_MINUTES) still brings back every run recorded by then
  records="results/sd_order/$profile/runs.jsonl"
  keep_records() {
    python3 -c "import gzip, sys; d = open(sys.argv[1], 'rb').read(); gzip.open(sys.argv[2], 'wb').write(d[: d.rfind(b'\n') + 1])" \
      "$records" "$out/runs.jsonl.gz.part" 2>/dev/null && mv "$out/runs.jsonl.gz.part" "$out/runs.jsonl.gz"
  }
  # (its sleep is killed with it: a sleep left behind would hold the command's output open for up to 30 s)
  ( trap 'kill $nap 2>/dev/null; exit 0' TERM; while :; do sleep 30 & nap=$!; wait $nap; keep_records; done ) \
    >/dev/null 2>&1 & keeper=$!
  # the snapshots of the ensembles in flight come back (4 pieces of 15 MB at most) and go out with
  # the next call (64 MiB with the repository and wheels): ensembles small enough that all of
  # them fit in about 36 MB (SNAPSHOT_MB each; 18 with two workers: 8 members up to d_model 64,
  # at most 5 at 96, 3 at 128)
  workers=${WORKERS:-$(( 2 * gpus ))}
  if [[ -n ${FORWARD_BENCH:-} ]]; then
    # FORWARD_BENCH=1: first the short path's forward against the chunked engine up to the lengths
    # a JRT-Prompt model's evaluation and analysis read (bench/short_attention.py --forward, causal:
    # the only mode past 1,024 tokens in the experiments; fp32, the analysis', first; its CSV is the
    # 8th file a call returns), at most FORWARD_BENCH_S seconds (default 150) of the call; then the
    # sweep runs with the forward crossover it measured (READTWICE_FORWARD_CROSSOVER, printed)
    timeout -k 10 ${FORWARD_BENCH_S:-150} python3 bench/short_attention.py --forward --dtype fp32 bf16 \
      --modes causal --lengths 128 512 1024 1574 2048 --fs 4 8 16 24 --dv 32 --out "$out" 2>&1 | tail -30
    for measured in "$out"/short_attention_forward_*.csv; do
      if [[ -s $measured ]] && table=$(python3 bench/short_attention.py --crossover-from "$measured") \
        && [[ -n $table ]]; then
        export READTWICE_FORWARD_CROSSOVER=$table
        echo "forward crossover measured in this call: READTWICE_FORWARD_CROSSOVER=$table"
      fi
    done
  fi
  # where a call's wall time goes (the records' started_at and wall_time_s give the rest): the
  # sweep's start and length, appended to the returned log (a call returns at most 8 files)
  # the sweep stops PAPER_MINUTES into the command, whatever ran before it (a forward bench, setup)
  limit=$(( ${PAPER_MINUTES:-9} * 60 - SECONDS ))
  if (( limit < 60 )); then
    echo "PAPER_MINUTES=${PAPER_MINUTES:-9} leaves ${limit} s for the sweep after ${SECONDS} s of this command; at least 60 needed" >&2
    kill $keeper 2>/dev/null; exit 2
  fi
  sweep_began=$SECONDS sweep_at=$(date -u +%FT%TZ)
  timeout -s INT -k 30 $limit python3 -m synthetic run sd_order --profile "$profile" \
    --workers "$workers" --runner "${RUNNER:-local}" --snapshot-mb "${SNAPSHOT_MB:-$(( 36 / workers ))}" \
    "$@" 2>&1 | tee "$out/$profile.log" | tail -40
  echo "times: the sweep began at $sweep_at, ${sweep_began} s into this command, and ran $(( SECONDS - sweep_began )) s" \
    | tee -a "$out/$profile.log"
  kill $keeper 2>/dev/null; wait $keeper 2>/dev/null
  keep_records  # 26 KB a run: over 16 MiB at 640
  kept=$(cd "results/sd_order/$profile" && compgen -G "snapshots/*.safetensors"; compgen -G "models/*.safetensors")
  if [[ -n $kept ]]; then
    # the sweep pruned the snapshots of recorded runs; with them the weights the profile keeps
    # (save_models = "checking": the models that check); pieces under the 16 MiB a returned file may have
    (cd "results/sd_order/$profile" && tar -cf /tmp/snapshots.tar $kept)
    sha256sum /tmp/snapshots.tar > "$out/snapshots.sha256"
    split -b 15M /tmp/snapshots.tar "$out/snapshots.tar.part-" && ls -l "$out"/snapshots.tar.part-*
    (cd "$out" && sha256sum snapshots.tar.part-*) >> "$out/snapshots.sha256"  # the pieces, by name
  fi
  python3 -m synthetic show "sd_order/$profile" | tail -8
fi
