"""Before matching: derived keys, void pairs and duplicate groups, all per side.

A sale and its void share a reference and cancel each other; a duplicate group is one sale
recorded more than once (the same reference twice, or a network retry: the same card, amount
and terminal within a few seconds). Each group keeps one primary record; the others are
flagged but still allowed to match a settlement of their own (a double charge settles twice).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from recon.schema import CANCEL_KINDS

DAY_US = 86_400_000_000
# Duplicate group ids are the group's first row plus an offset per kind of group, so groups of
# different kinds never share an id.
RETRY_GROUP = 0
REFERENCE_GROUP = 1 << 33
COPY_GROUP = 2 << 33


EVIDENCE = ("batch", "trace")
# Records with no card are one sale recorded twice only this close together (recon.match).
NO_CARD_RETRY_SECONDS = 10
# What a statement line carries besides its reference: read by the reference passes only.
STATEMENT = ("references", "memo")
# Set by the matcher before its first passes: the row's reference and direction are another
# row's of the same side too (shared_keys), so the reference pass and the duplicate groups
# rank and group those rows only.
REF_SHARED = "ref_shared"
# Beside it: the hash of the row's reference and direction (key_hash), the reference pass's
# join key.
REF_HASH = "ref_hash"
# Set by the state store on the bank records it carries from earlier days (recon.carry): the
# lag bound the run of the day the record came kept (minutes, as MatchSettings.lag_bound_minutes;
# the matcher makes it a bound, recon.match.timing.bound_of_minutes). A pair of such a record is
# judged by that day's lag, not by today's: one slow day (a batch after a closure) does not let
# a credit of a day paid within minutes pair with a sale hours away.
ARRIVAL_BOUND = "arrival_bound"
# Set by the state on both sides: the record was open after an earlier run (carried), not one of
# today's files. Two carried records were seen together before and left open: the weakest
# residual pairing is not made between them later (recon.match.residual).
CARRIED = "carried"
# Columns the matcher holds as Categorical (derive).
CODED = ("currency", "kind", "terminal", "merchant")


# The optional keys a pass compares where both rows carry them.
OPTIONAL_KEYS = ("merchant", "terminal", "first6", "last4")


@dataclass(frozen=True)
class Day:
    """What the matcher reads of the whole day rather than of the rows in front of it, so that
    a merchant bucket of the day (recon.partitioned) is matched as the whole day would be.

    `shared`: the optional keys (OPTIONAL_KEYS) both files carry somewhere.
    `scoped`: every record of both files names its merchant. Then the merchant scopes
    everything: no two records of different merchants pair, share a duplicate group or a
    void, and what the matcher learns from the day's own pairs (the bank's usual lag, whether
    the files' references meet) and which rows have too many candidates to judge them all, it
    decides per merchant. Otherwise the day is one scope."""

    shared: tuple[str, ...]
    scoped: bool

    @property
    def scope(self) -> list[str]:
        """The columns that scope keys and learning: the merchant, or none."""
        return ["merchant"] if self.scoped else []


def card_keys() -> dict[str, pl.Expr]:
    """last4 and first6 of `account`, as small integers (null where the digits are masked)."""
    digits = pl.col("account").str.replace_all(r"[^0-9*]", "")
    n = digits.str.len_bytes()
    # (slices, not regex captures: a slice holding a '*' does not cast, so it is null as the
    # capture of four or six digits would be)
    return {
        "last4": pl.when(n >= 4).then(digits.str.tail(4).cast(pl.Int16, strict=False)),
        "first6": pl.when(n >= 6).then(digits.str.head(6).cast(pl.Int32, strict=False)),
    }


@dataclass(frozen=True)
class SideKeys:
    """What Day reads of one side: its rows, those without a merchant, the optional keys
    some row carries."""

    rows: int = 0
    no_merchant: int = 0
    carried: frozenset[str] = frozenset()


def side_keys(lf: pl.LazyFrame, known: frozenset[str] = frozenset()) -> SideKeys:
    """The SideKeys of canonical rows, keys in `known` (carried by rows read before) left out
    (so the text of the cards is read only until one is found)."""
    cards = card_keys()
    look = {k: (cards[k] if k in cards else pl.col(k)).count() for k in OPTIONAL_KEYS}
    found = lf.select(
        rows=pl.len(),
        no_merchant=pl.col("merchant").null_count(),
        **{k: e for k, e in look.items() if k not in known},
    ).collect(engine="streaming")
    carried = {k for k in OPTIONAL_KEYS if k not in known and found[k].item() > 0}
    return SideKeys(found["rows"].item(), found["no_merchant"].item(), frozenset(carried))


def day_of(pos: SideKeys, bank: SideKeys) -> Day:
    """The Day of a whole day's two sides."""
    shared = tuple(k for k in OPTIONAL_KEYS if k in pos.carried and k in bank.carried)
    scoped = pos.no_merchant == 0 and bank.no_merchant == 0 and pos.rows + bank.rows > 0
    return Day(shared=shared, scoped=scoped)


