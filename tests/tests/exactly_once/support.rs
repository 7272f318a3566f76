//! The records the tests produce and the exactly-once check of what landed in HDFS, shared with
//! other test binaries in `weir_e2e::exactly_once`.

pub use weir_e2e::exactly_once::*;
