"""Reads Parquet files with two independent readers and prints what they hold, as JSON.

    python read_parquet.py files FILE...    # each file with pyarrow AND DuckDB
    python read_parquet.py dataset DIR      # DIR with pyarrow.dataset, hive partitioning

`files` prints {"files": [{"path", "columns": [[name, pyarrow type]], "codecs": [...],
"row_groups", "rows": [[value, ...], ...]}]} and fails (exit 1) when pyarrow and DuckDB read a
file differently. `dataset` prints {"columns": [...], "rows": [...]}. Values are JSON: bytes as
lowercase hex, decimals as text, dates/times/timestamps in ISO 8601, maps as [[key, value]].
Run by Weir's end-to-end tests with the venv of tests/readers/setup.
"""

import datetime
import decimal
import json
import sys

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def canonical(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value else "NaN"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, dict):
        # DuckDB's map as {"key": [...], "value": [...]}.
        if set(value) == {"key", "value"} and isinstance(value["key"], list):
            return [[canonical(k), canonical(v)] for k, v in zip(value["key"], value["value"])]
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}: {value!r}")


def pyarrow_rows(table):
    columns = [column.to_pylist() for column in table.columns]
    rows = []
    for index in range(table.num_rows):
        row = []
        for field, column in zip(table.schema, columns):
            value = column[index]
            # pyarrow gives a map as a list of (key, value) tuples.
            if str(field.type).startswith("map<") and value is not None:
                value = [[canonical(k), canonical(v)] for k, v in value]
            row.append(canonical(value))
        rows.append(row)
    return rows


def read_files(paths):
    out = []
    connection = duckdb.connect()
    for path in paths:
        table = pq.read_table(path)
        metadata = pq.ParquetFile(path).metadata
        codecs = sorted(
            {
                metadata.row_group(g).column(c).compression
                for g in range(metadata.num_row_groups)
                for c in range(metadata.num_columns)
            }
        )
        arrow = pyarrow_rows(table)
        duck = [
            canonical(list(row))
            for row in connection.execute("SELECT * FROM read_parquet(?)", [path]).fetchall()
        ]
        if arrow != duck:
            for index, (a, d) in enumerate(zip(arrow, duck)):
                if a != d:
                    sys.exit(f"{path}: pyarrow and DuckDB disagree at row {index}: {a} != {d}")
            sys.exit(f"{path}: pyarrow read {len(arrow)} rows, DuckDB {len(duck)}")
        out.append(
            {
                "path": path,
                "columns": [[field.name, str(field.type)] for field in table.schema],
                "codecs": codecs,
                "row_groups": metadata.num_row_groups,
                "rows": arrow,
            }
        )
    json.dump({"files": out}, sys.stdout)


def read_dataset(directory):
    table = ds.dataset(directory, format="parquet", partitioning="hive").to_table()
    json.dump(
        {
            "columns": [[field.name, str(field.type)] for field in table.schema],
            "rows": pyarrow_rows(table),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "files":
        read_files(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "dataset":
        read_dataset(sys.argv[2])
    else:
        sys.exit(__doc__)
