"""The weekly review as a report: HTML with its charts inline (SVG drawn by matplotlib, no
file or network fetched), and PDF from the same HTML (WeasyPrint), in French or English,
times in the reader's time zone (the week's dates in the site's, whose calendar it follows)."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from vigie.review.weekly import KpiLine, WeeklyReview

LANGUAGES = ("en", "fr")
NONE = "\u2013"  # an en dash where there is no value

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Weekly review", "fr": "Revue hebdomadaire"},
    "period": {"en": "From {start} to {end} ({zone})", "fr": "Du {start} au {end} ({zone})"},
    "generated": {"en": "Written {at}", "fr": "Rédigée le {at}"},
    "events": {
        "en": "{n} events in the log this week",
        "fr": "{n} événements dans le journal cette semaine",
    },
    "kpis": {"en": "KPIs against their targets", "fr": "Indicateurs face à leurs objectifs"},
    "kpi": {"en": "KPI", "fr": "Indicateur"},
    "department": {"en": "Department", "fr": "Service"},
    "this_week": {"en": "This week", "fr": "Cette semaine"},
    "target": {"en": "Alert when", "fr": "Alerte si"},
    "met": {"en": "Target kept", "fr": "Objectif tenu"},
    "missed": {"en": "Target missed", "fr": "Objectif manqué"},
    "no_target": {"en": "no threshold", "fr": "sans seuil"},
    "no_kpis": {
        "en": "No KPI had data this week or the three before.",
        "fr": "Aucun indicateur n'a de données cette semaine ni les trois précédentes.",
    },
    "alerts": {"en": "Alerts and what was done", "fr": "Alertes et suites données"},
    "no_alerts": {"en": "No alert this week.", "fr": "Aucune alerte cette semaine."},
    "started": {"en": "Started", "fr": "Début"},
    "rule": {"en": "Rule", "fr": "Règle"},
    "ack": {"en": "Acknowledged after", "fr": "Prise en charge après"},
    "not_acked": {"en": "not acknowledged", "fr": "non prise en charge"},
    "verdict": {"en": "Verdict", "fr": "Avis"},
    "useful": {"en": "useful", "fr": "utile"},
    "false_alarm": {"en": "false alarm", "fr": "fausse alerte"},
    "no_verdict": {"en": "none given", "fr": "aucun"},
    "runs": {"en": "Playbooks run", "fr": "Playbooks exécutés"},
    "actions": {"en": "{n} actions", "fr": "{n} actions"},
    "rules": {"en": "Rules: precision and noise", "fr": "Règles : précision et bruit"},
    "count": {"en": "Alerts", "fr": "Alertes"},
    "per_day": {"en": "Per day", "fr": "Par jour"},
    "precision": {"en": "Precision", "fr": "Précision"},
    "median_ack": {"en": "Median time to acknowledge", "fr": "Délai médian de prise en charge"},
    "tuning": {"en": "Threshold suggestions", "fr": "Suggestions de seuils"},
    "no_tuning": {
        "en": "No threshold or change rule was judged this week: nothing to tune from.",
        "fr": "Aucune règle de seuil ou de variation n'a été jugée cette semaine : rien à régler.",
    },
    "effects": {"en": "Measured effects and experiments", "fr": "Effets mesurés et expériences"},
    "no_effects": {
        "en": "No control group or experiment is configured.",
        "fr": "Aucun groupe témoin ni aucune expérience n'est configuré.",
    },
    "holdout": {"en": "control group", "fr": "groupe témoin"},
    "experiment": {"en": "experiment", "fr": "expérience"},
    "running": {"en": "running", "fr": "en cours"},
    "complete": {"en": "concluded", "fr": "conclue"},
    "ai": {
        "en": "Lead scoring: the model in service",
        "fr": "Score des prospects : le modèle en service",
    },
    "no_ai": {
        "en": "No lead-scoring model is trained.",
        "fr": "Aucun modèle de score n'est entraîné.",
    },
    "ai_active": {
        "en": "Version {version} ({model}), active since: {how}.",
        "fr": "Version {version} ({model}), active depuis : {how}.",
    },
    "ai_metrics": {
        "en": "On its test period: AUC {auc}, expected calibration error {ece}.",
        "fr": "Sur sa période de test : AUC {auc}, erreur de calibrage {ece}.",
    },
    "ai_drift": {
        "en": "Drift checks of live scores this week: {n}; worst PSI {psi} ({level}).",
        "fr": "Contrôles de dérive des scores cette semaine : {n} ; pire PSI {psi} ({level}).",
    },
    "disconnect": {"en": "Right to disconnect", "fr": "Droit à la déconnexion"},
    "no_people": {
        "en": "No person is configured in schedule:.",
        "fr": "Aucune personne n'est configurée dans schedule:.",
    },
    "person": {"en": "Person or team", "fr": "Personne ou équipe"},
    "received": {"en": "Received", "fr": "Reçues"},
    "held": {"en": "Held", "fr": "Retenues"},
    "rerouted": {"en": "Rerouted", "fr": "Réacheminées"},
    "in_hours": {"en": "In working time", "fr": "Pendant le travail"},
    "on_call": {"en": "On call (urgent)", "fr": "Astreinte (urgent)"},
    "outside": {"en": "Outside working time", "fr": "Hors temps de travail"},
    "policy_held": {
        "en": "The policy held: nothing reached anyone outside their working time.",
        "fr": "La règle a été tenue : rien n'a atteint quiconque hors de son temps de travail.",
    },
    "policy_broken": {
        "en": "{n} notifications reached someone outside their working time.",
        "fr": "{n} notifications ont atteint quelqu'un hors de son temps de travail.",
    },
    "sensors": {"en": "Sensors silent or flapping", "fr": "Capteurs muets ou instables"},
    "no_sensors": {
        "en": "Every sensor reported within its silence limit.",
        "fr": "Chaque capteur a émis dans sa limite de silence.",
    },
    "device": {"en": "Device", "fr": "Appareil"},
    "readings": {"en": "Readings", "fr": "Relevés"},
    "longest": {"en": "Longest silence", "fr": "Plus long silence"},
    "silent": {"en": "silent", "fr": "muet"},
    "flapping": {"en": "flapping", "fr": "instable"},
    "days": {"en": "Mon,Tue,Wed,Thu,Fri,Sat,Sun", "fr": "lun,mar,mer,jeu,ven,sam,dim"},
}


def text(key: str, language: str, **values: Any) -> str:
    """The sentence `key` in `language`, with `values` filled in."""
    return TEXT[key][language].format(**values)


def duration(seconds: float | None, language: str) -> str:
    """A wait in words a reader takes in at a glance: 45 s, 12 min, 3 h 20."""
    if seconds is None:
        return text("not_acked", language)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(int(seconds) // 60, 60)
    return f"{hours} h {rest:02d}"


def number(value: float | None, unit: str | None = None) -> str:
    if value is None:
        return NONE
    if unit in ("ratio", "%", "percent"):
        return f"{value:.1%}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _chart(line: KpiLine, language: str) -> Markup:
    """The week's days, with the weeks before as dotted levels and the threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2, 1.1), dpi=72)
    axes = figure.add_axes((0.08, 0.22, 0.9, 0.72))
    days = text("days", language).split(",")
    values = [v if v is not None else float("nan") for v in line.days]
    axes.plot(range(7), values, marker="o", markersize=3, linewidth=1.5, color="#1f5fa8")
    for k, week in enumerate(line.weeks):
        if week.value is not None:
            axes.axhline(
                week.value, color="#999999", linewidth=0.8, linestyle=":", alpha=0.4 + 0.2 * k
            )
    if line.target is not None:
        threshold = line.target.partition(" ")[2]
        axes.axhline(float(threshold), color="#b3261e", linewidth=1, linestyle="--")
    axes.set_xticks(range(7), days, fontsize=7)
    axes.tick_params(axis="y", labelsize=7)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    out = io.StringIO()
    figure.savefig(out, format="svg")
    svg = out.getvalue()
    return Markup(svg[svg.index("<svg") :])


