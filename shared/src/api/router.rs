//! Route tables. Each function declares its routes once, as data: method, path pattern, who may
//! call it, and the handler. The method and path come from the handler's `#[utoipa::path]`
//! annotation (through [`route!`]), the same annotation the OpenAPI description is made of, so
//! the table and the description cannot disagree. From the table follow:
//! - dispatch: 404 for a path no route has, 405 with `Allow` for a known path and another
//!   method, 401/403 for a caller the route does not admit, then the handler;
//! - the checks in tests/tests/routes.rs that Cargo.toml's local router and template.yaml's
//!   HTTP API routes send exactly these paths to this function, and the tests' dispatch.
//!
//! Why not axum: a Lambda serves one request per invocation, so a tower stack buys nothing, and
//! axum's extractor rejections would each need mapping to our JSON errors; the ordered checks
//! here (route, method, caller, then the handler's own parsing) are the API's documented order.
//! See docs/decisions.md.

use std::future::Future;
use std::pin::Pin;

use lambda_http::http::Method;
use lambda_http::Request;
use switchboard_core::auth::AuthUser;
use switchboard_core::service::accounts;
use switchboard_core::AppError;

use super::call::Call;
use super::response::HttpResponse;
use crate::app::AppState;

/// What a handler answers: a response, or an error the edge turns into JSON.
pub type Reply = Result<HttpResponse, AppError>;
pub type BoxReply = Pin<Box<dyn Future<Output = Reply> + Send>>;
pub type Handler = fn(Call) -> BoxReply;
/// A path's parameters, percent-decoded: (`id`, `01J…`).
pub type Params = Vec<(String, String)>;

/// Who may call a route. Checked before the handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (register, login, refresh, the Twilio webhooks, whose signature is their check).
    Public,
    /// A valid access token of an active user.
    User,
    /// A valid access token of an admin (`ADMIN_EMAILS`).
    Admin,
}

/// One route: a method on a path pattern (`/api/conversations/{id}`).
#[derive(Clone)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub access: Access,
    /// The handler's name, for tests and logs.
    pub name: &'static str,
    pub handler: Handler,
    /// The route's OpenAPI operation, generated from the handler's annotation.
    pub operation: fn() -> utoipa::openapi::path::Operation,
    /// The schemas the operation refers to (`#/components/schemas/…`).
    pub schemas: fn(&mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>),
    /// The annotation's tags (utoipa keeps them apart from the operation).
    pub tags: fn() -> Vec<&'static str>,
}

impl Route {
    /// The routes a `#[utoipa::path]`-annotated handler serves (one per method it declares).
    /// Use [`route!`] rather than calling this.
    pub fn described<P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>>(
        access: Access,
        name: &'static str,
        handler: Handler,
    ) -> Vec<Route> {
        let path = P::path();
        P::methods()
            .into_iter()
            .map(|method| Route {
                method: method_of(&method),
                path: path.clone(),
                access,
                name,
                handler,
                operation: P::operation,
                schemas: P::schemas,
                tags: P::tags,
            })
            .collect()
    }
}

fn method_of(method: &utoipa::openapi::path::HttpMethod) -> Method {
    use utoipa::openapi::path::HttpMethod;
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// The routes of `handler`, an `async fn(Call) -> Reply` annotated with `#[utoipa::path]`:
/// `route!(Access::User, list_conversations)`.
#[macro_export]
macro_rules! route {
    ($access:expr, $handler:ident) => {
        $crate::__pastey::paste! {
            $crate::api::router::Route::described::<[<__path_ $handler>]>(
                $access,
                stringify!($handler),
                |call| -> $crate::api::router::BoxReply { Box::pin($handler(call)) },
            )
        }
    };
}

/// All the routes of one function, and the matcher built from them once per cold start.
pub struct Routes {
    function: &'static str,
    routes: Vec<Route>,
    /// Path pattern -> indexes into `routes` (one per method).
    matcher: matchit::Router<Vec<usize>>,
}

impl Routes {
    /// Panics on a table that cannot work (the same path twice with one method, overlapping
    /// patterns): a programming error, caught by every test that builds the table.
    pub fn new(function: &'static str, groups: impl IntoIterator<Item = Vec<Route>>) -> Self {
        let routes: Vec<Route> = groups.into_iter().flatten().collect();
        let mut by_path: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            match by_path.iter_mut().find(|(path, _)| *path == route.path) {
                Some((_, indexes)) => {
                    assert!(
                        !indexes.iter().any(|j| routes[*j].method == route.method),
                        "{function}: {} {} is declared twice",
                        route.method,
                        route.path
                    );
                    indexes.push(i);
                }
                None => by_path.push((route.path.clone(), vec![i])),
            }
        }
        let mut matcher = matchit::Router::new();
        for (path, indexes) in by_path {
            matcher.insert(path.clone(), indexes).unwrap_or_else(|e| panic!("{function}: {path}: {e}"));
        }
        Self { function, routes, matcher }
    }

    pub fn function(&self) -> &'static str {
        self.function
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route `method` and `path` name, with its path parameters (percent-decoded); or the
    /// error that says why none does (404, or 405 naming the allowed methods).
    pub fn find(&self, method: &Method, path: &str) -> Result<(&Route, Params), AppError> {
        let path = normalize(path);
        let matched = self.matcher.at(&path).map_err(|_| AppError::not_found("no such route"))?;
        let params = matched
            .params
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned(),
                )
            })
            .collect();
        let indexes = matched.value;
        match indexes.iter().map(|i| &self.routes[*i]).find(|r| r.method == *method) {
            Some(route) => Ok((route, params)),
            None => {
                let mut allowed: Vec<&str> =
                    indexes.iter().map(|i| self.routes[*i].method.as_str()).collect();
                allowed.sort_by_key(|m| method_order(m));
                Err(AppError::MethodNotAllowed { allowed: allowed.join(", ") })
            }
        }
    }

    /// Finds the route, admits the caller, runs the handler.
    pub async fn dispatch(&self, state: AppState, req: Request) -> Reply {
        let (route, params) = self.find(req.method(), req.uri().path())?;
        let caller = admit(&state, &req, route.access).await?;
        (route.handler)(Call::new(state, req, params, caller)).await
    }
}

/// Empty segments dropped (`/api/numbers/` is `/api/numbers`), as API Gateway matches them.
fn normalize(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join("/"))
}

fn method_order(method: &str) -> usize {
    ["GET", "POST", "PUT", "PATCH", "DELETE"].iter().position(|m| *m == method).unwrap_or(usize::MAX)
}

/// The caller the route's access asks for: none for public routes, else the user the bearer
/// token names (401 without one), an admin where the route needs one (403).
async fn admit(state: &AppState, req: &Request, access: Access) -> Result<Option<AuthUser>, AppError> {
    if access == Access::Public {
        return Ok(None);
    }
    let token = bearer_token(req).ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
    let caller = accounts::authenticate(&state.app, token).await?;
    if access == Access::Admin {
        caller.require_admin()?;
    }
    Ok(Some(caller))
}

fn bearer_token(req: &Request) -> Option<&str> {
    let header = req.headers().get(lambda_http::http::header::AUTHORIZATION)?.to_str().ok()?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_like_api_gateway_does() {
        assert_eq!(normalize("/api/numbers/"), "/api/numbers");
        assert_eq!(normalize("//api//numbers"), "/api/numbers");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize(""), "/");
    }
}
