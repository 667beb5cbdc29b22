//! One route table per function (`routes()` in functions/*/src/lib.rs) is the truth; the other
//! places a route is written are checked against it here, so a route added in one place and
//! forgotten in another fails `make test`:
//! - the local router `make dev` gives `cargo lambda watch` (workspace Cargo.toml),
//! - template.yaml's HTTP API routes, function URLs and WebSocket routes,
//! - the tests' own dispatch (`switchboard_tests::function_for`),
//! - the sample events in events/.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use lambda_http::http::Method;
use serde_yaml::Value as Yaml;
use switchboard_tests::{function_for, functions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The HTTP API paths of each function's table: (path, function). Function URL roots (`/`) and
/// the webhooks' local paths (`/api/webhooks/...`, which only `make dev` serves) are not HTTP
/// API routes.
fn api_paths() -> BTreeSet<(String, String)> {
    functions()
        .iter()
        .flat_map(|table| {
            table.routes().iter().map(|r| (r.path.clone(), table.function().to_string())).collect::<Vec<_>>()
        })
        .filter(|(path, _)| path.starts_with("/api/") && !path.starts_with("/api/webhooks/"))
        .collect()
}

/// Every path of every table, with its function (the local router serves them all).
fn all_paths() -> BTreeSet<(String, String)> {
    functions()
        .iter()
        .flat_map(|table| {
            table.routes().iter().map(|r| (r.path.clone(), table.function().to_string())).collect::<Vec<_>>()
        })
        .filter(|(path, _)| path != "/")
        .collect()
}

fn local_router() -> BTreeMap<String, String> {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router]")
        .iter()
        .map(|(path, function)| (path.clone(), function.as_str().unwrap().to_string()))
        .collect()
}

fn template() -> Yaml {
    serde_yaml::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

/// Each function resource of the template by its binary name (`BuildProperties.Binary`).
fn template_functions(template: &Yaml) -> BTreeMap<String, Yaml> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .filter_map(|r| Some((r["Metadata"]["BuildProperties"]["Binary"].as_str()?.to_string(), r.clone())))
        .collect()
}

#[test]
fn the_local_router_serves_exactly_the_tables_paths() {
    let mut router = local_router();
    assert_eq!(router.remove("/{*rest}").as_deref(), Some("auth"), "unknown paths reach auth's JSON 404");
    let declared: BTreeSet<(String, String)> = router.into_iter().collect();
    let expected = all_paths();
    let missing: Vec<_> = expected.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "Cargo.toml's [workspace.metadata.lambda.watch.router] differs from the route tables.\n\
         missing (add): {}\nnot in any table (remove): {extra:?}",
        missing.iter().map(|(p, f)| format!("\"{p}\" = \"{f}\"")).collect::<Vec<_>>().join("\n")
    );
    // cargo-lambda's router is matchit 0.8: the table must load into it.
    let mut matcher = matchit::Router::new();
    for (path, function) in local_router() {
        matcher.insert(path.as_str(), function).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    assert_eq!(matcher.at("/api/nothing/here").unwrap().value, "auth");
    assert_eq!(matcher.at("/api/conversations/x/y/z/w").unwrap().value, "auth");
}

#[test]
fn the_templates_http_api_routes_are_exactly_the_tables_paths() {
    let template = template();
    let mut declared = BTreeSet::new();
    let mut fallbacks = Vec::new();
    for (function, resource) in template_functions(&template) {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else { continue };
        for (name, event) in events {
            assert_eq!(event["Type"], "HttpApi", "{function}: {name:?} is not an HttpApi event");
            let properties = &event["Properties"];
            match properties["Path"].as_str() {
                // Every method reaches the function, which answers 405 with `Allow` itself.
                Some(path) => {
                    assert_eq!(properties["Method"], "ANY", "{function} {path}");
                    declared.insert((path.to_string(), function.clone()));
                }
                None => fallbacks.push(function.clone()),
            }
        }
    }
    assert_eq!(fallbacks, ["auth"], "the $default route answers the JSON 404");
    let expected = api_paths();
    let missing: Vec<_> = expected.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "template.yaml's HttpApi events differ from the route tables.\nmissing (add to that function's \
         Events, Method: ANY): {missing:?}\nnot in any table (remove): {extra:?}"
    );
}

