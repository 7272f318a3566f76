//! Independent Parquet readers: pyarrow and DuckDB, from PyPI, in the venv that
//! `tests/readers/setup` creates (`./tests/run` calls it). Files are handed to
//! `tests/readers/read_parquet.py`, which reads each with both and fails when they disagree;
//! nothing of Weir's own code reads them back.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Environment variable naming the readers' python (what `tests/readers/setup` prints).
pub const PYTHON_ENV: &str = "WEIR_READERS_PYTHON";

/// The python of the readers' venv; fails (never skips) when it is missing.
pub fn python() -> PathBuf {
    let python = match std::env::var_os(PYTHON_ENV) {
        Some(python) => PathBuf::from(python),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/weir/readers-venv/bin/python")
        }
    };
    assert!(
        python.exists(),
        "the Parquet readers (pyarrow, DuckDB) are not installed at {}: run `tests/readers/setup` \
         (./tests/run does), or set {PYTHON_ENV} to the python it prints",
        python.display()
    );
    python
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("readers/read_parquet.py")
}

/// One file as both readers saw it.
#[derive(Debug, Clone)]
pub struct ParquetContent {
    /// The name it was given (the HDFS path).
    pub name: String,
    /// `[name, pyarrow type]` per column.
    pub columns: Vec<(String, String)>,
    /// Compression codecs of its column chunks, as Parquet names them (`SNAPPY`, ...).
    pub codecs: Vec<String>,
    /// Row groups in the file.
    pub row_groups: u64,
    /// The rows, values as JSON (see read_parquet.py).
    pub rows: Vec<Vec<Value>>,
}

/// Reads `files` (name, bytes) with pyarrow and DuckDB; an error when either fails to read a
/// file or they read it differently.
pub fn read_parquet(files: &[(String, Vec<u8>)]) -> Result<Vec<ParquetContent>, String> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let dir = std::env::temp_dir().join(crate::unique_name("weir-parquet-read"));
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("creating {}: {error}", dir.display()))?;
    let mut paths = Vec::new();
    for (index, (_, bytes)) in files.iter().enumerate() {
        let path = dir.join(format!("{index}.parquet"));
        std::fs::write(&path, bytes)
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
        paths.push(path);
    }
    let mut args: Vec<OsString> = vec!["files".into()];
    args.extend(paths.into_iter().map(PathBuf::into_os_string));
    let result = run(args);
    let _ = std::fs::remove_dir_all(&dir);
    let value = result?;
    let read = value["files"]
        .as_array()
        .ok_or_else(|| format!("the readers printed no files: {value}"))?;
    read.iter()
        .zip(files)
        .map(|(file, (name, _))| {
            Ok(ParquetContent {
                name: name.clone(),
                columns: columns(&file["columns"])?,
                codecs: file["codecs"]
                    .as_array()
                    .map(|codecs| {
                        codecs
                            .iter()
                            .filter_map(|codec| codec.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                row_groups: file["row_groups"].as_u64().unwrap_or(0),
                rows: rows(&file["rows"])?,
            })
        })
        .collect()
}

/// A directory read with `pyarrow.dataset` and hive partitioning: columns and rows.
#[allow(clippy::type_complexity)]
pub fn read_hive_dataset(dir: &Path) -> Result<(Vec<(String, String)>, Vec<Vec<Value>>), String> {
    let value = run(vec!["dataset".into(), dir.as_os_str().to_owned()])?;
    Ok((columns(&value["columns"])?, rows(&value["rows"])?))
}

fn run(args: Vec<OsString>) -> Result<Value, String> {
    let python = python();
    let output = Command::new(&python)
        .arg(script())
        .args(args)
        .output()
        .map_err(|error| format!("running {}: {error}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the Parquet readers failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("the readers printed no JSON: {error}"))
}

fn columns(value: &Value) -> Result<Vec<(String, String)>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("no columns in {value}"))?
        .iter()
        .map(|column| match (column[0].as_str(), column[1].as_str()) {
            (Some(name), Some(kind)) => Ok((name.to_string(), kind.to_string())),
            _ => Err(format!("a column is not [name, type]: {column}")),
        })
        .collect()
}

fn rows(value: &Value) -> Result<Vec<Vec<Value>>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("no rows in {value}"))?
        .iter()
        .map(|row| {
            row.as_array()
                .cloned()
                .ok_or_else(|| format!("a row is not a list: {row}"))
        })
        .collect()
}
