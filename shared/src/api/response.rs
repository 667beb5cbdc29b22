//! Building responses. [`error`] is the one place an [`AppError`] becomes HTTP: its status
//! ([`status_of`]) and the JSON body `{"error": {"code", "message", "field"?}}`.

use lambda_http::http::header::{ALLOW, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, LINK};
use lambda_http::{Body, Response};
use serde::Serialize;
use switchboard_core::AppError;

pub type HttpResponse = Response<Body>;

pub fn json<T: Serialize>(status: u16, value: &T) -> Result<HttpResponse, AppError> {
    let body = serde_json::to_string(value).map_err(AppError::internal)?;
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store")
        .body(Body::Text(body))
        .map_err(AppError::internal)
}

/// 200 with a document that only changes with a deployment (the API's description, its
/// rendered reference): cacheable for a few minutes.
pub fn document(content_type: &str, body: &'static str) -> Result<HttpResponse, AppError> {
    Response::builder()
        .status(200)
        .header(CONTENT_TYPE, content_type)
        .header(CACHE_CONTROL, "public, max-age=300")
        .body(Body::Text(body.to_string()))
        .map_err(AppError::internal)
}

/// 200 with a file to save (`Content-Disposition: attachment`), and the `Link` of its next
/// part when there is one.
pub fn download(
    content_type: &str,
    filename: &str,
    next: Option<&str>,
    body: String,
) -> Result<HttpResponse, AppError> {
    let mut builder = Response::builder()
        .status(200)
        .header(CONTENT_TYPE, content_type)
        .header(CACHE_CONTROL, "no-store")
        .header(CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\""));
    if let Some(url) = next {
        builder = builder.header(LINK, format!("<{url}>; rel=\"next\""));
    }
    builder.body(Body::Text(body)).map_err(AppError::internal)
}

/// The status an error answers with, as a method: `err.status()`.
pub trait HttpStatus {
    fn status(&self) -> u16;
}

impl HttpStatus for AppError {
    fn status(&self) -> u16 {
        status_of(self)
    }
}

/// The HTTP status of each kind of error.
pub fn status_of(err: &AppError) -> u16 {
    match err {
        AppError::BadRequest { .. } => 400,
        AppError::Unauthorized(_) => 401,
        AppError::Forbidden(_) => 403,
        AppError::NotFound(_) => 404,
        AppError::MethodNotAllowed { .. } => 405,
        AppError::Conflict { .. } => 409,
        AppError::PayloadTooLarge { .. } => 413,
        AppError::Validation { .. } => 422,
        AppError::Throttled(_) => 429,
        AppError::Upstream(_) => 502,
        AppError::Internal(_) => 500,
    }
}

/// Every error the API answers: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Stable and machine-readable: each response lists the codes it can carry.
    pub code: &'static str,
    /// For humans; may change.
    pub message: String,
    /// The request field it is about (a 400 or 422), e.g. `phoneNumber`, `participants[2].userId`,
    /// `Idempotency-Key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
}

/// The JSON body of an error. Internal details stay in the logs.
pub fn error_body(err: &AppError) -> ErrorBody<'_> {
    ErrorBody { error: ErrorDetail { code: err.code(), message: err.public_message(), field: err.field() } }
}

pub fn error(err: &AppError) -> HttpResponse {
    let body = serde_json::to_string(&error_body(err)).unwrap_or_else(|_| {
        r#"{"error":{"code":"internal_error","message":"an internal error occurred"}}"#.into()
    });
    let mut builder = Response::builder()
        .status(status_of(err))
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store");
    if let AppError::MethodNotAllowed { allowed } = err {
        builder = builder.header(ALLOW, allowed.as_str());
    }
    if matches!(err, AppError::Unauthorized(_)) {
        builder = builder.header("WWW-Authenticate", "Bearer");
    }
    builder.body(Body::Text(body)).unwrap_or_else(|_| Response::new(Body::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_details() {
        let response = error(&AppError::internal("dynamo exploded at 10.0.0.1"));
        assert_eq!(response.status(), 500);
        let body: &[u8] = response.body().as_ref();
        let body: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        assert!(!body.to_string().contains("10.0.0.1"));
    }

    #[test]
    fn validation_errors_name_the_field() {
        let response = error(&AppError::validation("phoneNumber", "not a valid phone number"));
        assert_eq!(response.status(), 422);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["error"]["field"], "phoneNumber");
        assert_eq!(body["error"]["code"], "validation_failed");
    }

    #[test]
    fn method_not_allowed_names_the_methods() {
        let response = error(&AppError::MethodNotAllowed { allowed: "GET, POST".into() });
        assert_eq!(response.status().as_u16(), 405);
        assert_eq!(response.headers()[ALLOW], "GET, POST");
    }
}
