"""Reads Parquet files with two independent readers and prints what they hold, as JSON.

    python read_parquet.py files FILE...    # each file with pyarrow AND DuckDB
    python read_parquet.py dataset DIR      # DIR with pyarrow.dataset, hive partitioning

`files` prints {"files": [{"path", "columns": [[name, pyarrow type]], "codecs": [...],
"row_groups", "rows": [[value, ...], ...]}]} and fails (exit 1) when pyarrow and DuckDB read a
file differently. `dataset` prints {"columns": [...], "rows": [...]}. Values are JSON: bytes as
lowercase hex, decimals as text, dates/times/timestamps in ISO 8601, maps as [[key, value]],
rows (structs) as objects.
Run by Weir's end-to-end tests with the venv of tests/readers/setup.
"""

import datetime
import decimal
import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def canonical(value, kind):
    """`value` as JSON, guided by its pyarrow type `kind` (both readers' values go through it)."""
    if value is None:
        return None
    if pa.types.is_map(kind):
        # pyarrow gives a map as [(key, value)], DuckDB as {key: value}.
        pairs = value.items() if isinstance(value, dict) else value
        return [[canonical(k, kind.key_type), canonical(v, kind.item_type)] for k, v in pairs]
    if pa.types.is_struct(kind):
        return {field.name: canonical(value.get(field.name), field.type) for field in kind}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [canonical(item, kind.value_type) for item in value]
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value else "NaN"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"no canonical form for {type(value).__name__}: {value!r}")


def pyarrow_rows(table):
    columns = [column.to_pylist() for column in table.columns]
    return [
        [canonical(column[index], field.type) for field, column in zip(table.schema, columns)]
        for index in range(table.num_rows)
    ]


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
            [canonical(value, field.type) for field, value in zip(table.schema, row)]
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
