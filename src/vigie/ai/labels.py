"""Readable names of features and values, in English and French."""

from __future__ import annotations

from typing import Literal

from vigie.ai.nomenclature import region_name, sector_name

Lang = Literal["en", "fr"]

FEATURE_NAMES: dict[str, tuple[str, str]] = {
    "nace": ("sector", "secteur"),
    "size_band": ("size", "taille"),
    "employees": ("employees", "salariés"),
    "revenue_keur": ("revenue (k€)", "chiffre d'affaires (k€)"),
    "age_years": ("company age (years)", "âge de l'entreprise (ans)"),
    "region": ("region", "région"),
    "country": ("country", "pays"),
    "legal_form": ("legal form", "forme juridique"),
    "has_website": ("website", "site web"),
    "ecommerce": ("online shop", "boutique en ligne"),
    "cms": ("website technology", "technologie du site"),
    "uses_crm": ("uses a CRM", "utilise un CRM"),
    "email_ok": ("reachable by e-mail", "joignable par e-mail"),
    "phone_ok": ("reachable by phone", "joignable par téléphone"),
    "interactions": ("interactions", "interactions"),
    "email_reply_rate": ("answers e-mail", "répond aux e-mails"),
    "support_tickets": ("support tickets", "tickets de support"),
    "avg_days_late": ("payment delay (days)", "retard de paiement (jours)"),
}
BOOLEAN_TRAITS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "has_website": (("has a website", "a un site web"), ("no website", "sans site web")),
    "ecommerce": (("sells online", "vend en ligne"), ("no online shop", "sans boutique en ligne")),
    "uses_crm": (("uses a CRM", "utilise un CRM"), ("no CRM", "sans CRM")),
    "email_ok": (("reachable by e-mail", "joignable par e-mail"), ("no e-mail", "sans e-mail")),
    "phone_ok": (("reachable by phone", "joignable par téléphone"), ("no phone", "sans téléphone")),
}
COUNTRY_NAMES = {"BE": ("Belgium", "Belgique"), "FR": ("France", "France")}


def feature_name(name: str, lang: Lang) -> str:
    """A feature's readable name (the column name when unknown)."""
    pair = FEATURE_NAMES.get(name)
    return (pair[0] if lang == "en" else pair[1]) if pair else name


def factor_text(feature: str, value: str, lang: Lang) -> str:
    """A factor as 'sector: food retail', 'website: yes', 'employees: 12'."""
    name = feature_name(feature, lang)
    if feature in {"nace", "country", "region"}:
        return f"{name}: {value_name(feature, value, lang)}"
    if feature in BOOLEAN_TRAITS and value in {"0", "1"}:
        yes, no = ("yes", "no") if lang == "en" else ("oui", "non")
        return f"{name}: {yes if value == '1' else no}"
    return f"{name}: {value}"


def value_name(feature: str, value: str, lang: Lang) -> str:
    """A feature's value as a phrase: 'food retail', '10-49 employees', 'has a website'."""
    index = 0 if lang == "en" else 1
    if feature == "nace":
        return sector_name(value, lang)
    if feature == "region":
        return region_name(value, lang)
    if feature == "country" and value in COUNTRY_NAMES:
        return COUNTRY_NAMES[value][index]
    if feature == "size_band":
        return f"{value} " + ("employees" if lang == "en" else "salariés")
    if feature in BOOLEAN_TRAITS and value in {"1", "0", "True", "False", "true", "false"}:
        positive = value in {"1", "True", "true"}
        return BOOLEAN_TRAITS[feature][0 if positive else 1][index]
    if feature == "legal_form":
        return value
    return f"{feature_name(feature, lang)}: {value}"
