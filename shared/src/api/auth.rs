//! Bearer-token authentication for every `/api` route except register, login and refresh.

use lambda_http::http::header::AUTHORIZATION;
use lambda_http::Request;

use crate::app::AppState;
use crate::auth::tokens::TokenKind;
use crate::domain::user::{Role, User};
use crate::error::AppError;

/// The caller, freshly read from the store (one GetItem per request). Reading the user is what
/// lets a deactivation or a token-version bump take effect at once.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user: User,
    pub role: Role,
}

impl AuthUser {
    pub fn require_admin(&self) -> Result<(), AppError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::User => Err(AppError::Forbidden("this action requires an administrator".into())),
        }
    }
}

pub async fn authenticate(state: &AppState, req: &Request) -> Result<AuthUser, AppError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
    let claims = state.tokens.verify(token, TokenKind::Access)?;
    let user = load_session_user(state, &claims.sub, claims.ver).await?;
    let role = role_of(state, &user);
    Ok(AuthUser { user, role })
}

/// The user a token names, if the token is still good for them.
pub async fn load_session_user(state: &AppState, user_id: &str, version: u32) -> Result<User, AppError> {
    match state.store.get_user(user_id).await? {
        Some(user) if user.active && user.token_version == version => Ok(user),
        _ => Err(AppError::Unauthorized("invalid or expired token".into())),
    }
}

pub fn role_of(state: &AppState, user: &User) -> Role {
    if state.config.is_admin_email(&user.email) {
        Role::Admin
    } else {
        Role::User
    }
}
