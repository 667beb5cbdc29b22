//! Developer tasks shared by the `xtask` binary and the test harness.

pub mod table;
