//! Every sample event in events/ goes through its function's handler, as Lambda would deliver
//! it (API Gateway HTTP API payload v2), and must do what its name says.
//!
//! Events that need a caller carry `{{TOKEN}}`, `{{ADMIN_TOKEN}}`, `{{REFRESH_TOKEN}}` or
//! `{{USER_ID}}`; the test fills them from the responses to the earlier events.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use switchboard_tests::{Reply, TestApp};

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("events")
}

/// (file, expected status, a check on the reply)
type Step = (&'static str, u16, fn(&Value) -> bool);

const STORY: &[Step] = &[
    ("auth-register.json", 201, |b| b["user"]["phoneNumber"] == "+442079460958"),
    ("auth-login.json", 200, |b| b["user"]["username"] == "ada"),
    ("auth-refresh.json", 200, |b| b["token"].is_string()),
    ("auth-profile.json", 200, |b| b["user"]["email"] == "ada@example.com"),
    ("users-profile-get.json", 200, |b| b["user"]["lastName"] == "Lovelace"),
    ("users-profile-put.json", 200, |b| {
        b["user"]["firstName"] == "Augusta Ada" && b["user"]["phoneNumber"] == "+14155550142"
    }),
    ("numbers-post.json", 201, |b| b["number"]["phoneNumber"] == "+14155550150"),
    ("numbers-get.json", 200, |b| b["numbers"][0]["phoneNumber"] == "+14155550150"),
    ("users-virtual-number-post.json", 200, |b| b["user"]["virtualPhoneNumber"] == "+14155550150"),
    ("users-virtual-numbers-get.json", 200, |b| b["users"][0]["username"] == "ada"),
    ("users-directory-get.json", 200, |b| b["users"].as_array().is_some_and(|u| u.len() == 2)),
    ("users-virtual-number-delete.json", 200, |b| b["user"]["virtualPhoneNumber"].is_null()),
    ("numbers-delete.json", 200, |b| b["deleted"] == "+14155550150"),
    ("users-status-put.json", 200, |b| b["user"]["active"] == false),
];

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let mut values: HashMap<&str, String> = HashMap::from([("ADMIN_TOKEN", admin.token.clone())]);

    for (file, status, check) in STORY {
        let mut raw = std::fs::read_to_string(events_dir().join(file)).unwrap();
        for (name, value) in &values {
            raw = raw.replace(&format!("{{{{{name}}}}}"), value);
        }
        assert!(!raw.contains("{{"), "{file}: a placeholder was not filled");
        let request = lambda_http::request::from_str(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
        let reply: Reply = app.dispatch(request).await;
        assert_eq!(reply.status, *status, "{file}: {:?}", reply.body);
        assert!(check(&reply.body), "{file}: unexpected body {:?}", reply.body);
        if *file == "auth-register.json" {
            let session = switchboard_tests::session_of(&reply.body);
            values.insert("TOKEN", session.token);
            values.insert("REFRESH_TOKEN", session.refresh_token);
            values.insert("USER_ID", session.user_id);
        }
    }

    // Every file in events/ is part of the story, so none goes stale untested.
    let mut on_disk: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut covered: Vec<String> = STORY.iter().map(|(f, _, _)| f.to_string()).collect();
    covered.sort();
    assert_eq!(on_disk, covered);
}
