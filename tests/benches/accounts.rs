//! Latency and DynamoDB round trips of the account and number operations, through the real
//! handlers against the local DynamoDB server. Run with `make bench`.
//!
//! Figures are for comparison between changes on one machine: moto is far slower than
//! DynamoDB, so absolute latencies say little; round trips per operation are exact.

use std::time::Instant;

use serde_json::json;
use switchboard_tests::{us_number, TestApp, PASSWORD};

const USERS: usize = 50;

struct Figures {
    name: &'static str,
    millis: Vec<f64>,
    round_trips: Vec<u64>,
}

impl Figures {
    fn new(name: &'static str) -> Self {
        Self { name, millis: Vec::new(), round_trips: Vec::new() }
    }
    fn print(&mut self) {
        self.millis.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| self.millis[((self.millis.len() as f64 - 1.0) * p).round() as usize];
        let trips_min = self.round_trips.iter().min().unwrap();
        let trips_max = self.round_trips.iter().max().unwrap();
        println!(
            "{:<28} n={:<4} p50={:>7.2} ms  p99={:>7.2} ms  dynamodb round trips={}",
            self.name,
            self.millis.len(),
            pct(0.5),
            pct(0.99),
            if trips_min == trips_max { trips_min.to_string() } else { format!("{trips_min}..{trips_max}") }
        );
    }
}

async fn measure<F, Fut>(app: &TestApp, figures: &mut Figures, op: F) -> switchboard_tests::Reply
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = switchboard_tests::Reply>,
{
    let trips = app.round_trips();
    let started = Instant::now();
    let reply = op().await;
    figures.millis.push(started.elapsed().as_secs_f64() * 1000.0);
    figures.round_trips.push(app.round_trips() - trips);
    assert!(reply.status < 300, "{}: {:?}", figures.name, reply.body);
    reply
}

#[tokio::main]
async fn main() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let numbers: Vec<String> = (0..USERS as u32).map(us_number).collect();
    app.add_numbers(&admin, &numbers).await;

    let mut register = Figures::new("POST /api/auth/register");
    let mut login = Figures::new("POST /api/auth/login");
    let mut profile = Figures::new("GET /api/users/profile");
    let mut assign_chosen = Figures::new("POST virtual-number {number}");
    let mut release = Figures::new("DELETE virtual-number");
    let mut assign_any = Figures::new("POST virtual-number {}");
    for (i, number) in numbers.iter().enumerate() {
        let name = format!("bench{i}");
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
        let reply = measure(&app, &mut register, || app.post("/api/auth/register", body, None)).await;
        let token = reply.body["token"].as_str().unwrap().to_string();
        let body = json!({"username": name, "password": PASSWORD});
        measure(&app, &mut login, || app.post("/api/auth/login", body, None)).await;
        measure(&app, &mut profile, || app.get("/api/users/profile", &token)).await;
        let body = json!({"phoneNumber": number});
        measure(&app, &mut assign_chosen, || app.post("/api/users/virtual-number", body, Some(&token))).await;
        measure(&app, &mut release, || app.delete("/api/users/virtual-number", &token)).await;
        measure(&app, &mut assign_any, || app.post("/api/users/virtual-number", json!({}), Some(&token)))
            .await;
    }
    println!("switchboard accounts bench: {USERS} users, local moto, handler in-process");
    for mut f in [register, login, profile, assign_chosen, release, assign_any] {
        f.print();
    }
}
