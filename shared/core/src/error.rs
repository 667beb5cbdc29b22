//! The one error type of the application. Every failure a caller can see is one of these
//! variants, with a stable machine-readable [`AppError::code`]; the HTTP edge
//! (`switchboard::api::response`) maps them to statuses and JSON in one place.

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
    MethodNotAllowed { allowed: String },
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

    /// The field a 400 or 422 is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::BadRequest { field, .. } => field.as_deref(),
            Self::Validation { field, .. } => Some(field),
            _ => None,
        }
    }

    /// What a caller may be told: internal details stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "an internal error occurred".to_string(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_details() {
        let err = AppError::internal("dynamo exploded at 10.0.0.1");
        assert_eq!(err.code(), "internal_error");
        assert!(!err.public_message().contains("10.0.0.1"));
    }

    #[test]
    fn validation_errors_name_the_field() {
        let err = AppError::validation("phoneNumber", "not a valid phone number");
        assert_eq!(err.field(), Some("phoneNumber"));
        assert_eq!(err.code(), "validation_failed");
    }
}
