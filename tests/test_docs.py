"""Every ```bash and ```python block of README.md and docs/*.md runs as written, in document order,
in a throwaway folder (the study root ``betasweep-runs`` under it). A block preceded by
``<!-- not run: REASON -->`` is skipped (a cluster, a server that runs until stopped). Commands that
run a study or a trial get short budgets appended (the last option wins), and a resume that extends
the study asks for one trial more than the 2 it ran; nothing else changes."""

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
    "python -m train": "--steps 40 --report-every 20 --eval-size 128 --val-size 64 --kl-warmup-steps 0",
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
    if "--resume" in command and "--num-trials" in command:  # extending the 2-trial study: by one trial
        return re.sub(r"--num-trials \d+", "--num-trials 3", command).rstrip() + (f"  #{comment}" if comment else "")
    for prefix, budget in BUDGETS.items():
        if command.strip().split(" ", 3)[:3] == prefix.split() and not any(flag in command for flag in NO_BUDGET):
            return f"{command.rstrip()} {budget}" + (f"  #{comment}" if comment else "")
    return line


def environment(folder) -> dict[str, str]:
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONPATH": ROOT,
           "RAY_ADDRESS": "local", "RAY_AUTH_MODE": "disabled", "MPLBACKEND": "Agg"}
    for name in ("MLFLOW_TRACKING_URI", "BETASWEEP_ROOT"):
        env.pop(name, None)
    venv = folder / ".venv"  # `. .venv/bin/activate` as in the README: this interpreter's environment
    if os.path.isfile(os.path.join(sys.prefix, "bin", "activate")):
        venv.symlink_to(sys.prefix)
    else:
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "activate").write_text(f'export PATH="{bin_dir}:$PATH"\n')
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """One throwaway folder per document: its blocks run in order there (a study, then its analysis)."""
    folders = {}

    def get(doc):
        if doc not in folders:
            folder = tmp_path_factory.mktemp(os.path.basename(doc).replace(".", "-"))
            folders[doc] = (folder, environment(folder))
        return folders[doc]
    return get


def test_the_docs_have_runnable_blocks_and_few_skipped():
    found = [b for doc in DOCS for b in blocks(doc)]
    assert sum(reason is None for *_, reason in found) >= 4
    assert all(reason for *_, reason in found if reason is not None)  # a skip says why
    assert sum(reason is not None for *_, reason in found) <= 5


def test_commands_of_a_block_are_split_as_bash_reads_them():
    assert commands("a  # x\n# only a comment\n\nb \\\n  --c\n") == [(0, "a  # x"), (3, "b   --c")]


def test_budgets_are_appended_only_where_training_runs():
    assert with_budget("python -m study.run --name demo  # quick").startswith(
        "python -m study.run --name demo --num-trials 2")
    dry = "python -m study.run --dry-run --num-trials 12"
    assert with_budget(dry) == dry
    assert with_budget("python -m analysis list") == "python -m analysis list"
    assert with_budget("python -m train --param beta=6").startswith("python -m train --param beta=6 --steps 40")
    show = "python -m train.data.show dsprites --out dsprites.png"
    assert with_budget(show) == show
    assert with_budget("python -m study.run --resume demo --num-trials 12  # more") == (
        "python -m study.run --resume demo --num-trials 3  # more")


def commands(body: str) -> list[tuple[int, str]]:
    """(offset, command) of each command of a bash block (continuation lines joined)."""
    found, pending, start = [], "", 0
    for offset, text in enumerate(body.splitlines()):
        if not pending:
            start = offset
        pending += text
        if text.endswith("\\"):
            pending = pending[:-1]
            continue
        if pending.strip() and not pending.strip().startswith("#"):
            found.append((start, pending))
        pending = ""
    return found


#: Each bash command, and each python block, is one case; a document's cases run in order.
RUNNABLE = [pytest.param(doc, lang, code, id=f"{doc}:{line + 1 + offset}")
            for doc in DOCS for line, lang, body, skip in blocks(doc) if not skip
            for offset, code in (commands(body) if lang == "bash" else [(0, body)])]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("doc,lang,code", RUNNABLE)
def test_every_block_runs_as_written(doc, lang, code, workspace, request):
    folder, env = workspace(doc)
    argv = ["bash", "-c", with_budget(code)] if lang == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=1100)
    assert done.returncode == 0, (f"{request.node.callspec.id}: the {lang} command failed ({done.returncode})\n"
                                  f"{argv[-1]}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


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
