"""`vigie experiments …`: the A/B tests of vigie.yaml, their planned samples, and where each
stands (read from the event log, the same count as the server's)."""

from __future__ import annotations

from typing import Annotated

import typer

from vigie.cli.options import ConfigOption, DbOption, LogOption, console, err, load_settings

experiments_app = typer.Typer(
    help="A/B/n experiments and their verdicts. / Expériences A/B et leurs verdicts.\n\n"
    "Example: vigie experiments show checkout-button --config vigie.yaml",
    no_args_is_help=True,
)


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@experiments_app.command("list")
def list_experiments(config: ConfigOption = None) -> None:
    """The experiments of vigie.yaml: variants, metric, and the sample each variant needs.

    Example: vigie experiments list --config vigie.yaml
    """
    from vigie.experiments import planned_size

    settings = load_settings(None, config)
    if not settings.config.experiments:
        _say("no experiments in vigie.yaml (experiments:)")
        return
    for exp in settings.config.experiments:
        variants = ", ".join(f"{v.name} ({v.weight:g})" for v in exp.variants)
        _say(
            f"{exp.name}: {variants}; metric {exp.metric} within {exp.horizon}; "
            f"{planned_size(exp)} units per variant to detect +{exp.mde:.1%} over "
            f"{exp.baseline:.1%} (alpha {exp.alpha:g}, power {exp.power:g})"
        )


@experiments_app.command()
def show(
    name: Annotated[str, typer.Argument(help="An experiment of vigie.yaml.")],
    language: Annotated[str, typer.Option(help="en or fr.")] = "en",
    db: DbOption = None,
    log: LogOption = None,
    config: ConfigOption = None,
) -> None:
    """Count NAME's exposures and conversions over the whole event log and print its arms
    and verdict (no verdict before the planned sample: no peeking).

    Example: vigie experiments show checkout-button --language fr
    """
    from vigie.experiments.processor import ExperimentsProcessor
    from vigie.store import upgrade
    from vigie.system import build_system

    settings = load_settings(db, config, log)
    if name not in {e.name for e in settings.config.experiments}:
        err.print(f"no experiment {name!r} in vigie.yaml")
        raise typer.Exit(2)
    system = build_system(settings)
    try:
        upgrade(system.engine)
        counter = ExperimentsProcessor(settings.config.experiments)
        offset = 1
        while batch := system.log.read(offset, 5000):
            counter.process(batch)
            offset = (batch[-1].offset or offset) + 1
    finally:
        system.engine.dispose()
    found = counter.verdict(name)
    for arm in found.arms:
        if found.design == "time_blocks":
            mean = f"{arm.converted / arm.exposed:.1f} per block" if arm.exposed else "-"
            _say(f"  {arm.variant:16} blocks {arm.exposed:7}  total {arm.converted:9}  {mean}")
            continue
        rate = f"{arm.converted / arm.exposed:.1%}" if arm.exposed else "-"
        _say(f"  {arm.variant:16} exposed {arm.exposed:7}  converted {arm.converted:7}  {rate}")
    if counter.mismatched(name):
        _say(f"  {counter.mismatched(name)} exposures reported another variant than assigned")
    _say(found.sentence.get(language, found.sentence["en"]))
