"""The prospect base: a columnar table of companies, one Parquet partition per file.

`generate_partition` makes a realistic synthetic base (Belgium and France) for demos and
benchmarks; `import_prospects` loads a real CSV or Parquet file through a column mapping and
validates it, naming the column and row of each error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

PARTITION_GLOB = "part-*.parquet"

# (NACE code, English label, French label, share of the base)
SECTORS: list[tuple[str, str, str, float]] = [
    ("01.13", "vegetable growing", "culture de légumes", 0.03),
    ("01.25", "fruit and berry growing", "culture de fruits et baies", 0.02),
    ("10.71", "bakery", "boulangerie", 0.04),
    ("10.51", "dairy", "laiterie", 0.01),
    ("41.20", "building construction", "construction de bâtiments", 0.08),
    ("43.21", "electrical installation", "installation électrique", 0.06),
    ("45.20", "car repair", "entretien automobile", 0.05),
    ("46.31", "fruit and vegetable wholesale", "commerce de gros de fruits et légumes", 0.02),
    ("47.11", "food retail", "commerce de détail alimentaire", 0.07),
    ("47.71", "clothing retail", "commerce de détail d'habillement", 0.05),
    ("49.41", "road freight", "transport routier de fret", 0.04),
    ("55.10", "hotels", "hôtellerie", 0.03),
    ("56.10", "restaurants", "restauration", 0.10),
    ("62.01", "software development", "programmation informatique", 0.06),
    ("69.20", "accounting", "comptabilité", 0.05),
    ("70.22", "business consulting", "conseil de gestion", 0.08),
    ("71.11", "architecture", "architecture", 0.04),
    ("86.23", "dental practice", "pratique dentaire", 0.03),
    ("96.02", "hairdressing", "coiffure", 0.06),
    ("82.11", "office administration", "services administratifs", 0.08),
]
NACE_CODES = [s[0] for s in SECTORS]

# (region or province, country, share of the base)
REGIONS: list[tuple[str, str, float]] = [
    ("Antwerpen", "BE", 0.050),
    ("Limburg", "BE", 0.022),
    ("Oost-Vlaanderen", "BE", 0.040),
    ("Vlaams-Brabant", "BE", 0.030),
    ("West-Vlaanderen", "BE", 0.033),
    ("Brabant wallon", "BE", 0.012),
    ("Hainaut", "BE", 0.035),
    ("Liège", "BE", 0.030),
    ("Luxembourg", "BE", 0.008),
    ("Namur", "BE", 0.015),
    ("Bruxelles-Capitale", "BE", 0.045),
    ("Île-de-France", "FR", 0.170),
    ("Auvergne-Rhône-Alpes", "FR", 0.090),
    ("Hauts-de-France", "FR", 0.060),
    ("Nouvelle-Aquitaine", "FR", 0.070),
    ("Occitanie", "FR", 0.070),
    ("Grand Est", "FR", 0.050),
    ("Provence-Alpes-Côte d'Azur", "FR", 0.060),
    ("Pays de la Loire", "FR", 0.040),
    ("Bretagne", "FR", 0.035),
    ("Normandie", "FR", 0.030),
    ("Bourgogne-Franche-Comté", "FR", 0.025),
    ("Centre-Val de Loire", "FR", 0.020),
    ("Corse", "FR", 0.005),
]
REGION_NAMES = [r[0] for r in REGIONS]
COUNTRIES = ["BE", "FR"]
SIZE_BANDS = ["0-9", "10-49", "50-249", "250+"]
LEGAL_FORMS = ["SRL", "SA", "SC", "ASBL", "SARL", "SAS", "EI", "SNC"]
CMS = ["none", "wordpress", "shopify", "wix", "custom"]
LEGAL_BASES = ["legitimate_interest", "consent", "none"]

_NAMES_A = [
    "Dupont", "Lambert", "Martin", "Dubois", "Peeters", "Janssens", "Maes", "Leroy", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Mertens", "Willems", "Claes", "Goossens",
    "Wouters", "Bernard", "Petit", "Durand", "Roux", "Fontaine", "Girard", "Bonnet", "Mercier",
    "Renard", "Collin", "Jacobs", "Hermans",
]  # fmt: skip
_NAMES_B = [
    "& Fils", "Frères", "et Associés", "Services", "Group", "Solutions", "Atelier", "Maison",
    "Partners", "Distribution", "Concept", "Plus", "Pro", "Centre", "Benelux", "Europe",
]  # fmt: skip

REQUIRED_COLUMNS = ("company_id", "country", "legal_basis")
SCHEMA: dict[str, pl.DataType] = {
    "company_id": pl.Int64(),
    "name": pl.String(),
    "nace": pl.String(),
    "size_band": pl.String(),
    "employees": pl.Int32(),
    "revenue_keur": pl.Float32(),
    "age_years": pl.Int16(),
    "region": pl.String(),
    "country": pl.String(),
    "legal_form": pl.String(),
    "has_website": pl.Boolean(),
    "ecommerce": pl.Boolean(),
    "cms": pl.String(),
    "uses_crm": pl.Boolean(),
    "email_ok": pl.Boolean(),
    "phone_ok": pl.Boolean(),
    "legal_basis": pl.String(),
}
"""Columns of the prospect base, in order; `company_id`, `country`, `legal_basis` required.

