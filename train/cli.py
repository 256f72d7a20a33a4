"""``python -m train``: train and score one configuration from the command line, no Ray.

One ``--field`` per :class:`train.config.TrialConfig` field (its help from the field's docstring),
``--param NAME=VALUE`` for the model type's own settings, and a two-column table of the result.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

from train.config import TrialConfig, field_docs
from train.steps import COMPLETED, Report
from train.trial import train_and_evaluate
from train.validation import trial_from_dict


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field`` option per TrialConfig field, its help text from the field's docstring; the
    model type's own settings come as ``--param NAME=VALUE``."""
    docs = field_docs(TrialConfig)
    parser.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=VALUE",
                        help="A setting of the model type, e.g. --param beta=4 for beta_vae, --param "
                             "c_max=25 for annealed_vae (value parsed as YAML). Repeatable.")
    for f in dataclasses.fields(TrialConfig):
        if f.name == "model_params":
            continue
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(),
                            help=f"{docs.get(f.name, '')} (default: {f.default})".replace("%", "%%"))


def format_table(rows: dict[str, Any]) -> str:
    """Two-column text table of a result dict."""
    width = max(len(k) for k in rows) if rows else 0
    lines = []
    for key, value in rows.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key.ljust(width)}  {text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m train``: train and score one configuration, print the result table."""
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train and score one model on one dataset, without Ray or MLflow.",
    )
    _add_config_arguments(parser)
    parser.add_argument("--checkpoint-dir", default=None,
                        help="Folder for resumable checkpoints (default: none are written).")
    parser.add_argument("--resume-from", default=None, help="Checkpoint folder to continue from.")
    parser.add_argument("--artifact-dir", default=None,
                        help="Folder for the trained model's figures and model file (default: none).")
    parser.add_argument("--quiet", action="store_true", help="Do not print progress lines.")
    args = parser.parse_args(argv)
    import yaml

    from train.options import ConfigError

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrialConfig)
                 if f.name != "model_params" and getattr(args, f.name) is not None}
    for item in args.params:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"error: --param: {item!r} is not NAME=VALUE; write e.g. --param beta=4", file=sys.stderr)
            return 2
        overrides[name.strip()] = yaml.safe_load(value)

    try:
        config = trial_from_dict(overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def progress(report: Report) -> None:
        if not args.quiet and not report.final:
            m = report.metrics
            print(f"step {report.step:>7d}  loss {m['train/loss']:.2f}  "
                  f"val_recon_error {m['val_recon_error']:.2f}  {m['images_per_second']:.0f} img/s",
                  flush=True)

    from train.checkpoints import CheckpointError

    try:
        result = train_and_evaluate(config, checkpoint_dir=args.checkpoint_dir,
                                    resume_from=args.resume_from, callback=progress,
                                    artifact_dir=args.artifact_dir)
    except CheckpointError as exc:  # one line naming the file and what is wrong, no traceback
        print(f"error: --resume-from: {exc}", file=sys.stderr, flush=True)
        return 2
    rows = {"status": result.status, "steps": result.step, "precision": result.precision}
    rows.update({k: v for k, v in result.scores.items() if not k.startswith("kl_dim_")})
    print(format_table(rows), flush=True)
    return 0 if result.status == COMPLETED else 1
