//! Latency and DynamoDB round trips of the account and number operations, through the real
//! handlers against the local DynamoDB server. Run with `make bench`.
//!
//! Figures are for comparison between changes on one machine: moto is far slower than
//! DynamoDB, so absolute latencies say little; round trips per operation are exact.

use serde_json::json;
use switchboard_tests::bench::Figures;
use switchboard_tests::{us_number, TestApp, PASSWORD};

const USERS: usize = 50;

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
        let reply = register.measure(&app, || app.post("/api/auth/register", body, None)).await;
        let token = reply.body["token"].as_str().unwrap().to_string();
        let body = json!({"username": name, "password": PASSWORD});
        login.measure(&app, || app.post("/api/auth/login", body, None)).await;
        profile.measure(&app, || app.get("/api/users/profile", &token)).await;
        let body = json!({"phoneNumber": number});
        assign_chosen.measure(&app, || app.post("/api/users/virtual-number", body, Some(&token))).await;
        release.measure(&app, || app.delete("/api/users/virtual-number", &token)).await;
        assign_any.measure(&app, || app.post("/api/users/virtual-number", json!({}), Some(&token))).await;
    }
    println!("switchboard accounts bench: {USERS} users, local moto, handler in-process");
    for mut f in [register, login, profile, assign_chosen, release, assign_any] {
        f.print();
    }
}
