//! Reading requests: JSON bodies with field-level errors, query parameters, pages.

use lambda_http::{Request, RequestExt};
use serde::de::DeserializeOwned;
use switchboard_core::ports::{PageRequest, MAX_PAGE_SIZE};
use switchboard_core::AppError;

/// Largest JSON body accepted (413 above it). Message bodies are at most 1,600 characters, so
/// this leaves ample room while keeping a bound.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Page size when the caller names none.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// Parses the body as JSON into `T`. Errors say which field is wrong where serde can tell.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, AppError> {
    let bytes = body_bytes(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::bad_request(None, "a JSON body is required"));
    }
    parse_json(bytes)
}

/// Like [`json_body`], but an empty body means `T::default()`.
pub fn json_body_or_default<T: DeserializeOwned + Default>(req: &Request) -> Result<T, AppError> {
    let bytes = body_bytes(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(bytes)
}

fn body_bytes(req: &Request) -> Result<&[u8], AppError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(AppError::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    Ok(bytes)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // serde would read `[..]` positionally into a struct; every body of this API is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AppError::bad_request(None, "the body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return AppError::bad_request(None, format!("malformed JSON: {message}"));
        }
        // serde names a missing or unknown field only in its message: `missing field `x``.
        let field = if path == "." { backticked(&message) } else { Some(path) };
        AppError::bad_request(field, strip_position(&message))
    })
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A query-string parameter, percent-decoded.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let from_uri = req.uri().query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    });
    from_uri.or_else(|| req.query_string_parameters_ref().and_then(|q| q.first(name).map(str::to_string)))
}

/// `?limit&cursor`: limit defaults to 20 and is capped at 100.
pub fn page_request(req: &Request) -> Result<PageRequest, AppError> {
    let limit = match query_param(req, "limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                AppError::bad_request(Some("limit".to_string()), "limit must be a positive integer")
            })?
            .min(MAX_PAGE_SIZE),
    };
    let cursor = query_param(req, "cursor").filter(|c| !c.is_empty());
    Ok(PageRequest { limit, cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::response::HttpStatus;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: Option<u32>,
    }

    fn request(body: &str) -> Request {
        http::Request::builder().uri("/x?limit=500&cursor=abc").body(body.into()).unwrap()
    }

    fn field_of(err: AppError) -> Option<String> {
        match err {
            AppError::BadRequest { field, .. } => field,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(field_of(json_body::<Body>(&request("{}")).unwrap_err()).as_deref(), Some("name"));
        assert_eq!(
            field_of(json_body::<Body>(&request(r#"{"name":"a","count":"x"}"#)).unwrap_err()).as_deref(),
            Some("count")
        );
        assert_eq!(field_of(json_body::<Body>(&request("{not json")).unwrap_err()), None);
        assert_eq!(field_of(json_body::<Body>(&request("")).unwrap_err()), None);
        assert!(json_body::<Body>(&request(r#"{"name":"a"}"#)).is_ok());
    }

    #[test]
    fn oversized_bodies_are_413() {
        let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert_eq!(json_body::<Body>(&request(&big)).unwrap_err().status(), 413);
    }

    #[test]
    fn page_limits_are_capped_and_validated() {
        let page = page_request(&request("")).unwrap();
        assert_eq!((page.limit, page.cursor.as_deref()), (MAX_PAGE_SIZE, Some("abc")));
        let bad = http::Request::builder().uri("/x?limit=-1").body("".into()).unwrap();
        assert_eq!(field_of(page_request(&bad).unwrap_err()).as_deref(), Some("limit"));
    }
}
