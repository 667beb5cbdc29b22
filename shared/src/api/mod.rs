//! The HTTP edge shared by every REST function: parse requests, authenticate, and turn
//! results into JSON responses, in one place.

pub mod auth;
pub mod request;
pub mod response;
pub mod webhook;

use std::future::Future;
use std::time::Instant;

use lambda_http::{Body, Request, Response};

pub use auth::{authenticate, AuthUser};
pub use request::{json_body, json_body_or_default, page_request, path_segments, query_param};
pub use response::{json, HttpResponse};

use crate::app::AppState;
use crate::error::AppError;

/// Runs one request through `route` and writes one log line for it. Errors become JSON
/// responses here and nowhere else.
pub async fn serve<F, Fut>(state: AppState, function: &'static str, req: Request, route: F) -> Response<Body>
where
    F: FnOnce(AppState, Request) -> Fut,
    Fut: Future<Output = Result<HttpResponse, AppError>>,
{
    let started = Instant::now();
    let round_trips_before = state.round_trips.get();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let result = route(state.clone(), req).await;
    let db_round_trips = state.round_trips.get().saturating_sub(round_trips_before);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(response) => {
            tracing::info!(function, %method, route = %redact_path(&path), status = response.status().as_u16(), latency_ms, db_round_trips, outcome = "ok", "request");
            response
        }
        Err(err) => {
            let status = err.status();
            if status >= 500 {
                tracing::error!(function, %method, route = %redact_path(&path), status, latency_ms, db_round_trips, outcome = "error", error = %err, "request");
            } else {
                tracing::info!(function, %method, route = %redact_path(&path), status, latency_ms, db_round_trips, outcome = "rejected", code = err.code(), "request");
            }
            response::error(&err)
        }
    }
}

/// Paths may carry phone numbers (`/api/numbers/+1415…`): mask them before logging.
fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let digits = segment.chars().filter(char::is_ascii_digit).count();
            if digits >= 7 && segment.chars().all(|c| c.is_ascii_digit() || "+%2Bb".contains(c)) {
                crate::domain::phone::mask(segment)
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Hands `handler` to the Lambda runtime. `state` was built once in `main` and is shared by
/// every invocation this instance serves.
pub async fn run<F, Fut>(state: AppState, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(AppState, Request) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handler(state, req).await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn phone_numbers_in_paths_are_masked() {
        assert_eq!(super::redact_path("/api/numbers/+14155550100"), "/api/numbers/***0100");
        assert_eq!(super::redact_path("/api/numbers/%2B14155550100"), "/api/numbers/***0100");
        assert_eq!(super::redact_path("/api/users/01HZX"), "/api/users/01HZX");
    }
}
