"""The bias and governance report: one self-contained HTML file, plots embedded as PNG.

It answers, in English and French: who is selected compared with the base and with past
conversions (four-fifths rule), how the inputs drifted since training (PSI), who was
excluded and why, how good and calibrated the model is, and why the best leads were chosen.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

from vigie.ai import drift, fairness
from vigie.ai.labels import factor_text, feature_name, value_name
from vigie.ai.models import Model

LEAD_HEADERS = [
    "rank / rang", "company id", "name / nom", "score", "rep / commercial", "factors / facteurs",
]  # fmt: skip
EXCLUSION_LABELS = {
    "no_legal_basis": ("no legal basis for contact (GDPR)", "pas de base légale de contact (RGPD)"),
    "existing_customer": ("already a customer", "déjà client"),
    "not_contactable": ("no e-mail nor phone", "ni e-mail ni téléphone"),
}


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return (
        f'<img alt="" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
    )


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], flags: Sequence[bool] = ()
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="flag"' if i < len(flags) and flags[i] else ""
        cells = "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if frame.height == 0 or column not in frame.columns:
        return {}
    table = frame.group_by(pl.col(column).cast(pl.String)).len()
    return {str(k): int(v) for k, v in table.iter_rows()}


def _fairness_section(
    column: str,
    summary: dict[str, Any],
    leads: pl.DataFrame,
    history: pl.DataFrame | None,
) -> tuple[str, int]:
    base = {g: sum(h) for g, h in summary["groups"].get(column, {}).items()}
    if not base:
        return "", 0
    selected = _counts(leads, column)
    assigned = (
        _counts(leads.filter(pl.col("rep").is_not_null()), column) if "rep" in leads.columns else {}
    )
    converted = (
        _counts(history.filter(pl.col("won").cast(pl.Boolean)), column)
        if history is not None and "won" in history.columns and column in history.columns
        else None
    )
    rates = fairness.selection_rates(base, selected, converted=converted)
    total_assigned = sum(assigned.values()) or 1
    label = feature_name(column, "en"), feature_name(column, "fr")
    rows = [
        (
            value_name(column, r.group, "en") if column == "nace" else r.group,
            r.base,
            f"{r.base_share:.1%}",
            f"{r.selected_share:.1%}",
            f"{assigned.get(r.group, 0) / total_assigned:.1%}",
            "-" if r.converted_share is None else f"{r.converted_share:.1%}",
            f"{r.rate:.3%}",
            f"{r.ratio_to_best:.2f}",
            "⚠ below 4/5 / sous 4/5" if r.flagged else "",
        )
        for r in rates
    ]
    top = rates[:15]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    xs = range(len(top))
    width = 0.27
    ax.bar([x - width for x in xs], [r.base_share for r in top], width, label="base")
    ax.bar(list(xs), [r.selected_share for r in top], width, label="selected / sélectionnés")
    ax.bar(
        [x + width for x in xs],
        [r.converted_share or 0 for r in top],
        width,
        label="past conversions / conversions passées",
    )
    names = [value_name(column, r.group, "en") if column == "nace" else r.group for r in top]
    ax.set_xticks(list(xs), names, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("share / part")
    ax.legend(fontsize=8)
    ax.set_title(f"{label[0]} / {label[1]}")
    flagged = sum(r.flagged for r in rates)
    section = (
        f"<h3>{html.escape(label[0])} / {html.escape(label[1])}</h3>{_png(fig)}"
        + _table(
            [
                "group / groupe", "base (eligible)", "share of base / part de la base",
                "share selected / part sélectionnée", "share assigned / part attribuée",
                "share of past conversions / part des conversions passées",
                "selection rate / taux de sélection", "ratio to best / ratio au meilleur", "",
            ],
            rows,
            [r.flagged for r in rates],
        )
    )  # fmt: skip
    return section, flagged


def _drift_section(model: Model, summary: dict[str, Any]) -> str:
    rows = []
    values = []
    for feature in model.encoder.features:
        ref = model.reference.get(feature.name)
        now = summary["drift"].get(feature.name)
        if not ref or not now:
            continue
        value = drift.psi(ref["counts"], now)
        values.append((feature.name, value))
        rows.append((feature.name, f"{value:.3f}", drift.level(value)))
    if not rows:
        return "<p>No drift sample. / Pas d'échantillon de dérive.</p>"
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.barh([v[0] for v in values], [v[1] for v in values], color="#4a7")
    ax.axvline(drift.MODERATE, color="orange", linestyle="--", label="0.1")
    ax.axvline(drift.MAJOR, color="red", linestyle="--", label="0.25")
    ax.set_xlabel("PSI")
    ax.legend(fontsize=8)
    return _png(fig) + _table(
        ["feature / variable", "PSI", "level / niveau"], rows, [r[2] == "major" for r in rows]
    )


def _calibration_plot(card: dict[str, Any]) -> str:
    bins = card["metrics"].get("calibration") or []
    if not bins:
        return ""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--")
    ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], marker="o")
    top = max(max(b["predicted"] for b in bins), max(b["observed"] for b in bins)) * 1.1
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted / prédit")
    ax.set_ylabel("observed / observé")
    ax.set_title("Calibration (test period)")
    return _png(fig)


def build_report(
    *,
    summary: dict[str, Any],
    leads: pl.DataFrame,
    model: Model,
    history: pl.DataFrame | None,
) -> str:
    """The whole report as one HTML document (no external resource)."""
    card = model.card
    m = card["metrics"]
    excluded = summary["excluded"]
    fig, ax = plt.subplots(figsize=(6, 2.4))
    ax.barh([EXCLUSION_LABELS.get(k, (k, k))[0] for k in excluded], list(excluded.values()))
    ax.set_xlabel("prospects")
    exclusions = _png(fig) + _table(
        ["reason / motif", "prospects"],
        [(" / ".join(EXCLUSION_LABELS.get(k, (k, k))), n) for k, n in excluded.items()],
    )
    sections = []
    flagged_total = 0
    for column in ("nace", "region", "size_band", "country"):
        section, flagged = _fairness_section(column, summary, leads, history)
        sections.append(section)
        flagged_total += flagged
    explained = []
    for row in leads.head(25).iter_rows(named=True):
        factors = row.get("factors") or []
        text = "; ".join(
            f"{factor_text(f['feature'], f['value'], 'en')} ({f['contribution']:+.2f})"
            for f in factors
        )
        explained.append(
            (row["rank"], row["company_id"], row["name"], row["score"], row.get("rep") or "-", text)
        )
    profile = summary.get("profile") or {}
    ci = m.get("auc_ci")
    metric_rows = [
        ("model / modèle", f"{card.get('model', 'lightgbm')} — {card['algorithm']}"),
        ("AUC [95% CI / IC 95 %]", f"{m['auc']}" + (f" [{ci[0]}, {ci[1]}]" if ci else "")),
        ("expected calibration error / erreur de calibrage (ECE)", m.get("ece", "-")),
        ("log-loss", m["log_loss"]),
        ("Brier", m["brier"]),
        ("top-decile lift / lift du premier décile", m["top_decile_lift"]),
        ("test rows / lignes de test", m["rows"]),
        (
            "refit on every row / réajusté sur toutes les lignes",
            f"yes / oui ({card['refit']['rows']})"
            if (card.get("refit") or {}).get("done")
            else "no / non",
        ),
        *[
            (f"{c['name']}: test AUC / ECE", f"{c['test']['auc']} / {c['test']['ece']}")
            for c in [*card.get("candidates", []), {"name": "naive", "test": card.get("naive")}]
            if c.get("test")
        ],
    ]
    alarm = (card.get("shift") or {}).get("warning")
    shift_note = (
        f'<p class="flag-note">⚠ {html.escape(alarm["en"])}</p>'
        f'<p class="flag-note">⚠ {html.escape(alarm["fr"])}</p>'
        if alarm
        else ""
    )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}"
        "tr.flag td{background:#fde2e2}h2{border-bottom:2px solid #4a7;padding-bottom:3px}"
        ".note{color:#555;font-size:13px}.flag-note{background:#fde2e2;padding:6px}"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Vigie — lead scoring: bias and governance report</title><style>{style}</style></head>
<body>
<h1>Lead scoring: bias and governance report<br>
<small>Notation des prospects : rapport de biais et de gouvernance</small></h1>
<p>Model / modèle <b>{html.escape(model.version)}</b>,
run / exécution {html.escape(str(summary.get("run_at", "-")))};
{summary["rows"]:,} prospects in the base / dans la base, {summary["scored"]:,} scored / notés,
{leads.height:,} leads kept / retenus; {flagged_total} group(s) below the four-fifths rule /
groupe(s) sous la règle des quatre cinquièmes.</p>
<h2>Ideal customer profile / Profil du client idéal</h2>
<p>EN: {html.escape(profile.get("en", {}).get("text", "-"))}</p>
<p>FR : {html.escape(profile.get("fr", {}).get("text", "-"))}</p>
<h2>Model quality / Qualité du modèle</h2>
{shift_note}
{_table(["metric / mesure", "value / valeur"], metric_rows)}
{_calibration_plot(card)}
<h2>Excluded prospects / Prospects exclus</h2>
<p class="note">Prospects without a legal basis for contact, existing customers and unreachable
companies are never scored. / Les prospects sans base légale de contact, les clients existants
et les entreprises injoignables ne sont jamais notés.</p>
{exclusions}
<h2>Selection by group / Sélection par groupe</h2>
<p class="note">Selection rate = selected leads / eligible prospects of the group. A group whose
rate is below 80% of the best group's (four-fifths rule) is flagged in red. Sectors and regions
are not protected attributes of persons, but a skew here shows where the model concentrates the
sales effort and whether it just mirrors past conversions. / Taux de sélection = prospects
retenus / prospects éligibles du groupe. Un groupe sous 80 % du taux du meilleur groupe (règle
des quatre cinquièmes) est signalé en rouge.</p>
{"".join(sections)}
<h2>Drift since training / Dérive depuis l'entraînement (PSI)</h2>
<p class="note">Population stability index between the training data and a sample of the
scored base: below 0.1 stable, 0.1-0.25 moderate, above 0.25 major. / Indice de stabilité
entre les données d'entraînement et un échantillon de la base notée.</p>
{_drift_section(model, summary)}
<h2>Why these leads / Pourquoi ces prospects</h2>
<p class="note">Top factors per lead, in log-odds (each feature's contribution to the score). /
Principaux facteurs par prospect, en log-cotes.</p>
{_table(LEAD_HEADERS, explained)}
</body></html>
"""
