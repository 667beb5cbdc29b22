//! The HTTP edge shared by every function: route tables ([`router`]), the call a handler gets
//! ([`call`]), request parsing, the one error-to-HTTP mapping ([`response`]), the bodies routes
//! answer ([`bodies`]), Twilio's webhook forms ([`webhook`]), the OpenAPI description built from
//! the route tables ([`openapi`]), and the one log line and metrics document of every request
//! ([`observed`]).

pub mod bodies;
pub mod call;
pub mod openapi;
pub mod request;
pub mod response;
pub mod router;
pub mod webhook;

use std::future::Future;
use std::time::Instant;

use lambda_http::{Body, Request, Response};
use switchboard_core::observe;
use switchboard_core::AppError;

pub use call::Call;
pub use response::{json, HttpResponse};
pub use router::{Access, Reply, Route, Routes};

use crate::app::AppState;

/// Runs one request through the function's route table and writes its log line and metric
/// document ([`observed`]). Errors become JSON responses here and nowhere else.
pub async fn serve(state: AppState, routes: &Routes, req: Request) -> Response<Body> {
    let method = req.method().to_string();
    let path = redact_path(req.uri().path());
    let function = routes.function();
    // Boxed: handler futures are large, and nesting them in `observed` by value overflows the
    // 2 MB stack of a test thread in unoptimised builds.
    let work = Box::pin(routes.dispatch(state.clone(), req));
    let result =
        observed(&state, function, &method, &path, work, |response| response.status().as_u16()).await;
    result.unwrap_or_else(|err| response::error(&err))
}

/// Runs one invocation of any kind (an HTTP request, a WebSocket route) under a request context
/// ([`crate::observe`]) and writes its one log line and its metric document. `status_of` gives
/// the status a success answers with; an error answers with its own.
pub async fn observed<T, Fut>(
    state: &AppState,
    function: &'static str,
    method: &str,
    route: &str,
    work: Fut,
    status_of: impl FnOnce(&T) -> u16,
) -> Result<T, AppError>
where
    Fut: Future<Output = Result<T, AppError>>,
{
    if !observe::enabled() {
        return work.await;
    }
    let started = Instant::now();
    let (result, context) = observe::scope(work).await;
    // Counted in the request's own context: concurrent jobs of one batch count their own.
    let db_round_trips = context.db_round_trips();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (status, error) = match &result {
        Ok(value) => (status_of(value), None),
        Err(err) => (response::status_of(err), Some(err)),
    };
    let code = error.map(AppError::code);
    let outcome = context.outcome_for(status);
    // Only 5xx carry the error's text (it names the failing setting or call); 4xx the code.
    let error_text = error.filter(|_| status >= 500).map(ToString::to_string);
    macro_rules! request_line {
        ($level:ident) => {
            tracing::$level!(
                function,
                method,
                route,
                status,
                outcome,
                latencyMs = latency_ms,
                dbRoundTrips = db_round_trips,
                twilioCalls = context.twilio_calls(),
                conversationId = context.conversation_id.as_deref(),
                messageSid = context.message_sid.as_deref(),
                deliveryId = context.delivery_id.as_deref(),
                from = context.from.as_deref(),
                to = context.to.as_deref(),
                code,
                error = error_text.as_deref(),
                "request"
            )
        };
    }
    if status >= 500 {
        request_line!(error);
    } else {
        request_line!(info);
    }
    let figures = observe::emf::RequestFigures {
        namespace: &state.config.metrics_namespace,
        function,
        status,
        latency_ms,
        db_round_trips,
        timestamp_ms: observe::emf::now_ms(),
    };
    for document in context.metric_documents(&figures) {
        observe::sink::write_line(&document);
    }
    result
}

/// Paths name records by id and may carry phone numbers (`/api/numbers/+1415…`, or written
/// as `415-555-0100`, `%28415%29555-0100`): ids become `{id}` so requests group by route; any
/// other segment with 7 or more digits once percent-decoded is masked, whatever else it holds,
/// unless it is a Twilio SID (two letters and 32 hex digits), which names no one.
fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            let digits = decoded.chars().filter(char::is_ascii_digit).count();
            if ulid::Ulid::from_string(segment).is_ok() {
                "{id}".to_string()
            } else if digits >= 7 && !is_twilio_sid(&decoded) {
                switchboard_core::domain::phone::mask(&decoded)
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `SM…`, `MM…`, `PN…`: two ASCII capitals and 32 hex digits.
fn is_twilio_sid(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() == 34
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..].iter().all(u8::is_ascii_hexdigit)
}

/// Serves `routes` on the Lambda runtime. `state` and `routes` were built once in `main` and
/// are shared by every invocation this instance serves.
pub async fn run(state: AppState, routes: Routes) -> Result<(), lambda_http::Error> {
    let routes = &routes;
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(serve(state, routes, req).await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn phone_numbers_in_paths_are_masked() {
        assert_eq!(super::redact_path("/api/numbers/+14155550100"), "/api/numbers/***0100");
        assert_eq!(super::redact_path("/api/numbers/%2B14155550100"), "/api/numbers/***0100");
        assert_eq!(super::redact_path("/api/numbers/415-555-0100"), "/api/numbers/***0100");
        assert_eq!(super::redact_path("/api/numbers/%28415%29555-0100"), "/api/numbers/***0100");
        assert_eq!(super::redact_path("/api/numbers/(415)%20555.0100x"), "/api/numbers/***100x");
        assert_eq!(super::redact_path("/api/numbers/tel:4155550100"), "/api/numbers/***0100");
        assert_eq!(super::redact_path("/api/numbers/55-0100"), "/api/numbers/55-0100", "6 digits");
        let sid = format!("SM{:032x}", 1234567u32);
        assert_eq!(super::redact_path(&format!("/api/messages/{sid}")), format!("/api/messages/{sid}"));
        assert_eq!(super::redact_path("/api/users/01HZX"), "/api/users/01HZX");
        assert_eq!(
            super::redact_path("/api/conversations/01J9Z8Q4T5V6W7X8Y9Z0A1B2C3/messages"),
            "/api/conversations/{id}/messages"
        );
    }
}
