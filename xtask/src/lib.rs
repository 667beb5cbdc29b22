//! Developer tasks shared by the `xtask` binaries and the test harness.

pub mod perf;
pub mod poller;
pub mod queues;
pub mod standin;
pub mod table;
pub mod twilio_contract;
pub mod twilio_numbers;
pub mod websocket;
