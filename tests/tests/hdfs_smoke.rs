//! The test HDFS works with the client Weir's file sink uses (hdfs-native): every operation the
//! two-phase commit relies on — write, hsync, close, rename, list, read, delete.

use bytes::Bytes;
use hdfs_native::{ClientBuilder, WriteOptions};

const FILE_BYTES: usize = 8 * 1024 * 1024;
const CHUNK_BYTES: usize = 256 * 1024;

/// Deterministic, non-repeating content, so a misplaced or dropped chunk cannot compare equal.
fn content() -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..FILE_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn write_sync_rename_list_read_delete() {
    let url = weir_e2e::hdfs_url().unwrap_or_else(|missing| panic!("{missing}"));
    let client = ClientBuilder::new()
        .with_url(url.as_str())
        .build()
        .expect("hdfs client");
    let dir = format!("/weir-smoke/{}", weir_e2e::unique_name("run"));
    let in_progress = format!("{dir}/.part-0.inprogress");
    let committed = format!("{dir}/part-0");
    let expected = content();

    client.mkdirs(&dir, 0o755, true).await.expect("mkdirs");
    let mut writer = client
        .create(&in_progress, WriteOptions::default())
        .await
        .expect("create");
    for chunk in expected.chunks(CHUNK_BYTES) {
        writer
            .write_bytes(Bytes::copy_from_slice(chunk))
            .await
            .expect("write");
    }
    writer.hsync().await.expect("hsync");
    writer.close().await.expect("close");

    client
        .rename(&in_progress, &committed, false)
        .await
        .expect("rename");
    let listing = client.list_status(&dir, false).await.expect("list");
    let names: Vec<(&str, usize)> = listing
        .iter()
        .map(|status| {
            (
                status.path.rsplit('/').next().unwrap_or_default(),
                status.length,
            )
        })
        .collect();
    assert_eq!(names, vec![("part-0", FILE_BYTES)]);

    let mut reader = client.read(&committed).await.expect("open for read");
    assert_eq!(reader.file_length(), FILE_BYTES);
    let read_back = reader.read_bytes(FILE_BYTES).await.expect("read");
    assert!(read_back.as_ref() == expected.as_slice(), "content differs");

    assert!(client.delete(&dir, true).await.expect("delete"));
    let gone = client.get_file_info(&dir).await;
    assert!(gone.is_err(), "{dir} still exists after delete: {gone:?}");
}
