"""Docs that cannot rot: every command the README and docs/ show still parses, every relative
link and picture exists, and every generated table is what its command writes today.

Commands are parsed with the CLI's own parser (``restorable.cli.build_parser``) rather than
run, so the test stays fast; a benchmark's flags are looked up in its source. A table between
markers is compared with what its generator prints from ``results/``, so a result that changed
without the pages being regenerated fails here, not in a reader's hands.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

import restorable
from restorable.cli import build_parser

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
sys.path.insert(0, str(ROOT / "benchmarks"))

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INLINE = re.compile(r"`(restorable [^`]+|python benchmarks/[^`]+)`")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def _blocks(page: Path, lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(page.read_text()) if kind == lang]


def _commands(page: Path) -> list[list[str]]:
    """Each simple command of the page's bash blocks as argv, comments dropped, ``a && b``
    split, and optional parts shown as ``[--resume]`` kept (so they must parse too)."""
    out = []
    for block in _blocks(page, "bash"):
        for line in block.splitlines():
            argv = shlex.split(line.replace("[", " ").replace("]", " "), comments=True)
            while argv:
                cut = argv.index("&&") if "&&" in argv else len(argv)
                out.append(argv[:cut])
                argv = argv[cut + 1 :]
    return [argv for argv in out if argv]


def _parse(argv: list[str]) -> argparse.Namespace:
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"`restorable {' '.join(argv)}` does not parse") from None


def _benchmark_flags_exist(argv: list[str]) -> None:
    script = ROOT / argv[0]
    assert script.is_file(), f"{argv[0]} does not exist"
    source = script.read_text()
    for flag in (a.split("=", 1)[0] for a in argv[1:] if a.startswith("--")):
        assert f'"{flag}"' in source, f"{argv[0]} has no option {flag}"


# Other programs the docs may show (their own tools' commands, not ours to parse).
OTHER_TOOLS = {"ray", "torchrun", "convert", "cjpeg", "cwebp"}


def _check(argv: list[str]) -> None:
    """One command as the docs show it: ours must parse, files it names must exist."""
    prog, args = argv[0], argv[1:]
    if prog == "restorable":
        _parse(args)
    elif prog == "python" and args[:1] == ["-m"]:
        module = args[1]
        if module != "pytest":
            assert importlib.util.find_spec(module), f"no module {module}"
            if module == "restorable.cli":
                _parse(args[2:])
    elif prog == "python":
        _benchmark_flags_exist(args)
    elif prog == "bash":
        assert (ROOT / args[0]).is_file(), f"{args[0]} does not exist"
    else:
        known = prog == "pip" or prog in OTHER_TOOLS
        assert known, f"a command the test does not know how to check: {argv}"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_shown_command_parses(page: Path) -> None:
    commands = _commands(page)
    for argv in commands:
        _check(argv)
    if page.name == "README.md":  # the two commands, and a first restored photo
        firsts = [a[:2] for a in commands]
        assert ["restorable", "demo"] in firsts and ["python", "-m"] in firsts
        assert ["restorable", "apply"] in firsts and ["restorable", "restore"] in firsts


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_inline_commands_name_real_subcommands_and_options(page: Path) -> None:
    """Prose mentions commands in fragments (`restorable train --op OP --config C`): the
    subcommand and each option must exist, even where the arguments are placeholders."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for text in INLINE.findall(page.read_text()):
        argv = shlex.split(text.replace("[", " ").replace("]", " ").replace("…", " "))
        if argv[0] == "python":
            _benchmark_flags_exist(argv[1:])
            continue
        if len(argv) < 2 or argv[1].startswith("-"):
            continue
        sub = subparsers.choices.get(argv[1])
        assert sub is not None, f"`{text}`: no subcommand {argv[1]}"
        for flag in (a.split("=", 1)[0] for a in argv[2:] if a.startswith("-")):
            assert flag in sub._option_string_actions, f"`{text}`: no option {flag}"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_python_examples_use_the_real_api(page: Path) -> None:
    for block in _blocks(page, "python"):
        for name in re.findall(r"\brestorable\.(\w+)", block):
            assert hasattr(restorable, name), f"restorable.{name} does not exist"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_relative_links_and_pictures_exist(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name}: {target} does not exist"
        if anchor and dest.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", dest.read_text(), re.M)
            assert anchor in {_slug(h) for h in headings}, f"{page.name}: no #{anchor} in {path}"


def test_every_picture_in_docs_is_shown_somewhere() -> None:
    shown = {
        (page.parent / t.partition("#")[0]).resolve()
        for page in PAGES
        for t in LINK.findall(page.read_text())
    }
    pictures = [p for p in (ROOT / "docs").iterdir() if p.suffix in (".jpg", ".png")]
    assert pictures
    assert [p.name for p in pictures if p.resolve() not in shown] == []


