//! Every answer the tests get, fast tier and moto tier alike, is checked against the API's
//! description (`switchboard::api::openapi`): its status must be one the route's operation lists,
//! and an error's `code` one that status names. An answer the description does not promise fails
//! the test that provoked it, naming the route: describe it (the handler's `#[utoipa::path]`,
//! `x-errors`) or fix the answer.

use std::sync::OnceLock;

use lambda_http::http::Method;
use serde_json::Value;
use switchboard::api::openapi::{check_answer, describe, document};
use switchboard::api::Routes;
use utoipa::openapi::OpenApi;

use crate::functions;

/// The description the code generates (what `/api/openapi.json` serves).
pub fn description() -> &'static OpenApi {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| document(functions()))
}

/// Panics when `routes`' answer `status`/`body` to `method path` is not described. Paths no
/// route has (404) and other methods (405) are the table's answers, not an operation's.
pub fn check(routes: &Routes, method: &Method, path: &str, status: u16, body: &Value) {
    let Ok((route, _)) = routes.find(method, path) else { return };
    // A webhook's local path (`make dev`) is described once, as the function URL it stands for.
    let described = if route.path.starts_with("/api/webhooks/") {
        routes.routes().iter().find(|r| r.path == "/" && r.method == route.method).unwrap_or(route)
    } else {
        route
    };
    if let Err(difference) = check_answer(&describe(described), status, body) {
        panic!(
            "{method} {path} answered what its description does not promise: {difference}\nbody: {body}\n\
             Describe it in the handler's #[utoipa::path] (responses, x-errors) or fix the answer."
        );
    }
}
