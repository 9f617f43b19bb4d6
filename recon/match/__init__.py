"""The matcher: canonical POS and bank frames in, pairs with the rule that made each out.

It knows only the canonical schema (recon.schema). Passes run in order and each sees only
what the earlier ones left:
  reference          same normalised reference and direction (any lag)
  reference_other    a POS reference among a bank row's other references or memo tokens
  amount_time        same amount, currency and every key both files carry (merchant,
                     terminal, card tail), bank within the window after the POS, nearest wins
  amount_time_loose  the same for what is left, keys compared only where both rows have them
  amount_time_refs_differ  the same exact keys where both carry different references: only
                     when each row is the other's only candidate
  card_time          same card and terminal, amounts differ by a keying-error pattern
  residual_*         leftovers that differ in exactly one of card, currency or window, or in
                     the amount by a keying pattern where no card confirms it: only the
                     unambiguous (each row's only candidate), see recon.match.residual
Voids paired with their sale only match by reference; duplicate groups are marked here and
judged by the classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import polars as pl

from recon.config import MatchSettings
from recon.keying import amount_pattern
from recon.match.passes import candidates, nearest_pairs, reference_pass, sweep
from recon.match.prepare import (
    COPY_GROUP,
    EVIDENCE,
    STATEMENT,
    derive,
    duplicate_groups,
    void_pairs,
)
from recon.match.residual import (
    other_reference_pass,
    residual_candidates,
    unique_pairs,
    unique_rounds,
)

PAIR_SCHEMA = {"prow": pl.UInt32, "brow": pl.UInt32, "rule": pl.String}


@dataclass(frozen=True)
class MatchOutcome:
    pos: pl.DataFrame  # canonical + prow, dir, keys, void_row/sale_row, dup_group, dup_how...
    bank: pl.DataFrame  # canonical + brow, dir, keys, dup_group, dup_how, dup_primary
    pairs: pl.DataFrame  # prow, brow, rule
    voids: pl.DataFrame  # sale_row, void_row


# Above this many candidate pairs a later pass falls back to the sweep (bounded memory).
CANDIDATE_BUDGET = 5_000_000


def _join_size(pos: pl.DataFrame, bank: pl.DataFrame, keys: list[str]) -> int:
    """How many rows joining the two frames on `keys` would produce."""
    a = pos.group_by(keys).len()
    b = bank.group_by(keys).len()
    size = a.join(b, on=keys).select((pl.col("len") * pl.col("len_right")).sum()).item()
    return int(size or 0)


def _shared_keys(pos: pl.DataFrame, bank: pl.DataFrame) -> list[str]:
    """Optional keys that both files actually carry."""
    return [
        c
        for c in ("merchant", "terminal", "first6", "last4")
        if pos[c].null_count() < pos.height and bank[c].null_count() < bank.height
    ]


def _validate(
    cand: pl.LazyFrame,
    pos: pl.LazyFrame,
    bank: pl.LazyFrame,
    s: MatchSettings,
    *,
    amounts: str,
    with_lag: bool = False,
) -> pl.LazyFrame:
    """Keep candidate pairs inside the window whose known keys agree."""
    cols = ["time", "has_clock", "amount", "reference", "terminal", "merchant", "last4", "first6"]
    j = cand.join(pos.select("prow", *cols), on="prow").join(
        bank.select("brow", *cols), on="brow", suffix="_b"
    )
    both_clock = pl.col("has_clock").fill_null(True) & pl.col("has_clock_b").fill_null(True)
    lag = pl.col("time_b") - pl.col("time")
    day_lag = pl.col("time_b").dt.date() - pl.col("time").dt.date()
    window = pl.duration(microseconds=int(s.window_days * 86_400_000_000))
    in_window = (
        pl.when(both_clock)
        .then((lag >= pl.duration()) & (lag <= window))
        .otherwise((day_lag >= pl.duration()) & (day_lag <= window))
    )

    def agree(c: str) -> pl.Expr:
        return pl.col(c).is_null() | pl.col(f"{c}_b").is_null() | (pl.col(c) == pl.col(f"{c}_b"))

    ok = in_window & agree("terminal") & agree("merchant") & agree("last4") & agree("first6")
    if amounts == "keying":
        ok = ok & amount_pattern(pl.col("amount"), pl.col("amount_b")).is_not_null()
    out = j.filter(ok)
    if with_lag:
        by_day = day_lag.dt.total_seconds() * 1_000_000
        return out.select(
            "prow",
            "brow",
            lag=pl.when(both_clock).then(lag.dt.total_microseconds()).otherwise(by_day),
        )
    return out.select("prow", "brow")


def _filled(frame: pl.DataFrame, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of `columns` that hold at least one value in `frame`."""
    return tuple(c for c in columns if c in frame.columns and frame[c].null_count() < frame.height)