Text columns may also be stored as Enum (dictionary-encoded), as the generator does. A
`company_id` is an integer: a BCE/KBO or SIREN number without its dots and spaces.
"""

FEATURES = [
    "nace", "size_band", "employees", "revenue_keur", "age_years", "region", "country",
    "legal_form", "has_website", "ecommerce", "cms", "uses_crm", "email_ok", "phone_ok",
]  # fmt: skip
"""The prospect columns a model may learn from (identity and legal basis are not features)."""


def size_band_of(employees: np.ndarray) -> np.ndarray:
    """Index into `SIZE_BANDS` of each head count."""
    return np.searchsorted(np.array([10, 50, 250]), employees, side="right")


@dataclass(frozen=True)
class Truth:
    """The generator's hidden propensity to buy: what a model should rediscover, noisily."""

    sector: np.ndarray
    size: np.ndarray
    region: np.ndarray

    @classmethod
    def make(cls, seed: int) -> Truth:
        rng = np.random.default_rng(seed + 1_000_003)
        sector = rng.normal(0.0, 0.7, len(SECTORS))
        size = np.array([-0.5, 0.35, 0.25, -0.2])
        region = rng.normal(0.0, 0.3, len(REGIONS))
        return cls(sector=sector, size=size, region=region)

    def logit(self, cols: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """Log-odds of conversion from coded columns, with unobserved noise."""
        age = cols["age_years"].astype(np.float64)
        rev_per_head = np.log1p(cols["revenue_keur"] / np.maximum(cols["employees"], 1))
        logit: np.ndarray = (
            -2.2
            + self.sector[cols["nace"]]
            + self.size[cols["size_band"]]
            + self.region[cols["region"]]
            + 0.45 * cols["has_website"]
            + 0.35 * cols["ecommerce"]
            + 0.40 * cols["uses_crm"]
            + 0.30 * cols["email_ok"]
            - 0.5 * (age < 2)
            + 0.25 * ((age >= 5) & (age <= 25))
            + 0.30 * (rev_per_head - 4.7)
            + rng.normal(0.0, 0.6, len(age))
        )
        return logit


def _pick(u: np.ndarray, weights: list[float]) -> np.ndarray:
    """Categorical draws from uniforms `u` with the given weights (inverse CDF)."""
    cdf = np.cumsum(_norm(weights)).astype(np.float32)
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(weights) - 1)


