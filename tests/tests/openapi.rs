//! The API's OpenAPI description (`switchboard::api::openapi`, built from the route tables and
//! the handlers' `#[utoipa::path]` annotations) covers every route, and the committed copy
//! (docs/openapi.json, which `auth` serves at `/api/openapi.json`) is exactly what the code
//! generates. After changing a route or a type it describes:
//!
//! ```sh
//! UPDATE=1 cargo test -p switchboard-tests --test openapi
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;

use switchboard::api::openapi::{describe, error_code, operation_of, to_json, ERROR_CODES};
use switchboard::api::response::status_of;
use switchboard::AppError;
use switchboard_tests::contract::description;
use switchboard_tests::fast::FastApp;
use switchboard_tests::functions;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::RefOr;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn the_committed_description_is_what_the_code_generates() {
    let generated = to_json(description());
    if std::env::var_os("UPDATE").is_some() {
        std::fs::write(committed_path(), &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    if committed != generated {
        let line = committed.lines().zip(generated.lines()).position(|(a, b)| a != b);
        panic!(
            "docs/openapi.json differs from what the code generates (first difference at line {}).\n\
             Regenerate it: UPDATE=1 cargo test -p switchboard-tests --test openapi",
            line.map_or("past the end".to_string(), |l| (l + 1).to_string())
        );
    }
    assert_eq!(switchboard_auth::OPENAPI_JSON, committed, "auth serves the committed copy");
}

#[test]
fn every_reference_of_the_description_resolves() {
    let document = serde_json::to_value(description()).unwrap();
    let mut references = Vec::new();
    let mut stack = vec![&document];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                    references.push(target.clone());
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    let dangling: BTreeSet<&String> =
        references.iter().filter(|r| document.pointer(r.trim_start_matches('#')).is_none()).collect();
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    assert!(references.len() > 100);
}

/// The routes the description stands for: every route but the webhooks' local twins
/// (`/api/webhooks/…`, which `make dev` serves for the function URLs described as `webhooks`).
fn described_routes() -> Vec<(&'static str, &'static switchboard::api::Route)> {
    functions()
        .iter()
        .flat_map(|table| table.routes().iter().map(move |route| (table.function(), route)))
        .filter(|(_, route)| !route.path.starts_with("/api/webhooks/"))
        .collect()
}

#[test]
fn every_route_is_described() {
    let document = description();
    let mut undescribed = Vec::new();
    for (function, route) in described_routes() {
        let name = format!("{} {} ({function}, {})", route.method, route.path, route.name);
        let Some(operation) = operation_of(document, function, route) else {
            undescribed.push(format!("{name}: not in the description"));
            continue;
        };
        let mut gaps = Vec::new();
        if operation.summary.as_deref().unwrap_or_default().is_empty() {
            gaps.push("no summary (the handler's doc comment)");
        }
        if operation.tags.as_ref().is_none_or(|t| t.is_empty()) {
            gaps.push("no tag");
        }
        let successes: Vec<_> =
            operation.responses.responses.iter().filter(|(s, _)| s.starts_with('2')).collect();
        let described_bodies = successes.iter().all(|(_, response)| match response {
            RefOr::T(response) => !response.content.is_empty() && !response.description.is_empty(),
            RefOr::Ref(_) => true,
        });
        if successes.is_empty() || !described_bodies {
            gaps.push("no successful answer with a body");
        }
        let writes = ["POST", "PUT", "PATCH"].contains(&route.method.as_str());
        if writes && operation.request_body.is_none() {
            gaps.push("no request body");
        }
        let declared: BTreeSet<&str> = operation
            .parameters
            .iter()
            .flatten()
            .filter_map(|p| match p {
                RefOr::T(p) if p.parameter_in == ParameterIn::Path => Some(p.name.as_str()),
                _ => None,
            })
            .collect();
        let in_path: BTreeSet<&str> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        if declared != in_path {
            gaps.push("path parameters differ from the path's");
        }
        if !gaps.is_empty() {
            undescribed.push(format!("{name}: {}", gaps.join(", ")));
        }
    }
    assert!(
        undescribed.is_empty(),
        "every route needs a description (#[utoipa::path] on its handler, a doc comment):\n{}",
        undescribed.join("\n")
    );
    assert!(described_routes().len() >= 35, "{} routes", described_routes().len());
}

#[test]
fn every_error_response_names_its_codes_and_every_code_is_known() {
    for (function, route) in described_routes() {
        let operation = describe(route);
        for (status, response) in &operation.responses.responses {
            let status: u16 = status.parse().unwrap();
            let RefOr::T(response) = response else { continue };
            if status < 400 {
                continue;
            }
            let codes: Vec<&String> = response
                .content
                .values()
                .flat_map(|c| match c {
                    RefOr::T(c) => c.examples.keys().collect(),
                    RefOr::Ref(_) => Vec::new(),
                })
                .collect();
            assert!(!codes.is_empty(), "{function} {} {}: {status} names no code", route.method, route.path);
            for code in codes {
                let known = error_code(code).unwrap_or_else(|| panic!("{code} is no code of the API"));
                assert_eq!(known.status, status, "{code} comes with {}", known.status);
            }
        }
        let statuses = operation.responses.responses.keys().cloned().collect::<Vec<_>>();
        assert!(statuses.contains(&"500".to_string()), "{} {}: {statuses:?}", route.method, route.path);
    }
}

/// The codes the core and the edge can raise: `AppError::code`'s fixed ones and every
/// `conflict("…")` of the sources. The description must know each (and no other).
#[test]
fn the_description_knows_every_code_the_code_raises() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut raised = BTreeSet::new();
    let mut stack = vec![root.join("shared"), root.join("functions")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("conflict(").skip(1) {
                    let piece = piece.trim_start();
                    if let Some(rest) = piece.strip_prefix('"') {
                        raised.insert(rest[..rest.find('"').unwrap()].to_string());
                    }
                }
            }
        }
    }
    // Each `conflict("…")` code is described with the status the edge answers a conflict with.
    for code in &raised {
        if let Some(described) = error_code(code) {
            assert_eq!(described.status, status_of(&AppError::conflict("any", "x")), "{code}'s status");
        }
    }
    // One error of each kind but Conflict (its codes are the `conflict("…")` above): its code is
    // `AppError::code`'s, and the description gives it the status the edge answers with.
    for fixed in [
        AppError::bad_request(None, "x"),
        AppError::Unauthorized("x".into()),
        AppError::Forbidden("x".into()),
        AppError::not_found("x"),
        AppError::MethodNotAllowed { allowed: "GET".into() },
        AppError::PayloadTooLarge { limit: 1 },
        AppError::validation("f", "x"),
        AppError::Throttled("x".into()),
        AppError::Upstream("x".into()),
        AppError::internal("x"),
    ] {
        let described =
            error_code(fixed.code()).unwrap_or_else(|| panic!("{} is not described", fixed.code()));
        assert_eq!(described.status, status_of(&fixed), "{}'s status", fixed.code());
        raised.insert(fixed.code().to_string());
    }
    raised.remove("code");
    let known: BTreeSet<String> = ERROR_CODES.iter().map(|c| c.code.to_string()).collect();
    assert!(raised.len() > 25, "{raised:?}");
    assert_eq!(raised, known, "ERROR_CODES (shared/src/api/openapi.rs) and the codes the sources raise");
}

