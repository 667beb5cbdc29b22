//! Latency and DynamoDB requests of the conversation operations, through the real handlers
//! against the local DynamoDB server. Run with `make bench`. Round trips are exact; latencies
//! compare changes on one machine (moto is far slower than DynamoDB).

use serde_json::json;
use switchboard_tests::bench::Figures;
use switchboard_tests::{us_number, TestApp};

const ROUNDS: usize = 30;

#[tokio::main]
async fn main() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &(1..=20).map(us_number).collect::<Vec<_>>()).await;
    let owner = app.register("owner").await;
    app.give_number(&owner).await;
    let mut members = Vec::new();
    for i in 0..10 {
        members.push(app.register(&format!("member{i}")).await);
    }

    let mut direct = Figures::new("POST direct (new)");
    let mut sms = Figures::new("POST sms (new)");
    let mut sms_again = Figures::new("POST sms (existing)");
    let mut group = Figures::new("POST group (10 users + 10 phones)");
    let mut read = Figures::new("GET conversation (21 participants)");
    let mut inbox = Figures::new("GET conversations (inbox page)");
    let mut add_phone = Figures::new("POST participant (phone)");
    let mut add_user = Figures::new("POST participant (user)");
    let mut remove = Figures::new("DELETE participant");
    let mut close = Figures::new("DELETE conversation (close)");

    for round in 0..ROUNDS {
        let peer = app.register(&format!("peer{round}")).await;
        direct
            .measure(&app, || {
                app.post("/api/conversations/direct", json!({"userId": peer.user_id}), Some(&owner.token))
            })
            .await;
        let phone = format!("+1415555{:04}", 4000 + round);
        sms.measure(&app, || {
            app.post("/api/conversations/sms", json!({"phoneNumber": phone}), Some(&owner.token))
        })
        .await;
        sms_again
            .measure(&app, || {
                app.post("/api/conversations/sms", json!({"phoneNumber": phone}), Some(&owner.token))
            })
            .await;

        let mut participants: Vec<_> = members.iter().map(|m| json!({"userId": m.user_id})).collect();
        participants
            .extend((0..10).map(|i| json!({"phoneNumber": format!("+1415555{:04}", 5000 + round * 20 + i)})));
        let body = json!({"name": format!("group {round}"), "participants": participants});
        let created =
            group.measure(&app, || app.post("/api/conversations/group", body, Some(&owner.token))).await;
        let id = created.body["conversation"]["id"].as_str().unwrap().to_string();
        read.measure(&app, || app.get(format!("/api/conversations/{id}"), &owner.token)).await;
        inbox.measure(&app, || app.get("/api/conversations?limit=20", &owner.token)).await;
        let extra_phone = json!({"phoneNumber": format!("+1415555{:04}", 7000 + round)});
        let added = add_phone
            .measure(&app, || {
                app.post(format!("/api/conversations/{id}/participants"), extra_phone, Some(&owner.token))
            })
            .await;
        add_user
            .measure(&app, || {
                app.post(
                    format!("/api/conversations/{id}/participants"),
                    json!({"userId": peer.user_id}),
                    Some(&owner.token),
                )
            })
            .await;
        let pid = added.body["participant"]["id"].as_str().unwrap().to_string();
        remove
            .measure(&app, || app.delete(format!("/api/conversations/{id}/participants/{pid}"), &owner.token))
            .await;
        close.measure(&app, || app.delete(format!("/api/conversations/{id}"), &owner.token)).await;
    }
    println!("switchboard conversations bench: {ROUNDS} rounds, local moto, handlers in-process");
    for mut f in [direct, sms, sms_again, group, read, inbox, add_phone, add_user, remove, close] {
        f.print();
    }
}
