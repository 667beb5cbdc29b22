//! Building responses. [`error`] is the one place an [`AppError`] becomes HTTP.

use lambda_http::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::error::AppError;

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

pub fn error(err: &AppError) -> HttpResponse {
    let body = serde_json::to_string(&err.body()).unwrap_or_else(|_| {
        r#"{"error":{"code":"internal_error","message":"an internal error occurred"}}"#.into()
    });
    let mut builder = Response::builder()
        .status(err.status())
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store");
    if let AppError::MethodNotAllowed { allowed } = err {
        builder = builder.header(ALLOW, allowed.join(", "));
    }
    if matches!(err, AppError::Unauthorized(_)) {
        builder = builder.header("WWW-Authenticate", "Bearer");
    }
    builder.body(Body::Text(body)).unwrap_or_else(|_| Response::new(Body::Empty))
}