_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("vigie.review", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


def render_html(review: WeeklyReview, *, language: str = "en", timezone: str = "UTC") -> str:
    """The review as one self-contained HTML page."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    zone = ZoneInfo(timezone)
    site = ZoneInfo(review.timezone)

    def when(moment: datetime | None) -> str:
        if moment is None:
            return NONE
        local = moment.astimezone(zone)
        return f"{local:%d/%m/%Y %H:%M}" if language == "fr" else f"{local:%Y-%m-%d %H:%M}"

    def day(local: date) -> str:
        return f"{local:%d/%m/%Y}" if language == "fr" else f"{local:%Y-%m-%d}"

    # The week's first and last days on the site's calendar, whatever the reader's zone.
    first = review.start.astimezone(site).date()
    last = review.end.astimezone(site).date() - timedelta(days=1)
    generated = when(review.generated_at)
    if timezone != review.timezone:
        generated += f" ({timezone})"
    outside = sum(r.delivered_outside_working_time for r in review.disconnect)
    return _environment.get_template("weekly.html").render(
        review=review,
        lang=language,
        t=lambda key, **values: text(key, language, **values),
        when=when,
        first_day=day(first),
        last_day=day(last),
        generated=generated,
        duration=lambda s: duration(s, language),
        number=number,
        chart=lambda line: _chart(line, language),
        outside=outside,
    )


def write_pdf_bytes(html: str) -> bytes:
    """The same page as a PDF (A4); WeasyPrint lays it out with Pango, a system library."""
    try:
        from weasyprint import HTML
    except OSError as exc:  # Pango missing: say what to install
        raise RuntimeError(
            f"the PDF needs Pango (e.g. apt-get install libpango-1.0-0 libpangoft2-1.0-0): {exc}"
        ) from exc
    document: bytes = HTML(string=html).write_pdf()
    return document


def write_pdf(html: str, path: Path) -> Path:
    """The same page as a PDF file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(write_pdf_bytes(html))
    return path
