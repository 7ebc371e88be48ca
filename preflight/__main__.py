"""`python -m preflight [--json] [--markdown FILE] [--synth-dir DIR]` — see preflight/__init__.py."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from main import refusals
from todo_infra.outdir_lock import locked


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 dev.py preflight", description="Prove a change is deployable, offline."
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument("--markdown", type=Path, help="also write a short Markdown summary (for the PR comment)")
    parser.add_argument("--synth-dir", type=Path, help="use this already-synthesized cdktf.out instead of synthesizing")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def progress(step: str) -> None:
        print(f"preflight: {step} ({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)

    if args.synth_dir is None:
        refused = refusals(os.environ)
        for refusal in refused:
            print(f"preflight: {refusal}", file=sys.stderr)
        if refused:
            return 2
    # Imported once the configuration is known good: the checks load jsii, Helm and checkov's reports.
    from preflight.report import render_json, render_markdown_summary, render_text  # noqa: PLC0415
    from preflight.run import run_preflight  # noqa: PLC0415

    # A private folder for its own synth; an existing folder is read under its shared lock (no synth rewrites it).
    shared = locked(
        args.synth_dir, "preflight", say=lambda m: print(f"preflight: {m}", file=sys.stderr, flush=True), reading=True
    )
    with tempfile.TemporaryDirectory(prefix="preflight-synth-") as scratch, shared if args.synth_dir else nullcontext():
        try:
            results = run_preflight(
                args.synth_dir or Path(scratch), synthesize_first=args.synth_dir is None, progress=progress
            )
        except RuntimeError as error:
            print(f"preflight: {str(error).splitlines()[0]}", file=sys.stderr)
            return 2
    for result in results:
        for warning in result.warnings:
            print(f"preflight: warning: {warning}", file=sys.stderr)
    print(render_json(results) if args.json else render_text(results))
    if args.markdown:
        args.markdown.write_text(render_markdown_summary(results) + "\n")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
