//! A test's topic and HDFS directory (shared with other test binaries in
//! `weir_e2e::exactly_once`).

pub(crate) use weir_e2e::exactly_once::Scenario;
