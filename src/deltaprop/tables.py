"""Reading data tables for the command line: CSV, Parquet, .npy and .npz.

Every error names the file and, where it can, the column and the row at fault.
Rows are numbered from 1 among the data rows; for CSV the line of the file is
given too (the header is line 1). Nothing is guessed: a row with more fields
than the header, a repeated or empty column name, a column of dates, durations,
complex numbers or True/False values, a number too large for float64 is each
refused by name. Tables wider than ``MAX_COLUMNS`` and NumPy arrays larger than
``MAX_ARRAY_BYTES`` are refused before they are read (a compressed ``.npz`` is
measured by what it would decompress to).
"""

from __future__ import annotations

import csv
import math
import sys
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SUFFIXES = (".csv", ".parquet", ".pq", ".npy", ".npz")
MAX_COLUMNS = 10_000
MAX_ARRAY_BYTES = 2**30  # 1 GiB: what one .npy array, or all of an .npz decompressed, may hold
MAX_MAGNITUDE = 1e150  # a cell's square, and a column's variance, must stay finite in float64
LIMITS = f"at most {MAX_COLUMNS:,} columns; .npy and .npz arrays at most {MAX_ARRAY_BYTES // 2**30} GiB"


class DataError(ValueError):
    """A data file that cannot be used: missing, empty, unreadable, or a bad cell."""


def read_table(path: Any) -> pd.DataFrame:
    """Read ``path`` into a DataFrame with named columns.

    CSV and Parquet files keep their column names. A 2-D ``.npy`` array (or an
    ``.npz`` holding one) has columns ``"0"``, ``"1"``, ...; an ``.npz`` of
    1-D arrays of one length has a column per array, named by its key.
    """
    import pandas as pd

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
            df = _read_csv(path)
        elif suffix in (".parquet", ".pq"):
            df = _read_parquet(path)
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
    _check_names(list(df.columns), path)
    return df


def _check_names(names: list, path: Path) -> None:
    if len(names) > MAX_COLUMNS:
        raise DataError(f"{path} has {len(names):,} columns; deltaprop reads {LIMITS}")
    for i, name in enumerate(names):
        if not str(name).strip():
            raise DataError(f"{path}: column {i + 1} has no name; every column needs one")
    seen = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path}: the column name {name!r} appears twice; column names must differ")
        seen.add(name)


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV file with its header as written: no column renamed, no first field taken as an index; a row
    with more or fewer fields than the header, and a file that is not UTF-8 text, are named."""
    import pandas as pd

    _check_text(path)
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        csv.field_size_limit(2**31 - 1)
        header = next(csv.reader(f), [])
    _check_names(header, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            df = pd.read_csv(path, index_col=False)
        except (pd.errors.ParserWarning, pd.errors.ParserError) as exc:  # pandas would drop a long row's fields
            _check_row_lengths(path, len(header))
            raise DataError(f"{path}: {str(exc).replace('Error tokenizing data. C error: ', '').strip()}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} of "
                            f"a block): save the data as a CSV text file") from None
    if df.isna().to_numpy().any():  # a short row reads as missing cells: say so, not "empty or NaN"
        _check_row_lengths(path, len(header))
    return df


def _check_text(path: Path) -> None:
    """Refuse a file whose first 64 KiB are not text (a PNG or a spreadsheet renamed .csv, say)."""
    with open(path, "rb") as f:
        head = f.read(65536)
    if b"\0" in head:
        raise DataError(f"{path} is not a text file (it holds NUL bytes): save the data as CSV text")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end of the block
            raise DataError(f"{path} is not UTF-8 text (byte 0x{head[exc.start]:02x} at offset {exc.start}): "
                            f"save the data as a CSV text file") from None


def _check_row_lengths(path: Path, fields: int) -> None:
    """Raise for the first row (blank lines aside) whose number of fields is not the header's."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        for row in reader:
            if row and len(row) != fields:
                raise DataError(f"{path}: line {reader.line_num} has {len(row)} field{'s' * (len(row) != 1)}, the "
                                f"header {fields}")


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    import pyarrow.parquet as pq

    _check_names([str(n) for n in pq.read_schema(path).names], path)  # before reading any column
    return pd.read_parquet(path)


