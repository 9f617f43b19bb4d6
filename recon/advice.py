"""Words for each item: what differs (in numbers), the probable cause in the seed's terms, and
the action a shop owner can take. Expressions over the item frame built by recon.classify.
"""

from __future__ import annotations

import polars as pl

from recon.config import Settings
from recon.keying import amount_pattern, digits_pattern
from recon.money import format_expr

_T = pl.col("type")


def _money(amount: str, currency: pl.Expr) -> pl.Expr:
    return pl.concat_str(format_expr(pl.col(amount), currency), pl.lit(" "), currency)


def _ts(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime("%Y-%m-%d %H:%M:%S")


def _days(seconds: pl.Expr) -> pl.Expr:
    return (seconds.cast(pl.Float64) / 86_400).round(1).cast(pl.String)


def _ids(col: str) -> pl.Expr:
    return pl.col(col).list.join(", ")


def keying_patterns(items: pl.DataFrame) -> pl.DataFrame:
    """Add amount_pattern and account_pattern, computed only on the items of those types (the
    checks walk every digit position, so a million clean items should not pay for them)."""
    amounts = items.filter(pl.col("type") == "amount_mismatch").select(
        "item_id", amount_pattern=amount_pattern(pl.col("pos_amount"), pl.col("bank_amount"))
    )
    cards = items.filter(pl.col("type") == "account_mismatch").select(
        "item_id", account_pattern=digits_pattern(pl.col("pos_last4"), pl.col("bank_last4"))
    )
    return items.join(amounts, on="item_id", how="left", maintain_order="left").join(
        cards, on="item_id", how="left", maintain_order="left"
    )


def describe(settings: Settings) -> list[pl.Expr]:
    """Expressions for detail, cause and suggested_action (after keying_patterns)."""
    cur = pl.col("currency")
    bcur = pl.coalesce("bank_currency", "currency")
    pos_m = _money("pos_amount", cur)
    bank_m = _money("bank_amount", bcur)
    diff_m = pl.concat_str(format_expr(pl.col("difference_minor").abs(), cur), pl.lit(" "), cur)
    more_less = (
        pl.when(pl.col("difference_minor") > 0).then(pl.lit("more")).otherwise(pl.lit("less"))
    )
    apat = pl.col("amount_pattern")
    kpat = pl.col("account_pattern")
    late_days = _days(pl.col("lag_s"))
    allow = f"{settings.match.late_after_days:g}"
    window = f"{settings.match.duplicate_seconds}"
    retry = pl.col("how") == "retry"
    debit = pl.col("bank_amount") < 0
    lone_void = pl.col("how") == "lone_void"
    late_note = (
        pl.when(pl.col("how") == "late")
        .then(pl.concat_str(pl.lit(" Also settled "), late_days, pl.lit(" days after the sale.")))
        .otherwise(pl.lit(""))
    )

    detail = (
        pl.when(_T == "amount_mismatch")
        .then(
            pl.concat_str(
                pl.lit("POS "),
                pos_m,
                pl.lit(", bank "),
                bank_m,
                pl.lit(": the bank settled "),
                diff_m,
                pl.lit(" "),
                more_less,
                pl.lit("."),
                late_note,
            )
        )
        .when(_T == "account_mismatch")
        .then(
            pl.concat_str(
                pl.lit("Card "),
                pl.col("pos_account").fill_null("?"),
                pl.lit(" at the POS, "),
                pl.col("bank_account").fill_null("?"),
                pl.lit(" at the bank, for "),
                pos_m,
                pl.lit("."),
                late_note,
            )
        )
        .when(_T == "currency_mismatch")
        .then(
            pl.concat_str(
                pl.lit("POS took "),
                pos_m,
                pl.lit(", the bank settled "),
                bank_m,
                pl.lit(": different currency."),
            )
        )
        .when(_T == "late_settlement")
        .then(
            pl.concat_str(
                pl.lit("Sale of "),
                pos_m,
                pl.lit(" on "),
                _ts("pos_time"),
                pl.lit(" settled "),
                _ts("bank_time"),
                pl.lit(", "),
                late_days,
                pl.lit(f" days later (allowance {allow} days)."),
            )
        )
        .when(_T == "duplicate_pos")
        .then(
            pl.concat_str(
                pl.col("pos_ids").list.len().cast(pl.String),
                pl.lit(" POS records ("),
                _ids("pos_ids"),
                pl.lit(") totalling "),
                pos_m,
                pl.lit(" for one sale"),
                pl.when(retry)
                .then(pl.lit(f" on the same card and terminal within {window} s"))
                .otherwise(pl.concat_str(pl.lit(" with reference "), pl.col("reference"))),
                pl.lit("; the bank settled "),
                pl.col("n_settled").cast(pl.String),
                pl.lit(" of them."),
            )
        )
        .when(_T == "duplicate_bank")
        .then(
            pl.concat_str(
                pl.lit("The bank settled "),
                pl.col("bank_ids").list.len().cast(pl.String),
                pl.lit(" times ("),
                _ids("bank_ids"),
                pl.lit("), total "),
                bank_m,
                pl.lit(", for "),
                pl.col("pos_ids").list.len().cast(pl.String),
                pl.lit(" POS record(s)"),
                pl.when(pl.col("reference").is_not_null())
                .then(pl.concat_str(pl.lit(" with reference "), pl.col("reference")))
                .otherwise(pl.lit("")),
                pl.lit("."),
            )
        )
        .when(_T == "orphan_pos")
        .then(
            pl.concat_str(
                pl.when(lone_void).then(pl.lit("Void of ")).otherwise(pl.lit("Sale of ")),
                pos_m,
                pl.lit(" at terminal "),
                pl.col("terminal").fill_null("?"),
                pl.lit(" on "),
                _ts("pos_time"),
                pl.when(lone_void)
                .then(pl.lit(" has no sale to cancel and no settlement."))
                .otherwise(pl.lit(" was never settled by the bank.")),
            )
        )
        .when(_T == "orphan_bank")
        .then(
            pl.concat_str(
                pl.when(debit).then(pl.lit("Bank debit of ")).otherwise(pl.lit("Bank credit of ")),
                pl.concat_str(format_expr(pl.col("bank_amount").abs(), bcur), pl.lit(" "), bcur),
                pl.lit(" on "),
                _ts("bank_time"),
                pl.when(pl.col("reference").is_not_null())
                .then(pl.concat_str(pl.lit(" (reference "), pl.col("reference"), pl.lit(")")))
                .otherwise(pl.lit("")),
                pl.lit(" has no POS record."),
            )
        )
        .when(_T == "voided_but_settled")
        .then(
            pl.concat_str(
                pl.lit("Sale "),
                pl.col("pos_ids").list.first(),
                pl.lit(" was voided ("),
                pl.col("pos_ids").list.last(),
                pl.lit(" at "),
                _ts("pos_time"),
                pl.lit(") but the bank settled "),
                bank_m,
                pl.lit(" ("),
                _ids("bank_ids"),
                pl.lit(")."),
            )
        )
    )

    cause = (
        pl.when(_T == "amount_mismatch")
        .then(
            pl.when(apat.is_not_null())
            .then(pl.concat_str(pl.lit("keying error: "), apat))
            .otherwise(pl.lit("system fault: amount altered between terminal and bank"))
        )
        .when(_T == "account_mismatch")
        .then(
            pl.when(kpat.is_not_null())
            .then(pl.concat_str(pl.lit("keying error: account "), kpat))
            .otherwise(pl.lit("suspected fraud or system fault: a different card"))
        )
        .when(_T == "currency_mismatch")
        .then(pl.lit("terminal settings: wrong currency on the terminal"))
        .when(_T == "late_settlement")
        .then(pl.lit("network delay or settlement hold"))
        .when(_T == "duplicate_pos")
        .then(
            pl.when(retry)
            .then(pl.lit("network retry: the terminal sent the sale again"))
            .otherwise(pl.lit("system fault: the same reference recorded twice"))
        )
        .when(_T == "duplicate_bank")
        .then(pl.lit("system fault at the acquirer: settled more than once"))
        .when(_T == "orphan_pos")
        .then(
            pl.when(lone_void)
            .then(pl.lit("system fault: a void without its sale"))
            .otherwise(pl.lit("network delay or system fault: the sale never reached the acquirer"))
        )
        .when(_T == "orphan_bank")
        .then(
            pl.when(debit)
            .then(pl.lit("suspected fraud: money taken with no POS record"))
            .otherwise(pl.lit("suspected fraud or misrouted settlement"))
        )
        .when(_T == "voided_but_settled")
        .then(pl.lit("network delay or system fault: the void never reached the acquirer"))
    )

    action = (
        pl.when(_T == "amount_mismatch")
        .then(
            pl.concat_str(
                pl.lit(
                    "Check the POS record (terminal, batch, trace number) and the receipt; "
                    "confirm the amount with the customer; "
                ),
                pl.when(pl.col("difference_minor") > 0)
                .then(pl.concat_str(pl.lit("refund the "), diff_m, pl.lit(" charged too much.")))
                .otherwise(
                    pl.concat_str(
                        pl.lit("collect the missing "),
                        diff_m,
                        pl.lit(" or ask the acquiring bank to correct the settlement."),
                    )
                ),
            )
        )
        .when(_T == "account_mismatch")
        .then(
            pl.lit(
                "Compare the card on the receipt with the bank record; confirm with the "
                "customer; if the card is not theirs, ask the acquiring bank for a reversal "
                "with the evidence and treat it as suspected fraud."
            )
        )
        .when(_T == "currency_mismatch")
        .then(
            pl.lit(
                "Check the terminal's currency setting with the POS vendor; ask the "
                "acquiring bank to re-settle in the right currency; refund any "
                "conversion loss to the customer."
            )
        )
        .when(_T == "late_settlement")
        .then(
            pl.lit(
                "No money is missing. If this terminal is often late, ask the acquiring "
                "bank about settlement holds and check the terminal's clock and batch "
                "close."
            )
        )
        .when(_T == "duplicate_pos")
        .then(
            pl.when(pl.col("n_settled") > 1)
            .then(
                pl.lit(
                    "The customer was charged more than once: confirm with them and "
                    "refund the extra charge(s); keep the POS records as evidence."
                )
            )
            .when(pl.col("n_settled") == 0)
            .then(
                pl.lit(
                    "None of the records settled: confirm the sale with the customer and "
                    "redo it once; ask the acquiring bank why it did not settle."
                )
            )
            .otherwise(
                pl.lit(
                    "Void the extra POS record so the books match the bank; check the "
                    "terminal's network connection."
                )
            )
        )
        .when(_T == "duplicate_bank")
        .then(
            pl.lit(
                "Ask the acquiring bank to reverse the extra settlement, with the reference "
                "and times as evidence; refund the customer if they were charged twice."
            )
        )
        .when(_T == "orphan_pos")
        .then(
            pl.when(lone_void)
            .then(
                pl.lit(
                    "Find the original sale of this void on the terminal; ask the POS vendor "
                    "to check the terminal log."
                )
            )
            .otherwise(
                pl.lit(
                    "Check the POS record (terminal, batch, trace number) and whether "
                    "the batch was closed; wait one more settlement cycle, then ask the "
                    "acquiring bank with the evidence; redo the sale if it failed."
                )
            )
        )
        .when(_T == "orphan_bank")
        .then(
            pl.when(debit)
            .then(
                pl.lit(
                    "Escalate as suspected fraud: contact the acquiring bank at once with "
                    "the statement line and ask for the transaction details and a "
                    "reversal."
                )
            )
            .otherwise(
                pl.lit(
                    "Confirm with the acquiring bank which terminal and sale this is; "
                    "if it is not yours, report it (suspected fraud or misrouting)."
                )
            )
        )
        .when(_T == "voided_but_settled")
        .then(
            pl.lit(
                "The customer was charged for a voided sale: ask the acquiring bank for a "
                "reversal with the void record as evidence, or refund the customer."
            )
        )
    )
    return [detail.alias("detail"), cause.alias("cause"), action.alias("suggested_action")]
