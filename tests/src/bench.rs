//! Figures for the bench binaries: latency percentiles and DynamoDB requests per operation.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Instant;

use crate::{Reply, TestApp};

pub struct Figures {
    name: String,
    millis: Vec<f64>,
    operations: Vec<BTreeMap<String, u64>>,
}

impl Figures {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), millis: Vec::new(), operations: Vec::new() }
    }

    /// Runs one request, records its latency and DynamoDB requests, and checks it succeeded.
    pub async fn measure<F, Fut>(&mut self, app: &TestApp, op: F) -> Reply
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Reply>,
    {
        let started = Instant::now();
        let (reply, ops) = app.count_operations(op).await;
        self.millis.push(started.elapsed().as_secs_f64() * 1000.0);
        self.operations.push(ops);
        assert!(reply.status < 300, "{}: {:?}", self.name, reply.body);
        reply
    }

    pub fn print(&mut self) {
        self.millis.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| self.millis[((self.millis.len() as f64 - 1.0) * p).round() as usize];
        let totals: Vec<u64> = self.operations.iter().map(|o| o.values().sum()).collect();
        let (lo, hi) = (totals.iter().min().unwrap(), totals.iter().max().unwrap());
        let trips = if lo == hi { lo.to_string() } else { format!("{lo}..{hi}") };
        let shape: Vec<String> = self.operations[0].iter().map(|(op, n)| format!("{op}×{n}")).collect();
        println!(
            "{:<34} n={:<4} p50={:>7.2} ms  p99={:>7.2} ms  round trips={:<5} ({})",
            self.name,
            self.millis.len(),
            pct(0.5),
            pct(0.99),
            trips,
            shape.join(" ")
        );
    }
}
