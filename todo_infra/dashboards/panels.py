"""The few panel and query shapes the dashboards are made of, built with grafana-foundation-sdk's typed builders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, logs, loki, prometheus, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.dashboard import Threshold as ThresholdStep
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from todo_infra.dashboards.grafana import Datasource

#: Every dashboard of the platform carries this tag; their link menu lists the others by it.
TAG = "todo-app"
#: The grid is 24 units wide.
FULL, HALF, THIRD = 24, 12, 8
HEIGHT = 8


@dataclass(frozen=True)
class Query:
    """One query of a panel: the expression and its legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Threshold:
    """A line on a time series: where an alert fires, or a bound the platform sets."""

    value: float
    color: str = "red"


def ref(source: Datasource) -> common.DataSourceRef:
    return common.DataSourceRef(type_val=source.type, uid=source.uid)


def _targets(source: Datasource, queries: Sequence[Query], *, instant: bool = False) -> list[prometheus.Dataquery]:
    built = []
    for index, query in enumerate(queries):
        target = prometheus.Dataquery().expr(query.expr).ref_id(chr(ord("A") + index)).datasource(ref(source))
        if query.legend:
            target = target.legend_format(query.legend)
        built.append(target.instant().format(PromQueryFormat.TABLE) if instant else target.range())
    return built


def graph(
    panel_id: int,
    title: str,
    source: Datasource,
    queries: Sequence[Query],
    *,
    unit: str,
    description: str,
    width: int = HALF,
    thresholds: Sequence[Threshold] = (),
    minimum: float | None = 0,
) -> timeseries.Panel:
    """A time series; thresholds are drawn as dashed lines."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(ref(source))
        .span(width)
        .height(HEIGHT)
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builder.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        )
        .targets(list(_targets(source, queries)))
    )
    if minimum is not None:
        panel = panel.min(minimum)
    if thresholds:
        steps = [ThresholdStep(value=None, color="transparent")]
        steps += [ThresholdStep(value=line.value, color=line.color) for line in thresholds]
        panel = panel.thresholds(
            dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)
        ).thresholds_style(common_builder.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED))
    return panel


def listing(
    panel_id: int, title: str, source: Datasource, queries: Sequence[Query], *, description: str, width: int = FULL
) -> table.Panel:
    """A table of the current values (instant queries), one row per series."""
    return (
        table.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(ref(source))
        .span(width)
        .height(HEIGHT)
        .targets(list(_targets(source, queries, instant=True)))
    )


def log_lines(panel_id: int, title: str, source: Datasource, selector: str, *, width: int = HALF) -> logs.Panel:
    """The newest lines of a log stream (a LogQL stream selector)."""
    return (
        logs.Panel()
        .id(panel_id)
        .title(title)
        .description(f"Loki: {selector}")
        .datasource(ref(source))
        .span(width)
        .height(HEIGHT)
        .show_time(True)
        .wrap_log_message(True)
        .enable_log_details(True)
        .sort_order(common.LogsSortOrder.DESCENDING)
        .with_target(loki.Dataquery().expr(selector).ref_id("A").datasource(ref(source)))
    )


def row(row_id: int, title: str) -> dashboard.Row:
    return dashboard.Row(title).id(row_id)


def board(uid: str, title: str, description: str) -> dashboard.Dashboard:
    """A dashboard of the platform: refreshed every 30 s, last hour, linked to the others."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .readonly()
        .link(
            dashboard.DashboardLink("Todo app dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def namespace_variable(namespaces: Sequence[str]) -> dashboard.CustomVariable:
    """The environment: one of the app's namespaces."""
    return (
        dashboard.CustomVariable("namespace")
        .label("Environment (namespace)")
        .values(",".join(namespaces))
        .current(_option(namespaces[0]))
    )


def query_variable(name: str, label: str, source: Datasource, query: str) -> dashboard.QueryVariable:
    """Values of a label, several or all at once (All matches any value: `.*`)."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(ref(source))
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(_option("All", "$__all"))
    )


def _option(text: str, value: str | None = None) -> VariableOption:
    return VariableOption(selected=True, text=text, value=value if value is not None else text)
