//! The HDFS half of the throughput ceiling (issue 13): a plain hdfs-native client writing the
//! same number of bytes as a Weir pipeline committed, in files of the same size, with as many
//! concurrent writers as the job's parallelism — no decoding, no encoding, no checkpoints.
//! The ceiling of Kafka → HdfsFile is the slower of this and raw consumption.

use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;
use hdfs_native::{ClientBuilder, WriteOptions};

use crate::util::{self, MIB};

/// What the raw writers did.
#[derive(Debug, Clone, Copy)]
pub struct RawWrite {
    pub bytes: u64,
    pub files: u64,
    pub seconds: f64,
    /// This process's CPU seconds for the write (the client's share; the DataNode's is not
    /// counted, as the worker's figures do not count it either).
    pub cpu_seconds: f64,
}

/// Writes `bytes` into `files` files under `dir` (HDFS at `url`) with `parallelism` writers
/// at once, in 1 MiB writes of JSON-like lines; deletes them afterwards.
pub fn write(
    url: &str,
    dir: &str,
    bytes: u64,
    files: u64,
    parallelism: u32,
) -> anyhow::Result<RawWrite> {
    let files = files.max(u64::from(parallelism)).max(1);
    let file_size = bytes.div_ceil(files);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(parallelism.clamp(1, 4) as usize)
        .enable_all()
        .build()
        .context("a runtime for the raw HDFS writers")?;
    let client = {
        let _context = runtime.enter();
        ClientBuilder::new()
            .with_url(url)
            .build()
            .with_context(|| format!("HDFS client for {url}"))?
    };
    let chunk = Bytes::from(lines(MIB as usize));
    let cpu_before = util::proc_cpu_seconds(std::process::id()).unwrap_or_default();
    let started = Instant::now();
    let result: anyhow::Result<u64> = runtime.block_on(async {
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..u64::from(parallelism) {
            let (client, chunk, dir) = (client.clone(), chunk.clone(), dir.to_string());
            let mine: Vec<u64> = (0..files)
                .filter(|file| file % u64::from(parallelism) == writer)
                .collect();
            writers.spawn(async move {
                let mut written = 0u64;
                for file in mine {
                    let path = format!("{dir}/raw-{file:05}.json");
                    let mut out = client
                        .create(&path, WriteOptions::default())
                        .await
                        .with_context(|| format!("creating {path}"))?;
                    let mut left = file_size;
                    while left > 0 {
                        let take = left.min(chunk.len() as u64) as usize;
                        out.write_bytes(chunk.slice(..take))
                            .await
                            .with_context(|| format!("writing {path}"))?;
                        left -= take as u64;
                        written += take as u64;
                    }
                    out.close()
                        .await
                        .with_context(|| format!("closing {path}"))?;
                }
                anyhow::Ok(written)
            });
        }
        let mut total = 0u64;
        while let Some(joined) = writers.join_next().await {
            total += joined.context("a raw HDFS writer panicked")??;
        }
        Ok(total)
    });
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = util::proc_cpu_seconds(std::process::id()).unwrap_or_default() - cpu_before;
    let _ = runtime.block_on(client.delete(dir, true));
    let written = result?;
    Ok(RawWrite {
        bytes: written,
        files,
        seconds,
        cpu_seconds,
    })
}

/// `len` bytes of lines of about 1 KiB of pseudo-random letters (what a JSON sink writes,
/// as far as HDFS can tell).
fn lines(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|index| {
            if index % 1024 == 1023 {
                return b'\n';
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'a' + (state % 26) as u8
        })
        .collect()
}
