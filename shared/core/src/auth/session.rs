//! The session a token names: the user, read fresh (one GetItem per request), and their role.
//! Reading the user is what lets a deactivation or a token-version bump take effect at once.

use super::tokens::{TokenKind, TokenService};
use crate::domain::ids::UserId;
use crate::domain::user::{Role, User};
use crate::error::AppError;
use crate::ports::UserStore;

/// The caller of a request.
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

/// Who is an admin: the users whose (lower-cased) email is listed in `ADMIN_EMAILS`.
#[derive(Clone, Debug, Default)]
pub struct Roles {
    admin_emails: Vec<String>,
}

impl Roles {
    pub fn new(admin_emails: impl IntoIterator<Item = String>) -> Self {
        Self { admin_emails: admin_emails.into_iter().map(|e| e.trim().to_lowercase()).collect() }
    }

    pub fn is_admin_email(&self, email: &str) -> bool {
        self.admin_emails.contains(&email.to_lowercase())
    }

    pub fn of(&self, user: &User) -> Role {
        if self.is_admin_email(&user.email) {
            Role::Admin
        } else {
            Role::User
        }
    }
}

fn invalid() -> AppError {
    AppError::Unauthorized("invalid or expired token".into())
}

/// The user a token names, if the token (of `kind`) is still good for them: right signature,
/// not expired, the user active and at the token's version.
pub async fn load(
    tokens: &TokenService,
    users: &dyn UserStore,
    token: &str,
    kind: TokenKind,
) -> Result<User, AppError> {
    let claims = tokens.verify(token, kind)?;
    let user_id = UserId::parse(&claims.sub).map_err(|_| invalid())?;
    match users.get_user(user_id).await? {
        Some(user) if user.active && user.token_version == claims.ver => Ok(user),
        _ => Err(invalid()),
    }
}