def match(pos_df: pl.DataFrame, bank_df: pl.DataFrame, s: MatchSettings) -> MatchOutcome:
    # Each stage is collected once: later passes read what earlier ones left, and polars would
    # otherwise re-run the earlier plans for every anti-join.
    pos = derive(pos_df.lazy(), "prow", _filled(pos_df, EVIDENCE)).collect()
    bank = derive(bank_df.lazy(), "brow", _filled(bank_df, (*EVIDENCE, *STATEMENT))).collect()
    voids = void_pairs(pos.lazy()).collect()
    pos_dups = duplicate_groups(
        pos.lazy(), "prow", s.duplicate_seconds, retry_needs_clock=False
    ).collect()
    bank_dups = duplicate_groups(
        bank.lazy(), "brow", s.duplicate_seconds, retry_needs_clock=True
    ).collect()
    pos = annotate(pos, "prow", pos_dups)
    pos = annotate(pos, "prow", voids.select(prow="void_row", cancels_row="sale_row"))
    pos = annotate(pos, "prow", voids.select(prow="sale_row", cancelled_by_row="void_row"))
    bank = annotate(bank, "brow", bank_dups)

    found = [
        reference_pass(pos.lazy(), bank.lazy()).collect().with_columns(rule=pl.lit("reference"))
    ]

    def leftovers() -> tuple[pl.DataFrame, pl.DataFrame]:
        # Rows are positions, so "already matched" is a mask scattered from the pairs found.
        done = pl.concat(found)
        p_taken = pl.zeros(pos.height, pl.Boolean, eager=True).scatter(done["prow"], True)
        b_taken = pl.zeros(bank.height, pl.Boolean, eager=True).scatter(done["brow"], True)
        lp = pos.filter(~p_taken & pos["cancels_row"].is_null())
        lb = bank.filter(~b_taken)
        return lp, lb

    if pos["reference"].null_count() < pos.height:
        # A POS reference among a statement line's other references, or in its free text.
        lp, lb = leftovers()
        other = other_reference_pass(lp.lazy(), lb.lazy())
        found.append(other.with_columns(rule=pl.lit("reference_other")))
    refs_comparable = sum(f.height for f in found) > 0

    shared = _shared_keys(pos, bank)
    exact = ["dir", "amount", "currency", *shared]
    stages: list[tuple[str, list[str], list[str], str]] = [
        ("amount_time", exact, shared, "equal"),
        ("amount_time_loose", ["dir", "amount", "currency"], [], "equal"),
    ]
    # When references are comparable, two rows that both carry one (and differ) are two
    # transactions: sweep POS rows without a reference against every bank row, then POS rows
    # with one against bank rows without, so such a pair never blocks a good one.
    no_ref = pl.col("reference").is_null()
    if refs_comparable:
        populations = [(no_ref, pl.lit(True)), (~no_ref, no_ref)]
    else:
        populations = [(pl.lit(True), pl.lit(True))]
    everything = [(pl.lit(True), pl.lit(True))]

    def run_stage(rule: str, keys: list[str], required: list[str], amounts: str) -> None:
        subsets = everything
        if rule == "amount_time_loose" and shared:
            # Rows with every key on both sides were judged by the exact pass already: only
            # pairs where one side misses a key are new here.
            partial = pl.any_horizontal(pl.col(k).is_null() for k in shared)
            subsets = [(partial, pl.lit(True)), (~partial, partial)]
        for (pos_cond, bank_cond), (pos_sub, bank_sub) in product(populations, subsets):
            lp, lb = leftovers()
            lp = lp.filter(pos_cond & pos_sub)
            lb = lb.filter(bank_cond & bank_sub)
            if required:
                lp, lb = lp.drop_nulls(required), lb.drop_nulls(required)
            if lp.height == 0 or lb.height == 0:
                continue
            if rule == "amount_time" or _join_size(lp, lb, keys) > CANDIDATE_BUDGET:
                # Exact keys (or too many candidates): the sweep scales to millions of rows.
                cand = sweep(lp.lazy(), lb.lazy(), keys)
                pairs = _validate(cand, lp.lazy(), lb.lazy(), s, amounts=amounts).collect()
            else:
                # Leftovers only: judge every candidate, then pick nearest-first.
                cand = candidates(lp.lazy(), lb.lazy(), keys)
                valid = _validate(cand, lp.lazy(), lb.lazy(), s, amounts=amounts, with_lag=True)
                pairs = nearest_pairs(valid.collect())
            found.append(pairs.with_columns(rule=pl.lit(rule)))

    for stage in stages:
        run_stage(*stage)
    if refs_comparable:
        # Two rows that carry different references and agree on everything else are paired
        # when each is the other's only candidate (a reference from another system).
        lp, lb = leftovers()
        lp, lb = lp.drop_nulls(["reference", *shared]), lb.drop_nulls(["reference", *shared])
        if lp.height and lb.height and _join_size(lp, lb, exact) <= CANDIDATE_BUDGET:
            cand = candidates(lp.lazy(), lb.lazy(), exact)
            valid = _validate(cand, lp.lazy(), lb.lazy(), s, amounts="equal").collect()
            found.append(unique_pairs(valid).with_columns(rule=pl.lit("amount_time_refs_differ")))
    if s.amount_tolerant_pass and "last4" in shared:
        card_keys = ["dir", "currency", "last4", *[k for k in shared if k != "last4"]]
        run_stage("card_time", card_keys, card_keys, "keying")

    if s.residual_pass:
        # Copies of a settled row are duplicates, not candidates; nor are rows of a duplicate
        # group or a sale its void cancelled.
        bank = _mark_bank_copies(bank, pl.concat(found), s.bank_duplicate_seconds)
        lp, lb = leftovers()
        lp = lp.filter(pl.col("dup_group").is_null() & pl.col("cancelled_by_row").is_null())
        lb = lb.filter(pl.col("dup_group").is_null())
        if lp.height and lb.height:
            cand = residual_candidates(
                lp,
                lb,
                shared,
                s,
                refs_comparable=refs_comparable,
                budget=CANDIDATE_BUDGET,
                join_size=_join_size,
            )
            found.append(unique_rounds(cand).select("prow", "brow", "rule"))

    pairs = pl.concat(found).cast(PAIR_SCHEMA).sort("prow")
    bank = _mark_bank_copies(bank, pairs, s.bank_duplicate_seconds)
    return MatchOutcome(pos=pos, bank=bank, pairs=pairs, voids=voids)


