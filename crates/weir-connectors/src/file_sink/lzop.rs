//! The lzop container around LZO1X blocks: what `compress_codec = lzo` writes for text, csv
//! and json, as SeaTunnel's file sinks write it (aircompressor's `LzopCodec`), so that the
//! readers SeaTunnel and Hadoop use, and the `lzop` tool, read Weir's files.
//!
//! A file is the lzop header, then blocks of at most [`LZOP_BLOCK_BYTES`] of input, each
//! `uncompressed length, compressed length, data` (big-endian lengths; a block that does not
//! shrink is stored as it is, with both lengths equal), then a zero length.
//!
//! The header is the one aircompressor writes and accepts: LZO1X (method 1), no checksum
//! flags (its reader refuses any flag), no file name. The blocks come from lzokay-native, an
//! LZO1X compressor with a better ratio than LZO1X-1; its output is decoded by the same LZO1X
//! decompressor, which is all the method byte selects.

use std::io::{self, Write};
use std::sync::Arc;

use adler2::Adler32;

use super::format::Output;
use crate::context::SinkBufferStats;

/// Input bytes per block: what aircompressor's reader holds as one block at most (its
/// default buffer), and what `lzop` itself uses.
pub(super) const LZOP_BLOCK_BYTES: usize = 256 * 1024;

const MAGIC: [u8; 9] = [0x89, b'L', b'Z', b'O', 0x00, b'\r', b'\n', 0x1a, b'\n'];
/// The lzop version that wrote the file, the LZO library version, and the lzop version a
/// reader needs: aircompressor's values, which its reader checks against its own.
const LZOP_VERSION: u16 = 0x1010;
const LZO_LIBRARY_VERSION: u16 = 0x2050;
const LZOP_VERSION_NEEDED: u16 = 0x0940;
const METHOD_LZO1X: u8 = 1;
const LEVEL: u8 = 5;

/// Compresses what is written to it into lzop blocks in `output`.
pub(super) struct LzopEncoder {
    output: Output,
    block: PendingBlock,
}

/// Input not compressed yet, less than one block; counted in the sink's buffer bytes until
/// it is compressed or dropped.
struct PendingBlock {
    bytes: Vec<u8>,
    stats: Arc<SinkBufferStats>,
}

impl Drop for PendingBlock {
    fn drop(&mut self) {
        self.stats.sub(self.bytes.len() as u64);
    }
}

impl LzopEncoder {
    /// Writes the header into `output`.
    pub(super) fn new(mut output: Output) -> io::Result<Self> {
        output.write_all(&header())?;
        let stats = Arc::clone(output.stats());
        Ok(LzopEncoder {
            output,
            block: PendingBlock {
                bytes: Vec::new(),
                stats,
            },
        })
    }

    pub(super) fn get_ref(&self) -> &Output {
        &self.output
    }

    pub(super) fn get_mut(&mut self) -> &mut Output {
        &mut self.output
    }

    /// Input held in the block not compressed yet.
    pub(super) fn pending(&self) -> usize {
        self.block.bytes.len()
    }

    /// Compresses the last block and writes the end marker.
    pub(super) fn finish(mut self) -> io::Result<Output> {
        self.compress_block()?;
        self.output.write_all(&0u32.to_be_bytes())?;
        Ok(self.output)
    }

    fn compress_block(&mut self) -> io::Result<()> {
        let block = &mut self.block.bytes;
        if block.is_empty() {
            return Ok(());
        }
        let compressed = lzokay_native::compress(block)
            .map_err(|error| io::Error::other(format!("LZO compression failed: {error}")))?;
        let length = block_length(block.len())?;
        self.output.write_all(&length.to_be_bytes())?;
        if compressed.len() < block.len() {
            self.output
                .write_all(&block_length(compressed.len())?.to_be_bytes())?;
            self.output.write_all(&compressed)?;
        } else {
            // Stored: equal lengths tell the reader the data is not compressed.
            self.output.write_all(&length.to_be_bytes())?;
            self.output.write_all(block)?;
        }
        self.block.stats.sub(block.len() as u64);
        block.clear();
        Ok(())
    }
}