def generate_coded(rows: int, *, seed: int) -> dict[str, np.ndarray]:
    """The base's attributes as integer codes and numbers (fast; no strings yet)."""
    rng = np.random.default_rng(seed)
    u = rng.random((12, rows), dtype=np.float32)
    z = rng.standard_normal((2, rows), dtype=np.float32)
    region = _pick(u[0], [r[2] for r in REGIONS])
    country = np.array([COUNTRIES.index(r[1]) for r in REGIONS])[region]
    nace = _pick(u[1], [s[3] for s in SECTORS])
    employees = np.minimum(np.floor(np.exp(0.6 + 1.35 * z[0])), 20_000).astype(np.int32)
    revenue = (np.maximum(employees, 1) * 110.0 * np.exp(0.6 * z[1])).astype(np.float32)
    age = np.minimum(rng.standard_exponential(rows, dtype=np.float32) * 13.0, 150).astype(np.int16)
    be_forms = _pick(u[2], [0.62, 0.18, 0.08, 0.12])
    fr_forms = _pick(u[2], [0.45, 0.30, 0.20, 0.05]) + 4
    legal_form = np.where(country == 0, be_forms, fr_forms)
    size = size_band_of(employees)
    website = u[3] < (0.45 + 0.12 * size)
    ecommerce = website & (u[4] < 0.25)
    cms = np.where(website, _pick(u[5], [0.45, 0.15, 0.15, 0.25]) + 1, 0)
    uses_crm = u[6] < (0.15 + 0.12 * size)
    email_ok = u[7] < 0.72
    phone_ok = u[8] < 0.85
    legal_basis = _pick(u[9], [0.82, 0.08, 0.10])
    return {
        "nace": nace,
        "size_band": size,
        "employees": employees,
        "revenue_keur": revenue,
        "age_years": age,
        "region": region,
        "country": country,
        "legal_form": legal_form,
        "has_website": website,
        "ecommerce": ecommerce,
        "cms": cms,
        "uses_crm": uses_crm,
        "email_ok": email_ok,
        "phone_ok": phone_ok,
        "legal_basis": legal_basis,
    }


def _norm(weights: list[float]) -> np.ndarray:
    array = np.asarray(weights, dtype=np.float64)
    shares: np.ndarray = array / array.sum()
    return shares


def _enum(codes: np.ndarray, labels: list[str]) -> pl.Series:
    """Integer codes as a dictionary-encoded (Enum) column: no string is built per row."""
    return pl.Series(codes.astype(np.uint32)).cat.to(pl.Enum(labels))


NAMES = [f"{a} {b} {f}" for a in _NAMES_A for b in _NAMES_B for f in LEGAL_FORMS]


def decode(coded: Mapping[str, np.ndarray], *, first_id: int) -> pl.DataFrame:
    """The coded attributes as a prospect table with readable values."""
    rows = len(coded["nace"])
    lookup = {
        "nace": NACE_CODES,
        "size_band": SIZE_BANDS,
        "region": REGION_NAMES,
        "country": COUNTRIES,
        "legal_form": LEGAL_FORMS,
        "cms": CMS,
        "legal_basis": LEGAL_BASES,
    }
    ids = np.arange(first_id, first_id + rows, dtype=np.int64)
    name_a = ids * 2654435761 % len(_NAMES_A)
    name_b = ids * 40503 % len(_NAMES_B)
    name = (name_a * len(_NAMES_B) + name_b) * len(LEGAL_FORMS) + coded["legal_form"]
    frame = pl.DataFrame(
        {
            "company_id": ids,
            "name": _enum(name, NAMES),
            **{
                key: (_enum(value, lookup[key]) if key in lookup else value)
                for key, value in coded.items()
            },
        }
    )
    return frame.select(list(SCHEMA))


def generate_partition(index: int, rows: int, *, seed: int) -> pl.DataFrame:
    """Partition `index` of a synthetic base: the same rows for the same seed and index."""
    coded = generate_coded(rows, seed=seed * 100_003 + index)
    return decode(coded, first_id=index * 100_000_000 + 1)


def partition_sizes(rows: int, rows_per_partition: int) -> list[int]:
    """Split `rows` into partitions of at most `rows_per_partition` rows."""
    full, rest = divmod(rows, rows_per_partition)
    return [rows_per_partition] * full + ([rest] if rest else [])