#[test]
fn webhooks_are_function_urls_serving_their_tables_root() {
    let template = template();
    let functions_in_template = template_functions(&template);
    for table in functions() {
        let roots: Vec<_> = table.routes().iter().filter(|r| r.path == "/").collect();
        let resource = &functions_in_template[table.function()];
        let has_url = !resource["Properties"]["FunctionUrlConfig"].is_null();
        assert_eq!(
            has_url,
            !roots.is_empty(),
            "{}: a function URL exactly when its table has `/`",
            table.function()
        );
        if has_url {
            assert!(roots.iter().all(|r| r.method == Method::POST), "Twilio posts its webhooks");
            assert!(resource["Properties"]["Events"].is_null(), "{}: no HTTP API route", table.function());
        }
    }
}

#[test]
fn the_websocket_routes_are_the_ones_realtime_serves() {
    let template = template();
    let keys: BTreeSet<&str> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .filter_map(|r| r["Properties"]["RouteKey"].as_str())
        .collect();
    assert_eq!(keys, BTreeSet::from(switchboard_realtime::ROUTE_KEYS));
}

#[test]
fn the_tests_dispatch_sends_every_path_to_its_function() {
    for (path, function) in all_paths() {
        let concrete = path.replace("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV").replace(['{', '}'], "");
        assert_eq!(function_for(&concrete).function(), function, "{path}");
    }
    assert_eq!(function_for("/api/nothing/here").function(), "auth");
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
fn every_sample_event_reaches_its_function_and_a_route_of_its_table() {
    let mut router = matchit::Router::new();
    for (path, function) in local_router() {
        router.insert(path.as_str(), function).unwrap();
    }
    let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("events")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        // WebSocket events reach `realtime` through the WebSocket API, the queue's and the
        // schedule's the pipeline's functions: no HTTP route.
        if file.starts_with("websocket-") || file.starts_with("delivery-") || file.starts_with("sweeper-") {
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
            "CONTACT_ID",
        ]
        .iter()
        .fold(raw, |p, name| p.replace(name, id));
        let matched = router.at(&path).unwrap_or_else(|_| panic!("{file}: {path} matches no route"));
        assert_eq!(*matched.value, function_of(&file), "{file}: {path}");
        let method: Method = event["requestContext"]["http"]["method"].as_str().unwrap().parse().unwrap();
        let table = functions().iter().find(|t| t.function() == function_of(&file)).unwrap();
        assert!(
            table.find(&method, &path).is_ok(),
            "{file}: {method} {path} is not in {}'s table",
            table.function()
        );
        checked += 1;
    }
    assert!(checked >= 30);
}

#[test]
fn every_table_answers_404_and_405_with_allow_from_its_routes() {
    let conversations = functions().iter().find(|t| t.function() == "conversations").unwrap();
    let err =
        conversations.find(&Method::PUT, "/api/conversations/01ARZ3NDEKTSV4RRFFQ69G5FAV").err().unwrap();
    assert!(
        matches!(&err, switchboard::AppError::MethodNotAllowed { allowed } if allowed == "GET, DELETE"),
        "{err:?}"
    );
    assert!(matches!(
        conversations.find(&Method::GET, "/api/conversations/a/b/c/d"),
        Err(switchboard::AppError::NotFound(_))
    ));
    // Trailing and doubled slashes match as API Gateway matches them.
    assert!(conversations.find(&Method::GET, "/api/conversations/").is_ok());
    for table in functions() {
        for route in table.routes() {
            let concrete = route.path.replace(['{', '}'], "");
            let (found, _) = table.find(&route.method, &concrete).unwrap();
            assert_eq!(found.name, route.name, "{} {} {}", table.function(), route.method, route.path);
        }
    }
}
