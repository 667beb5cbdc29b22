//! The route table `make dev` gives `cargo lambda watch` (workspace Cargo.toml) is valid for its
//! router (matchit refuses overlapping catch-alls) and sends every sample event's path to the
//! function that serves it in production.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The function an event file is for, by its name.
fn function_of(file: &str) -> &'static str {
    match file {
        f if f.starts_with("auth-") => "auth",
        f if f.starts_with("users-sms-") => "messages",
        f if f.starts_with("users-") => "users",
        f if f.starts_with("numbers-") => "numbers",
        f if f.starts_with("message") => "messages",
        f if f.starts_with("conversation") => "conversations",
        "twilio-inbound.json" => "twilio-inbound",
        "twilio-status.json" => "twilio-status",
        other => panic!("no function known for {other}"),
    }
}

#[test]
fn every_sample_event_reaches_its_function_through_the_local_router() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let routes =
        manifest["workspace"]["metadata"]["lambda"]["watch"]["router"].as_table().expect("router table");
    let mut router = matchit::Router::new();
    for (path, function) in routes {
        router
            .insert(path.as_str(), function.as_str().unwrap().to_string())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("events")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        // WebSocket events reach `realtime` through the WebSocket API, not an HTTP route.
        if file.starts_with("websocket-") {
            continue;
        }
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root().join("events").join(&file)).unwrap())
                .unwrap();
        let raw = event["rawPath"].as_str().unwrap().replace(['{', '}'], "");
        let path = [
            "CONVERSATION_ID",
            "MESSAGE_ID",
            "USER_ID",
            "ADMIN_ID",
            "PARTICIPANT_ID",
            "ADMIN_PARTICIPANT_ID",
        ]
        .iter()
        .fold(raw, |p, name| p.replace(name, id));
        let matched = router.at(&path).unwrap_or_else(|_| panic!("{file}: {path} matches no route"));
        assert_eq!(matched.value, function_of(&file), "{file}: {path}");
        checked += 1;
    }
    assert!(checked >= 30);
    // Unknown paths reach a function that answers the API's JSON 404.
    assert_eq!(router.at("/api/nothing/here").unwrap().value, "auth");
    assert_eq!(router.at("/api/conversations/x/y/z/w").unwrap().value, "auth");
}
