#!/usr/bin/env python
"""Builds the settings once and wires the four stacks: cluster → platform → app-staging, app-production (on the local
target, TODO_TARGET=local: platform → one app stack, no cluster stack).

Bad configuration is refused before any construct exists — before jsii and Node even start: one line on
stderr (one per violation of the chart's values schema), exit code 2, nothing written to cdktf.out/. A synthesis
holds the output folder's lock (todo_infra/outdir_lock.py) unless the command that started it holds it already.
`python main.py --check` stops there: dev.py runs it before the cdktf CLI, which would wrap the refusal in noise.
`python main.py --state-bucket [--enable] [STACK ...]` checks (or creates and versions) the state and backup buckets, or
only the named stacks' state buckets, instead of synthesizing.
After a synth, stacks that are no longer configured are removed from the output folder.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from todo_infra.chart_values import SAMPLE_IMAGE_TAG, chart_sets, values_problems
from todo_infra.contracts import CLUSTER_STACK, PLATFORM_STACK
from todo_infra.outdir_lock import locked
from todo_infra.provider_locks import place as place_provider_locks
from todo_infra.settings import CONTEXT_OVERRIDE_ENV, ConfigError, Settings, check_known_keys, load_settings

if TYPE_CHECKING:
    from cdktf import App

PROJECT_DIR = Path(__file__).resolve().parent


def embedded_context() -> dict[str, Any]:
    """The defaults committed in cdktf.json's `context`; a file that is not JSON, or has no context object, is refused
    in one line with the position."""
    try:
        document = json.loads((PROJECT_DIR / "cdktf.json").read_text())
    except json.JSONDecodeError as error:
        raise ConfigError.saying(f"cdktf.json:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
    context = document.get("context") if isinstance(document, dict) else None
    if not isinstance(context, dict):
        raise ConfigError.saying('cdktf.json: expected an object with a "context" object of settings')
    return context


def context_from(environ: Mapping[str, str]) -> dict[str, Any]:
    """cdktf.json's context, overlaid with TODO_CONTEXT_JSON. (CDKTF_CONTEXT_JSON belongs to the cdktf CLI, which
    sets it for every app it runs, so it cannot carry the operator's overrides.)"""
    context = embedded_context()
    overlay = environ.get(CONTEXT_OVERRIDE_ENV)
    if overlay is not None:
        try:
            extra = json.loads(overlay)
        except json.JSONDecodeError:
            raise ConfigError(CONTEXT_OVERRIDE_ENV, overlay[:40], "a JSON object") from None
        if not isinstance(extra, dict) or not extra:
            raise ConfigError(CONTEXT_OVERRIDE_ENV, overlay[:40], "a non-empty JSON object")
        check_known_keys(extra, CONTEXT_OVERRIDE_ENV)
        context.update(extra)
    return context


def configuration_problems(settings: Settings) -> list[str]:
    """Violations of the chart's values schema by the values each configured app release installs."""
    problems = []
    for env in settings.environments:
        sets = chart_sets(settings, env, image_tag=env.default_image_tag or SAMPLE_IMAGE_TAG)
        problems += values_problems(env.values_file, sets, overlays=env.overlays)
    return list(dict.fromkeys(problems))


def refusals(environ: Mapping[str, str]) -> list[str]:
    """Everything this configuration is refused for, one line each (empty when it is good): the settings, then the
    values each configured app release would install. main.py, dev.py and preflight all ask this."""
    try:
        settings = load_settings(context_from(environ), environ)
    except ConfigError as error:
        return [str(error)]
    return configuration_problems(settings)


def prune_stale_stacks(outdir: Path) -> None:
    """Remove stack folders a previous synth left that this configuration no longer has."""
    current = {Path(stack["synthesizedStackPath"]).parent.name for stack in read_manifest(outdir).values()}
    for folder in (outdir / "stacks").iterdir():
        if folder.is_dir() and folder.name not in current:
            shutil.rmtree(folder)


def read_manifest(outdir: Path) -> dict[str, Any]:
    stacks: dict[str, Any] = json.loads((outdir / "manifest.json").read_text())["stacks"]
    return stacks


def build_app(*, outdir: str | None = None, settings: Settings | None = None) -> App:
    """The whole app; `settings` defaults to the embedded defaults with no overrides."""
    from todo_infra.node import use_project_node

    use_project_node()
    # Imported here so that refusing bad input never waits for jsii to load the provider bindings.
    from cdktf import App

    from stacks.app import AppStack
    from stacks.cluster import ClusterStack
    from stacks.platform import PlatformStack

    settings = settings or load_settings(embedded_context(), {})
    app = App(outdir=outdir) if outdir else App()
    # The local target has no cluster stack (todo_infra/local_target.py).
    cluster = ClusterStack(app, CLUSTER_STACK, settings=settings) if settings.local is None else None
    platform = PlatformStack(app, PLATFORM_STACK, settings=settings)
    if cluster is not None:
        platform.add_dependency(cluster)
    for env in settings.environments:
        AppStack(app, env.stack_id, settings=settings, env=env).add_dependency(platform)
    return app


def main(environ: Mapping[str, str], argv: list[str]) -> int:
    problems = refusals(environ)
    for problem in problems:
        print(f"main.py: {problem}", file=sys.stderr)
    if problems:
        return 2
    if "--check" in argv:
        return 0
    settings = load_settings(context_from(environ), environ)
    if argv[:1] == ["--state-bucket"]:
        from todo_infra.state_bucket import run

        return run(settings, argv[1:], environ)
    # A one-shot process that keeps what it allocates: the cyclic garbage collector would only rescan the jsii
    # bindings' large heap on every later import (about 0.25 s of a 5 s synth), never free much.
    gc.disable()
    outdir = Path(environ.get("CDKTF_OUTDIR") or PROJECT_DIR / "cdktf.out")
    with locked(outdir, "main.py", say=lambda message: print(f"main.py: {message}", file=sys.stderr, flush=True)):
        try:
            app = build_app(settings=settings)
        except ConfigError as error:
            print(f"main.py: {error}", file=sys.stderr)
            return 2
        app.synth()
        prune_stale_stacks(Path(app.outdir))
        place_provider_locks(Path(app.outdir))  # where Terraform runs; the workflows' init refuses to change them
    return 0


if __name__ == "__main__":
    sys.exit(main(os.environ, sys.argv[1:]))
