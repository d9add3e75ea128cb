"""Turn a GGUF file into a bf16 Hugging Face model directory vLLM can serve.

Run by file path in the vLLM interpreter (transformers, torch, gguf, accelerate; no helm_eval)::

    python _convert_gguf.py MODEL.gguf OUT_DIR

transformers dequantizes the GGUF on load but then refuses to save a model still tagged quantized, so the
model is rebuilt from its config without ``quantization_config`` and given the loaded state dict.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def convert(gguf_path: Path, out_dir: Path) -> None:
    """Write model weights (bf16 safetensors), config and tokenizer from ``gguf_path`` into ``out_dir``."""
    # Imported by name: this runs in the vLLM interpreter, which the type checker does not see.
    torch = importlib.import_module("torch")
    transformers = importlib.import_module("transformers")
    AutoModelForCausalLM, AutoTokenizer = transformers.AutoModelForCausalLM, transformers.AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings may be absent from one side; anything else means the rebuild lost weights.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise SystemExit(f"convert_gguf: state dict mismatch: missing={missing} unexpected={unexpected}")
    model = model.to(torch.bfloat16)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if not getattr(tokenizer, "chat_template", None):
        raise SystemExit(f"convert_gguf: {gguf_path.name} carries no chat template")


def main(argv: list[str]) -> int:
    """Command-line entry: ``GGUF_PATH OUT_DIR``."""
    if len(argv) != 2:
        print("usage: _convert_gguf.py MODEL.gguf OUT_DIR", file=sys.stderr)
        return 2
    started = time.monotonic()
    convert(Path(argv[0]), Path(argv[1]))
    print(f"convert_gguf: wrote {argv[1]} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
