//! Keeps the allocator's own slack bounded, so worker RSS follows the buffers Weir bounds.
//!
//! glibc's malloc serves a large block (≥ 128 KiB) with `mmap` and returns it on `free` — until
//! the first such block is freed: then it raises its mmap threshold to that block's size, and
//! later large blocks (1 MiB Kafka records, decoded rows) come from the heap, where freed
//! space stays resident and fragments. Measured: a worker reading 1 MiB records at 1 row/s
//! grew ~1 MiB per record for 20 s before trimming. Fixing the threshold keeps large blocks
//! on `mmap`, so they leave RSS as soon as they are dropped.

/// Large-block threshold (glibc's initial default, but no longer raised at run time).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 128 * 1024;

/// Applies the settings above; call once, before the runtime starts threads.
pub fn bound_allocator_slack() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc tunables; it is called before any other thread
    // exists, and a rejected setting (return 0) leaves the defaults in place.
    unsafe {
        if libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 0 {
            eprintln!(
                "warning: could not fix malloc's mmap threshold; RSS may include allocator slack"
            );
        }
    }
}
