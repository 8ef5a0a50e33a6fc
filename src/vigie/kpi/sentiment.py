"""Sentiment of short French and English texts, from lexicons that ship inside packages.

English uses vaderSentiment, French its adaptation vaderSentiment-fr; both read their
lexicon from the installed package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import re
import warnings
from functools import cached_property
from typing import Any

_FRENCH_HINTS = re.compile(
    r"\b(le|la|les|une|des|est|très|pas|je|nous|vous|merci|bonjour|avec|pour|livraison|"
    r"commande|déçu|génial|nul|super|retard)\b",
    re.IGNORECASE,
)


class SentimentScorer:
    """The VADER compound score, -1 (negative) to +1 (positive), of a text in fr or en."""

    @cached_property
    def _english(self) -> Any:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        return SentimentIntensityAnalyzer()

    @cached_property
    def _french(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fuzzywuzzy's note about python-Levenshtein
            from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer

        return SentimentIntensityAnalyzer()

    def score(self, text: str, language: str | None = None) -> float:
        """The compound score of `text`; `language` ("fr", "en-GB" …) is guessed if absent."""
        lang = (language or "").lower()[:2] or self.guess_language(text)
        analyzer = self._french if lang == "fr" else self._english
        return float(analyzer.polarity_scores(text)["compound"])

    @staticmethod
    def guess_language(text: str) -> str:
        """ "fr" when the text has common French words, else "en"."""
        return "fr" if _FRENCH_HINTS.search(text) else "en"
