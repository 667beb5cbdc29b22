//! The one error type of the application. Every failure a caller can see is one of these
//! variants; [`crate::api::response`] maps them to HTTP statuses and JSON in one place.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed (not JSON, wrong type, missing field).
    #[error("{message}")]
    BadRequest { field: Option<String>, message: String },
    /// 401: no token, or a bad or expired one; or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown resource or route; also resources the caller may not see.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed { allowed: &'static [&'static str] },
    /// 409: the request conflicts with the current state (taken, exists already).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: body larger than we accept.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 422: well-formed but semantically invalid (a phone number that is not one).
    #[error("{message}")]
    Validation { field: String, message: String },
    /// 429: throttled (by us or by a provider).
    #[error("{0}")]
    Throttled(String),
    /// 502: an upstream provider (Twilio) failed.
    #[error("{0}")]
    Upstream(String),
    /// 500: a fault on our side. The message is logged, never shown to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self::BadRequest { field: field.into(), message: message.into() }
    }
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), message: message.into() }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::Internal(message.to_string())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::Validation { .. } => 422,
            Self::Throttled(_) => 429,
            Self::Upstream(_) => 502,
            Self::Internal(_) => 500,
        }
    }

    /// Stable, machine-readable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "invalid_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Validation { .. } => "validation_failed",
            Self::Throttled(_) => "throttled",
            Self::Upstream(_) => "upstream_failed",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The JSON body `{"error": {"code", "message", "field"?}}`.
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            // Internal details stay in the logs.
            Self::Internal(_) => "an internal error occurred".to_string(),
            other => other.to_string(),
        };
        let field = match self {
            Self::BadRequest { field, .. } => field.clone(),
            Self::Validation { field, .. } => Some(field.clone()),
            _ => None,
        };
        ErrorBody { error: ErrorDetail { code: self.code(), message, field } }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_details() {
        let body = serde_json::to_value(AppError::internal("dynamo exploded at 10.0.0.1").body()).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        assert!(!body.to_string().contains("10.0.0.1"));
    }

    #[test]
    fn validation_errors_name_the_field() {
        let err = AppError::validation("phoneNumber", "not a valid phone number");
        assert_eq!(err.status(), 422);
        let body = serde_json::to_value(err.body()).unwrap();
        assert_eq!(body["error"]["field"], "phoneNumber");
        assert_eq!(body["error"]["code"], "validation_failed");
    }
}
