"""Reading data tables for the command line: CSV, Parquet, .npy and .npz.

Every error names the file and, where it can, the column and the row at fault.
Rows are numbered from 1 among the data rows; for CSV the line of the file is
given too (the header is line 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

SUFFIXES = (".csv", ".parquet", ".pq", ".npy", ".npz")


class DataError(ValueError):
    """A data file that cannot be used: missing, empty, unreadable, or a bad cell."""


def read_table(path: Any) -> pd.DataFrame:
    """Read ``path`` into a DataFrame with named columns.

    CSV and Parquet files keep their column names. A 2-D ``.npy`` array (or an
    ``.npz`` holding one) has columns ``"0"``, ``"1"``, ...; an ``.npz`` of
    1-D arrays of one length has a column per array, named by its key.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unknown data format {suffix or '(no suffix)'!r}; expected one of {', '.join(SUFFIXES)}")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty")
    try:
        if suffix == ".csv":
            df = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = _read_numpy(path)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except Exception as exc:  # the readers' own errors: name the file and pass the reason on
        raise DataError(f"{path} could not be read as {suffix[1:]}: {exc}") from None
    if df.shape[1] == 0:
        raise DataError(f"{path} has no columns")
    if df.shape[0] == 0:
        raise DataError(f"{path} has a header but no data rows")
    df.columns = [str(c) for c in df.columns]
    return df


def _read_numpy(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".npy":
        return _frame(np.load(path, allow_pickle=False), path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if len(arrays) == 1 and next(iter(arrays.values())).ndim == 2:
        return _frame(next(iter(arrays.values())), path)
    lengths = {k: a.shape for k, a in arrays.items()}
    if not arrays or any(a.ndim != 1 for a in arrays.values()) or len({a.shape for a in arrays.values()}) != 1:
        raise DataError(f"{path}: an .npz must hold one 2-D array or 1-D arrays of one length (columns); got {lengths}")
    return pd.DataFrame(arrays)


def _frame(a: np.ndarray, path: Path) -> pd.DataFrame:
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise DataError(f"{path}: expected a 2-D array (rows are patterns); got shape {a.shape}")
    return pd.DataFrame(a, columns=[str(i) for i in range(a.shape[1])])


def where(path: Any, row: int) -> str:
    """``row`` (0-based) in the words of the file: data row and, for CSV, the line."""
    text = f"row {row + 1}"
    return text + f" (line {row + 2})" if Path(path).suffix.lower() == ".csv" else text


def require_columns(df: pd.DataFrame, columns: Sequence[str], path: Any, role: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path} has no {role} column {', '.join(repr(c) for c in missing)}; its columns are "
                        f"{', '.join(repr(c) for c in df.columns)}")


def numeric(df: pd.DataFrame, columns: Sequence[str], path: Any, role: str = "feature") -> np.ndarray:
    """The named columns as a float64 (N, len(columns)) array; every cell must be a finite number."""
    require_columns(df, columns, path, role)
    out = np.empty((len(df), len(columns)))
    for j, col in enumerate(columns):
        raw = df[col]
        values = pd.to_numeric(raw, errors="coerce")
        not_number = values.isna() & raw.notna()
        if not_number.any():
            i = int(np.argmax(not_number.to_numpy()))
            raise DataError(f"{path}: column {col!r}, {where(path, i)} holds {raw.iloc[i]!r}, not a number")
        missing = values.isna()
        if missing.any():
            i = int(np.argmax(missing.to_numpy()))
            raise DataError(f"{path}: column {col!r}, {where(path, i)} is empty or NaN; every cell must hold a number")
        v = values.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(v)):
            i = int(np.argmax(~np.isfinite(v)))
            raise DataError(f"{path}: column {col!r}, {where(path, i)} holds {v[i]}; every cell must be finite")
        out[:, j] = v
    return out


def labels(df: pd.DataFrame, column: str, path: Any) -> np.ndarray:
    """A column of class labels: numbers or strings, none missing."""
    require_columns(df, [column], path, "target")
    raw = df[column]
    if raw.isna().any():
        i = int(np.argmax(raw.isna().to_numpy()))
        raise DataError(f"{path}: column {column!r}, {where(path, i)} has no class label")
    return raw.to_numpy()