#[tokio::test]
async fn the_api_serves_its_description_and_reference_without_a_token() {
    let app = FastApp::new();
    let reply = app.send("GET", "/api/openapi.json", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    // Under UPDATE=1 this build serves the copy it was compiled with, the one just replaced.
    if std::env::var_os("UPDATE").is_none() {
        assert!(
            reply.body == serde_json::to_value(description()).unwrap(),
            "auth serves the generated description"
        );
    }
    assert_eq!(reply.body["openapi"], "3.1.0");

    let page = app.send("GET", "/api/docs", None, None).await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.body.as_str().unwrap();
    assert!(html.contains(r#"<redoc spec-url="openapi.json">"#));
    assert!(!html.contains("<script src="), "the reference loads nothing from elsewhere");
}

/// What makes every other test a check of the description: an answer it does not promise fails.
#[test]
fn an_answer_the_description_does_not_promise_fails_the_test() {
    use lambda_http::http::Method;
    use switchboard_tests::{contract, function_for};
    let users = function_for("/api/users/profile");
    let check = |status: u16, code: &str| {
        let body = serde_json::json!({"error": {"code": code, "message": "…"}});
        let check = || contract::check(users, &Method::GET, "/api/users/profile", status, &body);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(check))
    };
    assert!(check(401, "unauthorized").is_ok());
    assert!(check(418, "teapot").is_err(), "a status the operation does not list");
    assert!(check(401, "forbidden").is_err(), "a code its status does not name");
    // Paths no route has are the table's 404, not an operation's answer.
    let body = serde_json::json!({});
    contract::check(users, &Method::GET, "/api/nothing", 404, &body);
}
