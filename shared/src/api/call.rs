//! One call of a route: the request, its path parameters and the admitted caller, with the
//! readers every handler uses. Ids in the path are parsed here, once, into typed ids.
//!
//! Handlers read the body before the path's ids: a malformed request is a 400 whatever it
//! names; a well-formed one naming nothing is a 404.

use lambda_http::Request;
use serde::de::DeserializeOwned;
use switchboard_core::auth::AuthUser;
use switchboard_core::domain::ids::{ContactId, ConversationId, MessageId, ParticipantId, UserId};
use switchboard_core::ports::PageRequest;
use switchboard_core::{App, AppError};

use super::request;
use crate::app::AppState;

pub struct Call {
    pub state: AppState,
    pub req: Request,
    params: Vec<(String, String)>,
    caller: Option<AuthUser>,
}

/// A path parameter that is a typed id: one that does not parse names nothing (404).
pub trait PathId: Sized {
    fn parse_or_not_found(raw: &str) -> Result<Self, AppError>;
}

macro_rules! path_id {
    ($($id:ty),*) => {$(
        impl PathId for $id {
            fn parse_or_not_found(raw: &str) -> Result<Self, AppError> {
                <$id>::parse_or_not_found(raw)
            }
        }
    )*};
}
path_id!(UserId, ConversationId, MessageId, ParticipantId, ContactId);

impl Call {
    pub fn new(
        state: AppState,
        req: Request,
        params: Vec<(String, String)>,
        caller: Option<AuthUser>,
    ) -> Self {
        Self { state, req, params, caller }
    }

    /// The use cases' dependencies.
    pub fn app(&self) -> &App {
        &self.state.app
    }

    /// The admitted caller. Only routes with `Access::User` or `Access::Admin` have one.
    pub fn caller(&self) -> Result<&AuthUser, AppError> {
        self.caller.as_ref().ok_or_else(|| AppError::internal("a public route asked for its caller"))
    }

    /// A path parameter as written (percent-decoded).
    pub fn param(&self, name: &str) -> Result<&str, AppError> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| AppError::internal(format!("the route has no {{{name}}} parameter")))
    }

    /// A path parameter that is an id.
    pub fn id<T: PathId>(&self, name: &str) -> Result<T, AppError> {
        T::parse_or_not_found(self.param(name)?)
    }

    /// The JSON body (400 naming the field when it does not fit `T`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AppError> {
        request::json_body(&self.req)
    }

    /// The JSON body, or `T::default()` when there is none.
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, AppError> {
        request::json_body_or_default(&self.req)
    }

    pub fn query(&self, name: &str) -> Option<String> {
        request::query_param(&self.req, name)
    }

    /// `?limit&cursor`.
    pub fn page(&self) -> Result<PageRequest, AppError> {
        request::page_request(&self.req)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.headers().get(name).and_then(|v| v.to_str().ok())
    }
}