def write_base(frames: Iterator[pl.DataFrame], out: Path, *, start: int = 0) -> list[Path]:
    """Write each frame as `out/part-NNNNN.parquet`; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i, frame in enumerate(frames, start=start):
        path = out / f"part-{i:05d}.parquet"
        frame.write_parquet(path, compression="lz4", statistics=False)
        paths.append(path)
    return paths


def generate_base(
    out: Path,
    *,
    rows: int,
    seed: int = 7,
    rows_per_partition: int = 1_000_000,
    on_partition: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write a synthetic base of `rows` prospects to `out` as several Parquet partitions.

    Partitions are made on two threads (NumPy and Polars release the GIL while they work);
    each is the same whatever thread makes it.
    """
    from concurrent.futures import ThreadPoolExecutor

    for old in out.glob(PARTITION_GLOB):
        old.unlink()
    out.mkdir(parents=True, exist_ok=True)
    sizes = partition_sizes(rows, rows_per_partition)

    def make(index: int) -> Path:
        path = write_base(
            iter([generate_partition(index, sizes[index], seed=seed)]), out, start=index
        )[0]
        if on_partition:
            on_partition(sizes[index])
        return path

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(make, range(len(sizes))))


def partitions(base: Path) -> list[Path]:
    """The Parquet partitions of a base directory (or the one file given), in order."""
    if base.is_file():
        return [base]
    found = sorted(base.glob(PARTITION_GLOB))
    if not found:
        raise FileNotFoundError(
            f"{base}: no prospect partitions ({PARTITION_GLOB}); create them with "
            "`vigie prospects generate` or `vigie prospects import`"
        )
    return found