def _mark_bank_copies(bank: pl.DataFrame, pairs: pl.DataFrame, seconds: int) -> pl.DataFrame:
    """Join unmatched bank rows to the matched row they copy (same card, amount, terminal, a few
    minutes apart) into one duplicate group, so they are reported as a duplicate settlement and
    not as money of unknown origin. Needed when the bank side carries no references."""
    keys = ["account", "amount", "currency", "terminal", "merchant", "dir"]
    taken = pl.zeros(bank.height, pl.Boolean, eager=True).scatter(pairs["brow"], True)
    marked = bank.lazy().select("brow", *keys, "time", "dup_group", taken=taken)
    lone = marked.filter(
        ~pl.col("taken") & pl.col("dup_group").is_null() & pl.col("account").is_not_null()
    ).select("brow", *keys, "time")
    # Only settled rows that share a lone row's keys can be its original.
    originals = marked.filter(pl.col("taken")).join(
        lone.select(keys).unique(), on=keys, how="semi", nulls_equal=True
    )
    copies = (
        lone.join(
            originals.select(*keys, "time", of="brow", of_group="dup_group"),
            on=keys,
            nulls_equal=True,
        )
        .with_columns(gap=(pl.col("time") - pl.col("time_right")).abs())
        .filter(pl.col("gap") <= pl.duration(seconds=seconds))
        .sort("gap", "of")
        .unique("brow", keep="first")
        .with_columns(group=pl.coalesce("of_group", pl.col("of").cast(pl.Int64) + COPY_GROUP))
        .collect()
    )
    if copies.height == 0:
        return bank
    members = pl.concat(
        [
            copies.select("brow", "group", primary=pl.lit(False)),
            copies.select(brow="of", group="group", primary=pl.lit(True)),
        ]
    ).unique("brow", keep="first")
    members = members.select(
        "brow", dup_group="group", dup_how=pl.lit("copy"), dup_primary="primary"
    )
    # A copy may join a reference group its original already had; those rows keep theirs.
    members = members.join(
        bank.lazy().filter(pl.col("dup_group").is_not_null()).select("brow").collect(),
        on="brow",
        how="anti",
    )
    return annotate(bank, "brow", members, overwrite=True)


def annotate(
    frame: pl.DataFrame, row: str, ann: pl.DataFrame, *, overwrite: bool = False
) -> pl.DataFrame:
    """Add (or fill in) columns for the few rows listed in `ann`, by position.

    Rows are positions, so scattering into full-length columns avoids a join that would copy
    every column of a ten-million-row frame.
    """
    idx = ann[row].cast(pl.UInt32)
    cols = []
    for name in ann.columns:
        if name == row:
            continue
        values = ann[name]
        if overwrite and name in frame.columns:
            base = frame[name]
        else:
            base = pl.repeat(None, frame.height, dtype=values.dtype, eager=True).alias(name)
        cols.append(base.scatter(idx, values) if len(idx) else base)
    return frame.with_columns(cols)
