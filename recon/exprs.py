"""Expressions built around polars behaviour the project cannot rely on."""

from __future__ import annotations

import polars as pl


def formatted(template: str, *args: pl.Expr | str) -> pl.Expr:
    """`template` with each "{}" replaced by the next of `args` (expressions or column names),
    as polars' `format` does (null where an argument is null; named after the first argument),
    but built by `concat_str`. Polars 2.1's `format` panics ("assertion failed: i < self.len()")
    on a frame whose filter left some chunks empty, which any filtered large file can be."""
    pieces = template.split("{}")
    if len(pieces) != len(args) + 1:
        raise ValueError(f"{template!r} has {len(pieces) - 1} placeholders for {len(args)} values")
    exprs = [pl.col(a) if isinstance(a, str) else a for a in args]
    parts: list[pl.Expr] = []
    for piece, expr in zip(pieces, exprs, strict=False):
        if piece:
            parts.append(pl.lit(piece))
        parts.append(expr)
    if pieces[-1]:
        parts.append(pl.lit(pieces[-1]))
    joined = pl.concat_str(parts)
    name = exprs[0].meta.output_name(raise_if_undetermined=False) if exprs else None
    return joined.alias(name) if name else joined