class ProspectImportError(ValueError):
    """An imported file does not fit the prospect schema; `problems` name column and row."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s) in the imported file:\n  {shown}{more}")


def parse_mapping(text: str | None) -> dict[str, str]:
    """`src=dst,src2=dst2` as a dict; raise ValueError naming a malformed pair."""
    mapping: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ValueError(f"--map: {pair!r} is not of the form source_column=vigie_column")
        if dst.strip() not in SCHEMA:
            raise ValueError(
                f"--map: {dst.strip()!r} is not a prospect column; known: {', '.join(SCHEMA)}"
            )
        mapping[src.strip()] = dst.strip()
    return mapping


def read_table(path: Path) -> pl.DataFrame:
    """A CSV (separator sniffed among , ; tab) or Parquet file as strings-or-numbers."""
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pl.read_parquet(path)
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    separator = max([",", ";", "\t", "|"], key=header.count)
    return pl.read_csv(
        path,
        separator=separator,
        null_values=["", "NA", "N/A", "null", "NULL", "NaN"],
        infer_schema_length=10_000,
        try_parse_dates=False,
    )


_TRUE = {"1", "true", "yes", "y", "oui", "o", "t"}
_FALSE = {"0", "false", "no", "n", "non", "f"}
_NACE = re.compile(r"^\d{2}(\.\d{1,2})?$")


def _check(
    frame: pl.DataFrame, column: str, bad: pl.Series, reason: str, problems: list[str]
) -> None:
    rows = np.flatnonzero(bad.fill_null(False).to_numpy())
    for row in rows[:5]:
        value = frame[column][int(row)]
        problems.append(f"column {column!r}, row {int(row) + 1}: {value!r} {reason}")
    if len(rows) > 5:
        problems.append(f"column {column!r}: {len(rows) - 5} more rows {reason}")


def validate(raw: pl.DataFrame, mapping: Mapping[str, str]) -> pl.DataFrame:
    """Rename `raw` by `mapping`, check it, and return it in the prospect schema, followed
    by every other column of the file as read (none is dropped).

    Rows are numbered from 1 (the first data row). Raise `ProspectImportError` listing
    every problem found, each naming its column and row.
    """
    problems: list[str] = []
    for src in mapping:
        if src not in raw.columns:
            problems.append(f"--map names column {src!r}, absent from the file ({raw.columns})")
    if problems:
        raise ProspectImportError(problems)
    renamed = raw.rename({s: d for s, d in mapping.items() if s != d})
    frame = renamed.select([c for c in renamed.columns if c in SCHEMA])
    extra = renamed.select([c for c in renamed.columns if c not in SCHEMA])
    for column in REQUIRED_COLUMNS:
        if column not in frame.columns:
            problems.append(f"column {column!r} is required (map it with --map SOURCE={column})")
    if problems:
        raise ProspectImportError(problems)
    text = frame.with_columns(pl.all().cast(pl.String).str.strip_chars())
    _check(text, "company_id", text["company_id"].is_null(), "is empty", problems)
    _check(text, "company_id", text["company_id"].is_duplicated(), "is a duplicate", problems)
    ident = text["company_id"].str.replace_all(r"[.\s]", "").cast(pl.Int64, strict=False)
    _check(
        text, "company_id", ident.is_null() & text["company_id"].is_not_null(),
        "is not a number (BCE/KBO or SIREN digits)", problems,
    )  # fmt: skip
    upper = text["country"].str.to_uppercase()
    _check(text, "country", ~upper.str.contains(r"^[A-Z]{2}$"), "is not an ISO country", problems)
    basis = text["legal_basis"].str.to_lowercase()
    _check(
        text, "legal_basis", ~basis.is_in(LEGAL_BASES) | basis.is_null(),
        f"is not one of {LEGAL_BASES}", problems,
    )  # fmt: skip
    if "nace" in text.columns:
        _check(
            text, "nace", ~text["nace"].str.contains(_NACE.pattern), "is not a NACE code",
            problems,
        )  # fmt: skip
    if "size_band" in text.columns:
        _check(
            text, "size_band", ~text["size_band"].is_in(SIZE_BANDS),
            f"is not one of {SIZE_BANDS}", problems,
        )  # fmt: skip
    for column in ("employees", "revenue_keur", "age_years"):
        if column in text.columns:
            number = text[column].str.replace(",", ".").cast(pl.Float64, strict=False)
            bad = (number.is_null() & text[column].is_not_null()) | (number < 0)
            _check(text, column, bad, "is not a non-negative number", problems)
    for column, dtype in SCHEMA.items():
        if dtype == pl.Boolean() and column in text.columns:
            lowered = text[column].str.to_lowercase()
            bad = ~lowered.is_in(_TRUE | _FALSE) & lowered.is_not_null()
            _check(text, column, bad, "is not yes/no", problems)
    if problems:
        raise ProspectImportError(problems)
    columns: list[pl.Expr] = []
    for column, dtype in SCHEMA.items():
        if column not in text.columns:
            columns.append(pl.lit(None, dtype=dtype).alias(column))
        elif column == "company_id":
            columns.append(pl.col(column).str.replace_all(r"[.\s]", "").cast(pl.Int64))
        elif dtype == pl.Boolean():
            columns.append(pl.col(column).str.to_lowercase().is_in(_TRUE).alias(column))
        elif column in ("country",):
            columns.append(pl.col(column).str.to_uppercase())
        elif column == "legal_basis":
            columns.append(pl.col(column).str.to_lowercase())
        elif dtype == pl.String():
            columns.append(pl.col(column))
        else:
            columns.append(
                pl.col(column).str.replace(",", ".").cast(pl.Float64).cast(dtype).alias(column)
            )
    result = text.select(columns)
    if "size_band" not in frame.columns and "employees" in frame.columns:
        bands = size_band_of(result["employees"].fill_null(0).to_numpy())
        result = result.with_columns(
            size_band=pl.when(pl.col("employees").is_null())
            .then(None)
            .otherwise(_enum(bands, SIZE_BANDS))
        )
    # Columns outside the schema are kept as read: a model trained on a file that has them
    # may use them, and nothing is dropped silently (issue 22).
    return pl.concat([result, extra], how="horizontal") if extra.width else result


def import_prospects(
    path: Path, out: Path, *, mapping: Mapping[str, str], rows_per_partition: int = 1_000_000
) -> tuple[int, list[Path]]:
    """Validate `path` and write it to the base directory `out`; return (rows, partitions)."""
    frame = validate(read_table(path), mapping)
    for old in out.glob(PARTITION_GLOB):
        old.unlink()
    sizes = partition_sizes(frame.height, rows_per_partition) or [0]
    offsets = np.cumsum([0, *sizes])
    written = write_base((frame.slice(int(offsets[i]), n) for i, n in enumerate(sizes)), out)
    return frame.height, written