def derive(lf: pl.LazyFrame, row: str, evidence: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Add the row index and the keys the matcher compares on.

    `evidence` names the columns of EVIDENCE the file fills (carried for the report only), and
    of what the state adds (ARRIVAL_BOUND, CARRIED: read by the residual pass), each left out
    when empty so a large day without them does not pay for null columns."""
    # Only what matching and classifying read: fee, source and line stay with the loader.
    keep = ["id", "time", "has_clock", "amount", "currency", "account", "reference", "kind"]
    # Few-valued text as dictionary codes (4 bytes a row, not a 16-byte view and the text):
    # over a gigabyte less on a ten-million-row day, and cheaper joins, groups and gathers.
    # Text again wherever a frame leaves the matcher and classifier (report columns).
    coded = [pl.col(c).cast(pl.Categorical) for c in CODED]
    return (
        lf.select(*keep, "terminal", "merchant", *evidence)
        .with_columns(coded)
        .with_row_index(row)
        .with_columns(
            dir=pl.when(pl.col("amount") < 0)
            .then(pl.lit(-1, pl.Int8))
            .otherwise(pl.lit(1, pl.Int8)),
            # Card digits as small integers: 2 and 4 bytes a row instead of a string each.
            **card_keys(),
        )
    )


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the columns derive coded (CODED) as text again."""
    return frame.with_columns(
        pl.col(c).cast(pl.String)
        for c in CODED
        if c in frame.columns and frame.schema[c] == pl.Categorical
    )


def key_hash(frame: pl.DataFrame, keys: list[str], where: pl.Expr | None = None) -> pl.Series:
    """A 64-bit hash of `keys` per row (null where `where` does not hold)."""
    hashed = pl.struct(keys).hash(seed=7)
    if where is not None:
        hashed = pl.when(where).then(hashed)
    return frame.select(hashed).to_series()


def repeated(hashes: pl.Series) -> pl.Series:
    """Which rows have a hash (of key_hash) that another row also has. Sorted, not a hash
    table: over ten million keys that took three times as long."""
    s = hashes.drop_nulls().sort()
    twice = s.filter(s == s.shift(1)).unique()
    return hashes.is_in(twice.implode()).fill_null(False)


def with_reference_keys(frame: pl.DataFrame, scope: list[str] | None = None) -> pl.DataFrame:
    """`frame` with REF_HASH and REF_SHARED of its rows' reference and direction, and `scope`
    (Day.scope: the merchant, or nothing) (null and False for rows without a reference)."""
    keys = ["reference", "dir", *(scope or [])]
    hashed = key_hash(frame, keys, pl.col("reference").is_not_null())
    return frame.with_columns(hashed.alias(REF_HASH), repeated(hashed).alias(REF_SHARED))


def shared_keys(frame: pl.DataFrame, keys: list[str], where: pl.Expr | None = None) -> pl.Series:
    """Which rows (of those `where` holds) have `keys` that another such row also has: nearly
    every row on a large day has keys of its own, and the few that do not are all a pass
    must rank or group. Decided on a 64-bit hash of the keys: a hash collision can only add a
    row, so callers group the rows found by their real keys."""
    return repeated(key_hash(frame, keys, where))


def lag_us(suffix: str = "_b") -> pl.Expr:
    """Bank time minus POS time in microseconds (`time`, `has_clock` and the same names with
    `suffix`); by calendar day where a side has no clock."""
    both_clock = pl.col("has_clock").fill_null(True) & pl.col(f"has_clock{suffix}").fill_null(True)
    by_time = (pl.col(f"time{suffix}") - pl.col("time")).dt.total_microseconds()
    by_day = (pl.col(f"time{suffix}").dt.date() - pl.col("time").dt.date()).dt.total_days()
    return pl.when(both_clock).then(by_time).otherwise(by_day * DAY_US)


def agrees(c: str, suffix: str = "_b") -> pl.Expr:
    """Both sides' `c` agree, or a side does not know it."""
    mine, theirs = pl.col(c), pl.col(f"{c}{suffix}")
    return mine.is_null() | theirs.is_null() | (mine == theirs)


def sweep_time() -> pl.Expr:
    """The time a row sorts at in the time passes. A date-only row sorts at the end of its
    day, so a booking dated the sale's own day counts as after the sale."""
    return (
        pl.when(pl.col("has_clock").fill_null(True))
        .then(pl.col("time"))
        .otherwise(pl.col("time").dt.truncate("1d") + pl.duration(microseconds=DAY_US - 1))
    )


def void_pairs(pos: pl.LazyFrame, scope: list[str] | None = None) -> pl.LazyFrame:
    """Pair each void/reversal with the sale it cancels: (sale_row, void_row).

    With a reference: the n-th cancel of a reference pairs with its n-th sale. Without one: the
    latest earlier sale of the same card, terminal and absolute amount. Both within `scope`
    (Day.scope: the merchant, or nothing).
    """
    scope = scope or []
    cancels = pos.filter(pl.col("kind").is_in(CANCEL_KINDS))
    sales = pos.filter(pl.col("kind") == "sale")
    ref = ["reference", *scope]
    occ = pl.int_range(pl.len()).over(ref, order_by=["time", "prow"])
    ref_cancels = cancels.filter(pl.col("reference").is_not_null())
    by_ref = (
        ref_cancels.select(*ref, void_row="prow", occ=occ)
        .join(
            # Only sales whose reference was cancelled: few, so ranking them is cheap.
            sales.join(ref_cancels.select(ref).unique(), on=ref, how="semi").select(
                *ref, sale_row="prow", occ=occ
            ),
            on=[*ref, "occ"],
        )
        .select("sale_row", "void_row")
    )
    keys = ["account", "terminal", "abs_amount", *scope]
    loose = (
        cancels.filter(pl.col("reference").is_null() & pl.col("account").is_not_null())
        .with_columns(abs_amount=pl.col("amount").abs())
        .select(*keys, "time", void_row="prow")
    )
    no_ref = (
        loose.sort("time")
        .join_asof(
            sales.filter(pl.col("account").is_not_null())
            .with_columns(abs_amount=pl.col("amount").abs())
            .select(*keys, "time", sale_row="prow")
            # only the sales a cancel without a reference could undo are sorted (few or none)
            .join(loose.select(keys).unique(), on=keys, how="semi", nulls_equal=True)
            .sort("time"),
            on="time",
            by=keys,
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("sale_row").is_not_null())
        .select("sale_row", "void_row")
    )
    pairs = pl.concat([by_ref, no_ref])
    # One void per sale and one sale per void, first come first served.
    return pairs.unique("void_row", keep="first", maintain_order=True).unique(
        "sale_row", keep="first", maintain_order=True
    )


def duplicate_groups(
    frame: pl.DataFrame,
    row: str,
    seconds: int,
    *,
    retry_needs_clock: bool,
    scope: list[str] | None = None,
) -> pl.LazyFrame:
    """Return (row, dup_group, dup_how, dup_primary) for records that belong to a duplicate group.

    dup_how is 'retry' (same card, amount, terminal within `seconds`) or 'reference' (within
    `scope`, Day.scope). Cancels are left out: a void shares its sale's reference by design.
    `frame` has REF_SHARED (of the same scope).
    """
    base = frame.lazy().filter(~pl.col("kind").is_in(CANCEL_KINDS))
    retry_keys = ["account", "amount", "terminal", "merchant", "currency"]
    cand = base.filter(pl.col("account").is_not_null())
    if retry_needs_clock:
        cand = cand.filter(pl.col("has_clock").fill_null(True) & pl.col("reference").is_null())
    cand_rows = cand.select(row, "time", "reference", *retry_keys).collect()
    # Sorted by card, amount, terminal and time, a cluster starts wherever the keys change or
    # the gap to the previous record exceeds the window (shift comparisons, no group hashing).
    same_keys = pl.all_horizontal([pl.col(k).eq_missing(pl.col(k).shift(1)) for k in retry_keys])
    close = (pl.col("time") - pl.col("time").shift(1)) <= pl.duration(seconds=seconds)
    retry = (
        # A record whose keys no other record shares is in no cluster: only the few that share
        # them are sorted (sorting a million rows by three keys was most of this step).
        cand_rows.filter(shared_keys(cand_rows, retry_keys))
        .lazy()
        # Sorting by a hash of the keys is much cheaper than by five text columns; equal keys
        # stay together, and `same_keys` below compares the real values.
        .with_columns(key_hash=pl.struct(retry_keys).hash(seed=7))
        .sort(["key_hash", "time", row])
        .with_columns(cluster=(~(same_keys & close.fill_null(False))).cum_sum())
        # Clusters are sorted runs: a record is in a group when a neighbour shares its cluster.
        .filter(
            (pl.col("cluster") == pl.col("cluster").shift(1))
            | (pl.col("cluster") == pl.col("cluster").shift(-1))
        )
        # A retry is a retry whatever its references: a POS network retry gets a new one.
        .with_columns(gid=pl.col(row).min().over("cluster").cast(pl.Int64) + RETRY_GROUP)
        .select(row, "time", "reference", retry_gid="gid")
    )
    same_ref = ["reference", "dir", *(scope or [])]
    by_ref = (
        # (the rows whose reference and direction no other row has are in no group)
        base.filter(pl.col(REF_SHARED))
        .with_columns(size=pl.len().over(same_ref))
        .filter(pl.col("size") > 1)
        .select(
            row,
            "time",
            "reference",
            ref_gid=pl.col(row).min().over(same_ref).cast(pl.Int64) + REFERENCE_GROUP,
        )
    )
    # Both candidate sets are small and carry their time and reference: joined to each other,
    # not to the whole side (a join with ten million rows was a fifth of this step).
    groups = (
        retry.join(by_ref, on=row, how="full", coalesce=True, suffix="_r")
        .with_columns(pl.coalesce("time", "time_r"), pl.coalesce("reference", "reference_r"))
        .drop("time_r", "reference_r")
        .with_columns(
            dup_group=pl.coalesce("retry_gid", "ref_gid"),
            dup_how=pl.when(pl.col("retry_gid").is_not_null())
            .then(pl.lit("retry"))
            .when(pl.col("ref_gid").is_not_null())
            .then(pl.lit("reference")),
        )
        .filter(pl.col("dup_group").is_not_null())
        .with_columns(size=pl.len().over("dup_group"))
        .filter(pl.col("size") > 1)
    )
    # The primary is the record with a reference, then the earliest.
    rank = pl.int_range(pl.len()).over(
        "dup_group",
        order_by=[pl.col("reference").is_null(), pl.col("time"), pl.col(row)],
    )
    return groups.select(row, "dup_group", "dup_how", dup_primary=rank == 0)
