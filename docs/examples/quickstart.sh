# A first run on your machine: Python >= 3.11 and an OpenAI-compatible endpoint (vLLM or any other).
python3 -m venv .venv && . .venv/bin/activate
pip install 'helm-eval @ git+https://github.com/helm-eval/helm-eval.git@v0.1.0'
helm-eval init --endpoint http://127.0.0.1:8000/v1   # helm-eval.yaml, suites/example.yaml, .gitignore lines
helm-eval doctor                                     # endpoint, models, ledger, cache: one line each, with the fix
pytest --helm-eval                                   # each suite test is a pytest item; add --junitxml for CI