def _npy_bytes(f, what: str, path: Path) -> None:
    """Refuse an .npy array (at the start of the open file f) larger than MAX_ARRAY_BYTES, from its header."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(f)
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_ARRAY_BYTES:
        raise DataError(f"{path}: {what} holds {size / 2**30:.1f} GiB of data; deltaprop reads {LIMITS}")


def _read_numpy(path: Path) -> pd.DataFrame:
    import pandas as pd

    if path.suffix.lower() == ".npy":
        with open(path, "rb") as f:
            _npy_bytes(f, "the array", path)
        return _frame(np.load(path, allow_pickle=False), path)
    with zipfile.ZipFile(path) as zf:
        declared = sum(info.file_size for info in zf.infolist())
        if declared > MAX_ARRAY_BYTES:
            raise DataError(f"{path} would decompress to {declared / 2**30:.1f} GiB; deltaprop reads {LIMITS}")
        for info in zf.infolist():
            with zf.open(info) as member:
                _npy_bytes(member, f"member {info.filename!r}", path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if len(arrays) == 1 and next(iter(arrays.values())).ndim == 2:
        return _frame(next(iter(arrays.values())), path)
    lengths = {k: a.shape for k, a in arrays.items()}
    if not arrays or any(a.ndim != 1 for a in arrays.values()) or len({a.shape for a in arrays.values()}) != 1:
        raise DataError(f"{path}: an .npz must hold one 2-D array or 1-D arrays of one length (columns); got {lengths}")
    return pd.DataFrame(arrays)


def _frame(a: np.ndarray, path: Path) -> pd.DataFrame:
    import pandas as pd

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
    import pandas as pd

    require_columns(df, columns, path, role)
    out = np.empty((len(df), len(columns)))
    for j, col in enumerate(columns):
        raw = df[col]
        kind = _not_numbers(raw.dtype)
        if kind:
            raise DataError(f"{path}: column {col!r} holds {kind}, not numbers (dtype {raw.dtype})")
        if raw.dtype == object:  # integers too large for int64 come as Python ints
            big = [i for i, v in enumerate(raw) if isinstance(v, int) and abs(v) > sys.float_info.max]
            if big:
                raise DataError(f"{path}: column {col!r}, {where(path, big[0])} holds a number too large for "
                                f"float64 (about 1.8e308 at most)")
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
        if np.any(np.abs(v) > MAX_MAGNITUDE):
            i = int(np.argmax(np.abs(v) > MAX_MAGNITUDE))
            raise DataError(f"{path}: column {col!r}, {where(path, i)} holds {v[i]:.3g}, whose square overflows float64; "
                            f"rescale the column (values up to about {MAX_MAGNITUDE:.0e} can be squared)")
        out[:, j] = v
    return out


def _not_numbers(dtype) -> str:
    """What a column of this dtype holds if it is not numbers deltaprop may take, else ""."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "dates and times"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "durations"
    if pd.api.types.is_complex_dtype(dtype):
        return "complex numbers"
    if pd.api.types.is_bool_dtype(dtype):
        return "True/False values (code them as 0 and 1 if they are meant as numbers)"
    return ""


def labels(df: pd.DataFrame, column: str, path: Any) -> np.ndarray:
    """A column of class labels: numbers or strings, none missing."""
    require_columns(df, [column], path, "target")
    raw = df[column]
    if raw.isna().any():
        i = int(np.argmax(raw.isna().to_numpy()))
        raise DataError(f"{path}: column {column!r}, {where(path, i)} has no class label")
    return raw.to_numpy()


def plural(n: int) -> str:
    """"s" after a count other than one: f"{n} restart{plural(n)}"."""
    return "" if n == 1 else "s"