impl Write for LzopEncoder {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let block = &mut self.block.bytes;
        let taken = data.len().min(LZOP_BLOCK_BYTES - block.len());
        if block.capacity() == 0 {
            block.reserve_exact(LZOP_BLOCK_BYTES);
        }
        block.extend_from_slice(&data[..taken]);
        self.block.stats.add(taken as u64);
        if block.len() == LZOP_BLOCK_BYTES {
            self.compress_block()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn block_length(length: usize) -> io::Result<u32> {
    u32::try_from(length).map_err(|_| io::Error::other("an LZO block over 4 GiB"))
}

/// Magic, versions, method, level, flags (none), mode, modification time (two words), an
/// empty name, and the Adler-32 of everything after the magic.
fn header() -> Vec<u8> {
    let mut header = Vec::with_capacity(MAGIC.len() + 29);
    header.extend_from_slice(&MAGIC);
    let start = header.len();
    header.extend_from_slice(&LZOP_VERSION.to_be_bytes());
    header.extend_from_slice(&LZO_LIBRARY_VERSION.to_be_bytes());
    header.extend_from_slice(&LZOP_VERSION_NEEDED.to_be_bytes());
    header.push(METHOD_LZO1X);
    header.push(LEVEL);
    header.extend_from_slice(&0u32.to_be_bytes()); // flags
    header.extend_from_slice(&0u32.to_be_bytes()); // mode
    header.extend_from_slice(&0u32.to_be_bytes()); // modification time
    header.extend_from_slice(&0u32.to_be_bytes()); // its high word
    header.push(0); // name length
    let mut checksum = Adler32::new();
    checksum.write_slice(&header[start..]);
    header.extend_from_slice(&checksum.checksum().to_be_bytes());
    header
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weir_core::config::CompressCodec;

    use super::super::format::Content;
    use super::LZOP_BLOCK_BYTES;
    use crate::context::SinkBufferStats;

    /// Reads an lzop file as aircompressor's reader does: the header it accepts (LZO1X, no
    /// flags, a valid Adler-32), then blocks until the zero length.
    fn read_lzop(file: &[u8]) -> Vec<u8> {
        assert_eq!(
            &file[..9],
            &[0x89, b'L', b'Z', b'O', 0, b'\r', b'\n', 0x1a, b'\n']
        );
        let header = &file[9..34];
        assert_eq!(header[6], 1, "method LZO1X");
        assert_eq!(&header[8..12], &[0, 0, 0, 0], "no flags");
        assert_eq!(header[24], 0, "no name");
        let mut checksum = adler2::Adler32::new();
        checksum.write_slice(header);
        assert_eq!(file[34..38], checksum.checksum().to_be_bytes());
        let word = |at: usize| {
            u32::from_be_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]) as usize
        };
        let mut at = 38;
        let mut data = Vec::new();
        loop {
            let length = word(at);
            at += 4;
            if length == 0 {
                assert_eq!(at, file.len(), "nothing after the end marker");
                return data;
            }
            assert!(length <= LZOP_BLOCK_BYTES, "block of {length} bytes");
            let compressed = word(at);
            at += 4;
            let block = &file[at..at + compressed];
            at += compressed;
            if compressed == length {
                data.extend_from_slice(block);
            } else {
                let plain =
                    lzokay_native::decompress_all(block, Some(length)).expect("LZO1X block");
                assert_eq!(plain.len(), length);
                data.extend_from_slice(&plain);
            }
        }
    }

    #[test]
    fn rows_come_back_from_blocks_compressed_or_stored_and_the_buffer_count_ends_at_zero() {
        let stats = Arc::new(SinkBufferStats::new(64 << 20));
        let mut content =
            Content::new(CompressCodec::Lzo, None, 1 << 20, Arc::clone(&stats)).expect("content");
        let mut written = Vec::new();
        let mut file = Vec::new();
        // Text that compresses, then bytes that do not (stored blocks): 2.8 blocks in all.
        let mut noise = 0x2545_f491_4f6c_dd1d_u64;
        for row in 0..20_000 {
            let line = if row < 8_000 {
                format!("{row}\u{1}name-{}\u{1}true\n", row % 17).into_bytes()
            } else {
                (0..48)
                    .map(|_| {
                        noise ^= noise << 13;
                        noise ^= noise >> 7;
                        noise ^= noise << 17;
                        noise as u8
                    })
                    .collect()
            };
            content.append(&line).expect("append");
            written.extend_from_slice(&line);
            if row % 3_000 == 0 {
                file.extend(content.take());
            }
        }
        assert!(stats.bytes() > 0, "the pending block is counted");
        file.extend(content.finish().expect("finish"));
        assert_eq!(stats.bytes(), 0, "nothing is counted after finish");
        assert!(written.len() > 2 * LZOP_BLOCK_BYTES);
        assert!(
            file.len() < written.len(),
            "{} ≥ {}",
            file.len(),
            written.len()
        );
        assert_eq!(read_lzop(&file), written);
    }

    #[test]
    fn an_empty_file_is_a_header_and_the_end_marker() {
        let stats = Arc::new(SinkBufferStats::new(1 << 20));
        let content =
            Content::new(CompressCodec::Lzo, None, 1 << 20, Arc::clone(&stats)).expect("content");
        let file = content.finish().expect("finish");
        assert_eq!(file.len(), 9 + 25 + 4 + 4);
        assert!(read_lzop(&file).is_empty());
    }

    #[test]
    fn a_dropped_file_leaves_nothing_counted() {
        let stats = Arc::new(SinkBufferStats::new(1 << 20));
        let mut content =
            Content::new(CompressCodec::Lzo, None, 1 << 20, Arc::clone(&stats)).expect("content");
        content.append(b"one row\n").expect("append");
        assert!(stats.bytes() >= 8);
        drop(content);
        assert_eq!(stats.bytes(), 0);
    }
}
