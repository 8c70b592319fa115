"""Training report of a motion checkpoint: loss curve PNG and a short markdown summary.

    .venv/bin/python -m training.report [--weights model/weights/default] [--out reports/default_model]

Reads ``train_log.json`` and ``config.json`` beside the weights; the evaluation table comes from
``python -m benchmarks.model_eval`` (``evaluation.md`` in the same output folder).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from model.diffusion.checkpoint import CONFIG_FILE, DEFAULT_WEIGHTS_DIR, WEIGHTS_FILE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOG_FILE = "train_log.json"


def plot_losses(log: list[dict], path: Path) -> None:
    steps = [row["step"] for row in log]
    val = [(row["step"], row["val_loss"]) for row in log if row.get("val_loss") is not None]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(steps, [row["loss"] for row in log], label="train (x0 MSE + velocity)", lw=1)
    if val:
        ax.plot(*zip(*val), "o-", label="held-out voices", ms=3)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def summary(weights: Path, log: list[dict]) -> str:
    config = json.loads((weights / CONFIG_FILE).read_text())
    meta = config.get("metadata", {})
    arch = config["architecture"]
    size_mb = (weights / WEIGHTS_FILE).stat().st_size / 1e6
    last = log[-1]
    val = [row["val_loss"] for row in log if row.get("val_loss") is not None]
    settings = meta.get("corpus_settings", {})
    lines = [
        f"# Training report: `{weights.relative_to(ROOT) if weights.is_relative_to(ROOT) else weights}`",
        "",
        f"- architecture: {arch['n_layers']} causal transformer blocks, d={arch['d_model']}, "
        f"{arch['n_heads']} heads, window {arch['window']} + context {arch['context']} frames, "
        f"audio look-ahead {arch['audio_context']} frame; checkpoint {size_mb:.1f} MB",
        f"- corpus: {settings.get('spec', {}).get('clips', '?')} synthetic espeak-ng clips "
        "(voices f4/m6 and Dutch held out for the validation loss and the evaluation)",
        f"- steps: {last['step']} in {last['seconds'] / 60:.1f} min on this machine "
        f"({last['step'] / max(last['seconds'], 1e-9):.1f} steps/s)",
        f"- final train loss {last['loss']:.4f}; held-out loss "
        + (f"{val[-1]:.4f} (best {min(val):.4f})" if val else "n/a"),
        "",
        "![loss curve](loss_curve.png)",
        "",
        *_reproduce(meta, last["step"]),
        "",
    ]
    return "\n".join(lines)


def _reproduce(meta: dict, steps: int) -> list[str]:
    corpus = "`python -m training.corpus --out .corpus/synthetic --clips 4000 --seed 0`"
    train_config = meta.get("train_config", {})
    parent = meta.get("initialised_from")
    if parent is None:
        return [f"Reproduce: {corpus} then `python -m training.train --corpus .corpus/synthetic "
                f"--out model/weights/default --steps {steps} --seed 0`."]
    before = parent.get("metadata", {})
    return [
        f"Warm start: this run began from the weights in `{parent['path']}` "
        f"({before.get('trained_steps', '?')} steps, held-out loss "
        f"{before.get('final_val_loss', float('nan')):.4f} on the corpus of its own commit), "
        "and the loss curve above is this run's only.",
        "",
        "Reproduce: check out the commit that last changed `model/weights/default` before this "
        "one (`git log -- model/weights/default`) and follow its `training.md`, to rebuild the "
        f"starting checkpoint in a folder START; then, at this commit, {corpus} and "
        "`python -m training.train --corpus .corpus/synthetic --out model/weights/default "
        f"--init-from START --steps {steps} --lr {train_config.get('lr', '?')} --seed 0`.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--out", type=Path, default=ROOT / "reports/default_model")
    args = parser.parse_args()
    log = json.loads((args.weights / LOG_FILE).read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    plot_losses(log, args.out / "loss_curve.png")
    text = summary(args.weights.resolve(), log)
    (args.out / "training.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
