#!/usr/bin/env bash
# actions/serve: `serve.sh start` launches `helm-eval serve` in the background and waits for its endpoint file;
# `serve.sh stop` sends SIGTERM (helm-eval stops vLLM's whole process group). State lives in $RUNNER_TEMP.
set -euo pipefail
state="${RUNNER_TEMP:?}/helm-eval-serve"
bin="$RUNNER_TEMP/helm-eval-venv/bin"
case "${1:?start or stop}" in
  start)
    [ -n "${INPUT_MODEL:-}" ] || { echo "::error title=helm-eval serve::the model input is required"; exit 1; }
    mkdir -p "$state"
    rm -f "$state/endpoint"
    args=(serve "$INPUT_MODEL" --endpoint-file "$state/endpoint" --log "$state/vllm.log"
          --ready-timeout "${INPUT_READY_TIMEOUT:-600}")
    [ -n "${INPUT_PORT:-}" ] && args+=(--port "$INPUT_PORT")
    if [ -n "${INPUT_VLLM_ARGS:-}" ]; then
      mapfile -d '' extra < <("$bin/python" -c 'import os, shlex, sys; sys.stdout.write("\0".join(shlex.split(os.environ["INPUT_VLLM_ARGS"])))')
      args+=(-- "${extra[@]}")
    fi
    nohup "$bin/helm-eval" "${args[@]}" > "$state/serve.out" 2>&1 &
    pid=$!
    echo "$pid" > "$state/pid"
    deadline=$(( $(date +%s) + ${INPUT_READY_TIMEOUT:-600} + 30 ))
    while [ ! -s "$state/endpoint" ]; do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "::error title=helm-eval serve::vLLM did not start; the end of its log follows"
        tail -n 40 "$state/serve.out" || true
        exit 1
      fi
      [ "$(date +%s)" -lt "$deadline" ] || { echo "::error title=helm-eval serve::timed out"; kill "$pid"; exit 1; }
      sleep 1
    done
    endpoint=$(head -n 1 "$state/endpoint")
    echo "vLLM ready at $endpoint (pid $pid, log $state/vllm.log)"
    { echo "endpoint=$endpoint"; echo "pid=$pid"; } >> "${GITHUB_OUTPUT:?}"
    ;;
  stop)
    if [ -s "$state/pid" ]; then
      pid=$(cat "$state/pid")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      rm -f "$state/pid"
      echo "helm-eval serve (pid $pid) stopped"
    else
      echo "no helm-eval serve started in this job"
    fi
    ;;
esac
