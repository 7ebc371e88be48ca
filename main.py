#!/usr/bin/env python
"""Builds the settings once and wires the four stacks: cluster → platform → app-staging, app-production.

Bad configuration is refused before any construct exists — before jsii and Node even start: one line on
stderr, exit code 2, nothing written to cdktf.out/.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from todo_infra.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from cdktf import App

PROJECT_DIR = Path(__file__).resolve().parent


def embedded_context() -> dict[str, Any]:
    """The defaults committed in cdktf.json's `context`."""
    context: dict[str, Any] = json.loads((PROJECT_DIR / "cdktf.json").read_text())["context"]
    return context


def context_from(environ: Mapping[str, str]) -> dict[str, Any]:
    """cdktf.json's context, overlaid with CDKTF_CONTEXT_JSON (the variable the cdktf CLI uses for context)."""
    context = embedded_context()
    overlay = environ.get("CDKTF_CONTEXT_JSON", "")
    if overlay:
        try:
            extra = json.loads(overlay)
        except json.JSONDecodeError:
            raise ConfigError("CDKTF_CONTEXT_JSON", overlay[:40], "a JSON object") from None
        if not isinstance(extra, dict):
            raise ConfigError("CDKTF_CONTEXT_JSON", overlay[:40], "a JSON object")
        context.update(extra)
    return context


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
    cluster = ClusterStack(app, "cluster", settings=settings)
    platform = PlatformStack(app, "platform", settings=settings)
    platform.add_dependency(cluster)
    for env in settings.environments:
        AppStack(app, env.stack_id, settings=settings, env=env).add_dependency(platform)
    return app


def main(environ: Mapping[str, str]) -> int:
    try:
        settings = load_settings(context_from(environ), environ)
        app = build_app(settings=settings)
    except ConfigError as error:
        print(f"main.py: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main(os.environ))