def test_readme_stays_short() -> None:
    """The README is the way in (issue #30): the rest lives in docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def _between(path: Path, start: str, end: str) -> str:
    text = path.read_text()
    assert text.count(start) == 1 and text.count(end) == 1, f"{path.name}: markers {start}"
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


# benchmarks whose figures are dated records in results/<name>.json (``bench_records``), each
# rendering the blocks of its page (``blocks``): the Speed section's timings, identification
BENCHMARKS = ["bench_model", "bench_megapixels", "bench_identify", "bench_share"]


def _benchmark_blocks(results: Path = ROOT / "results", bump: bool = False) -> list[tuple]:
    """(module, start, end, text) of every block a benchmark renders from its records in
    ``results``; with ``bump`` every number in the records is first moved by one."""
    from bench_records import load

    out = []
    for name in BENCHMARKS:
        module = importlib.import_module(name)
        records = load(results / f"{name}.json")
        if bump:
            records = _bumped(records)
        out += [(module, *marks, text) for marks, text in module.blocks(records).items()]
    return out


def _bumped(value):
    """``value`` with every number in it one larger (a figure remeasured, say)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, dict):
        return {k: _bumped(v) for k, v in value.items()}
    return [_bumped(v) for v in value]


def test_generated_tables_are_current() -> None:
    """Each table in the pages is exactly what its generator writes from results/ today."""
    import paper_tables
    import results_table
    import table3

    results_md = ROOT / "docs" / "results.md"
    assert _between(results_md, results_table.START, results_table.END) == results_table.table()
    assert (
        _between(ROOT / "README.md", results_table.OPS_START, results_table.OPS_END)
        == results_table.operators_table()
    ), "run: python benchmarks/results_table.py --docs"
    assert (
        _between(results_md, results_table.SECOND_START, results_table.SECOND_END)
        == results_table.second_set_table()
    ), "run: python benchmarks/results_table.py --docs"
    assert _between(results_md, paper_tables.START, paper_tables.END) == paper_tables.tables(
        ROOT / "results"
    ), "run: python benchmarks/paper_tables.py --docs"
    rows = json.loads((ROOT / "results" / "table3.json").read_text())
    assert _between(results_md, table3.START, table3.END) == table3.markdown(rows), (
        "run: python benchmarks/table3.py --from-json results/table3.json --docs"
    )
    import bench_cli_stages

    stages = json.loads((ROOT / "results" / "bench_cli_stages.json").read_text())
    assert _between(results_md, bench_cli_stages.START, bench_cli_stages.END) == (
        bench_cli_stages.markdown(stages)
    ), "run: python benchmarks/bench_cli_stages.py --from-json results/bench_cli_stages.json --docs"
    for module, start, end, text in _benchmark_blocks():
        name = module.__name__
        assert text, f"{name} renders nothing for {start}: is results/{name}.json there?"
        assert _between(ROOT / "docs" / module.PAGE, start, end) == text, (
            f"run: python benchmarks/{name}.py --from-json results/{name}.json --docs"
        )
    # measured, not derived from results/: only its place is checked
    assert _between(results_md, "<!-- codecs-table:start -->", "<!-- codecs-table:end -->")


def test_the_checks_catch_rot(tmp_path: Path) -> None:
    """What the checks above would let through if they were too lenient."""
    # a figure remeasured without regenerating the page: every benchmark block goes stale
    for (module, start, _, now), (_, _, _, then) in zip(
        _benchmark_blocks(), _benchmark_blocks(bump=True), strict=True
    ):
        assert now != then, f"{module.__name__}: {start} does not follow its records"
    with pytest.raises(AssertionError, match="does not parse"):
        _check(["restorable", "apply", "--op", "l0", "--no-such-flag", "x.jpg", "-o", "y.png"])
    with pytest.raises(AssertionError, match="has no option --readme"):
        _check(["python", "benchmarks/paper_tables.py", "--readme"])  # retargeted to --docs
    with pytest.raises(AssertionError, match="does not exist"):
        _check(["python", "benchmarks/no_such_benchmark.py"])
    page = tmp_path / "page.md"
    page.write_text("```bash\nrestorable restore a.png -o b.png && restorable info l0 --jsn\n```\n")
    assert _commands(page) == [
        ["restorable", "restore", "a.png", "-o", "b.png"],
        ["restorable", "info", "l0", "--jsn"],
    ]
    with pytest.raises(AssertionError):
        _check(_commands(page)[1])
    page.write_text("[gone](missing.md) ![pic](here.png)\n")
    (tmp_path / "here.png").write_bytes(b"")
    with pytest.raises(AssertionError, match="missing.md does not exist"):
        test_relative_links_and_pictures_exist(page)
    assert (
        _slug("The paper's Tables 1, 4 and 5: baselines") == "the-papers-tables-1-4-and-5-baselines"
    )


def test_a_benchmark_record_replaces_only_its_own(tmp_path: Path) -> None:
    """Measuring one size (or model) again keeps the other rows, and the command a record keeps
    is the one that measured, without the options that only say where the figures went."""
    from bench_records import command, load, merge

    path = tmp_path / "bench.json"
    key = ("op", "megapixels")
    merge(path, {"op": "l0", "megapixels": 3, "s": 5.2}, key)
    merge(path, {"op": "l0", "megapixels": 24, "s": 44.1}, key)
    merge(path, {"op": "l0", "megapixels": 3, "s": 4.9}, key)
    assert [(r["megapixels"], r["s"]) for r in load(path)] == [(24, 44.1), (3, 4.9)]
    assert not list(tmp_path.glob("*.tmp"))
    argv = ["/x/benchmarks/bench_megapixels.py", "--op", "l0", "--json", "r.json", "--docs"]
    assert command(argv + ["--note=idle", "--sizes", "24"]) == (
        "python benchmarks/bench_megapixels.py --op l0 --sizes 24"
    )
