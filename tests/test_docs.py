"""Every ```bash and ```python block of README.md and docs/*.md runs as written, in document order,
in a throwaway folder (the study root ``betasweep-runs`` under it). A block preceded by
``<!-- not run: REASON -->`` is skipped (a cluster, a server that runs until stopped). Commands that
run a study or a trial get short budgets appended (the last option wins); nothing else changes."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                              if f.endswith(".md"))
BLOCK = re.compile(r"(?:<!--\s*not run:(?P<skip>[^>]*)-->\s*\n)?^```(?P<lang>bash|python)\n(?P<body>.*?)^```",
                   re.S | re.M)
#: Options appended to a command that trains: a 2-trial study / a trial of a few dozen steps.
BUDGETS = {
    "python -m study.run": "--num-trials 2 --steps 60 --latent-dims 4 --set trial.report_every=20 "
                           "--set trial.checkpoint_every=40 --set trial.eval_size=128 --set trial.val_size=64 "
                           "--set trial.kl_warmup_steps=20",
    "python -m study.trial": "--steps 40 --report-every 20 --eval-size 128 --val-size 64 --kl-warmup-steps 0",
}
NO_BUDGET = ("--dry-run", "--help", "--resume", "--list-models")


def blocks(doc: str) -> list[tuple[int, str, str, str | None]]:
    """(line, language, body, reason it is not run or None) of each fenced bash/python block."""
    with open(os.path.join(ROOT, doc)) as handle:
        text = handle.read()
    return [(text.count("\n", 0, m.start("body")), m["lang"], m["body"], m["skip"] and m["skip"].strip())
            for m in BLOCK.finditer(text)]


def with_budget(line: str) -> str:
    command, _, comment = line.partition("  #")
    for prefix, budget in BUDGETS.items():
        if command.strip().startswith(prefix) and not any(flag in command for flag in NO_BUDGET):
            return f"{command.rstrip()} {budget}" + (f"  #{comment}" if comment else "")
    return line


def environment(tmp_path) -> dict[str, str]:
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONPATH": ROOT,
           "RAY_ADDRESS": "local", "RAY_AUTH_MODE": "disabled", "MPLBACKEND": "Agg"}
    for name in ("MLFLOW_TRACKING_URI", "BETASWEEP_ROOT"):
        env.pop(name, None)
    venv = tmp_path / ".venv"  # `. .venv/bin/activate` as in the README: this interpreter's environment
    if os.path.isfile(os.path.join(sys.prefix, "bin", "activate")):
        venv.symlink_to(sys.prefix)
    else:
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "activate").write_text(f'export PATH="{bin_dir}:$PATH"\n')
    return env


def test_the_docs_have_runnable_blocks_and_few_skipped():
    found = [b for doc in DOCS for b in blocks(doc)]
    assert sum(reason is None for *_, reason in found) >= 4
    assert all(reason for *_, reason in found if reason is not None)  # a skip says why
    assert sum(reason is not None for *_, reason in found) <= 5


def test_budgets_are_appended_only_where_training_runs():
    assert with_budget("python -m study.run --name demo  # quick").startswith(
        "python -m study.run --name demo --num-trials 2")
    dry = "python -m study.run --dry-run --num-trials 12"
    assert with_budget(dry) == dry
    assert with_budget("python -m analysis list") == "python -m analysis list"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_every_block_runs_as_written(doc, tmp_path):
    env = environment(tmp_path)
    for line, lang, body, skip in blocks(doc):
        if skip:
            continue
        if lang == "bash":
            script = "set -e\n" + "\n".join(with_budget(x) for x in body.splitlines())
            argv = ["bash", "-c", script]
        else:
            argv = [sys.executable, "-c", body]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, (f"{doc}:{line + 1}: the {lang} block failed ({done.returncode})\n{argv[-1]}\n"
                                      f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


LINKED = DOCS + ["benchmarks/README.md"] + sorted(os.path.join("benchmarks", "notes", f)
                                                  for f in os.listdir(os.path.join(ROOT, "benchmarks", "notes")))
LINK = re.compile(r"\]\((?!https?://|mailto:)([^)#\s]*)(?:#([^)\s]+))?\)")


def anchors(path: str) -> set[str]:
    """GitHub's anchors of a markdown file's headings."""
    with open(path) as handle:
        heads = [line.lstrip("#").strip() for line in handle if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("doc", LINKED)
def test_every_relative_link_resolves(doc):
    with open(os.path.join(ROOT, doc)) as handle:
        text = handle.read()
    broken = []
    for target, anchor in LINK.findall(text):
        path = os.path.normpath(os.path.join(ROOT, os.path.dirname(doc), target)) if target else os.path.join(ROOT, doc)
        if not os.path.exists(path):
            broken.append(target)
        elif anchor and path.endswith(".md") and anchor not in anchors(path):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"{doc}: {broken}"
