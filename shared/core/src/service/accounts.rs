//! Register, log in, refresh, profile, activation.

use chrono::Utc;
use serde::{Deserialize, Deserializer, Serialize};

use super::App;
use crate::auth::tokens::TokenKind;
use crate::auth::{password, session, AuthUser};
use crate::domain::ids::UserId;
use crate::domain::user::{
    validate_email, validate_name, RegisterRequest, User, UserView, EMAIL_MAX, USERNAME_MAX,
};
use crate::error::AppError;
use crate::ports::users::{LoginKey, ProfileChanges};

/// `{token, refreshToken, expiresIn, user}`: the answer to register, login and refresh.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub user: UserView,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// PUT /api/users/profile. An absent field stays as it is; `null` or "" clears it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileUpdate {
    #[serde(default, deserialize_with = "present")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub phone_number: Option<Option<String>>,
    #[serde(default)]
    pub email: Option<String>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn session(app: &App, user: &User) -> Result<Session, AppError> {
    let pair = app.tokens.issue_pair(user.id, user.token_version)?;
    Ok(Session {
        token: pair.token,
        refresh_token: pair.refresh_token,
        expires_in: pair.expires_in,
        user: user.view(app.settings.roles.of(user)),
    })
}

/// The caller a bearer token names: one read of the user (see [`session::load`]).
pub async fn authenticate(app: &App, access_token: &str) -> Result<AuthUser, AppError> {
    let user = session::load(&app.tokens, app.users.as_ref(), access_token, TokenKind::Access).await?;
    let role = app.settings.roles.of(&user);
    Ok(AuthUser { user, role })
}

/// One transaction: the user plus its unique email and username.
pub async fn register(app: &App, request: RegisterRequest) -> Result<Session, AppError> {
    let new = request.validate(app.settings.default_region)?;
    let now = Utc::now();
    let user = User {
        id: UserId::new(),
        username: new.username,
        email: new.email,
        password_hash: password::hash(new.password).await?,
        first_name: new.first_name,
        last_name: new.last_name,
        phone_number: new.phone_number,
        virtual_number: None,
        active: true,
        token_version: 0,
        created_at: now,
        updated_at: now,
    };
    app.users.create_user(&user).await?;
    tracing::info!(userId = %user.id, "user registered");
    session(app, &user)
}

/// Two consistent reads (uniqueness item, user) plus the password check. Unknown login and
/// wrong password answer alike, in the same time.
pub async fn login(app: &App, request: LoginRequest) -> Result<Session, AppError> {
    let login = match (request.email.as_deref().map(str::trim), request.username.as_deref().map(str::trim)) {
        (Some(email), _) if !email.is_empty() => LoginKey::Email(email.to_lowercase()),
        (_, Some(username)) if !username.is_empty() => LoginKey::Username(username.to_string()),
        _ => return Err(AppError::bad_request(Some("email".to_string()), "email or username is required")),
    };
    // Longer than any stored value: cannot match, and would exceed DynamoDB's key size.
    let plausible = match &login {
        LoginKey::Email(email) => email.len() <= EMAIL_MAX,
        LoginKey::Username(username) => username.len() <= USERNAME_MAX,
    };
    let user = match plausible {
        true => match app.users.find_user_id(&login).await? {
            Some(id) => app.users.get_user(id).await?,
            None => None,
        },
        false => None,
    };
    let matches = password::verify(request.password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    let user = match user {
        Some(user) if matches => user,
        _ => return Err(AppError::Unauthorized("invalid credentials".into())),
    };
    if !user.active {
        return Err(AppError::Forbidden("this account is deactivated".into()));
    }
    session(app, &user)
}

/// One read: the refresh token must still match an active user's token version.
pub async fn refresh(app: &App, request: RefreshRequest) -> Result<Session, AppError> {
    let token = request.refresh_token.trim();
    let user = session::load(&app.tokens, app.users.as_ref(), token, TokenKind::Refresh).await?;
    session(app, &user)
}

pub async fn update_profile(app: &App, user: &User, update: ProfileUpdate) -> Result<User, AppError> {
    let blank_is_none = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let changes = ProfileChanges {
        first_name: update.first_name.map(|v| validate_name("firstName", blank_is_none(v))).transpose()?,
        last_name: update.last_name.map(|v| validate_name("lastName", blank_is_none(v))).transpose()?,
        phone_number: update
            .phone_number
            .map(|v| blank_is_none(v).map(|raw| app.parse_phone("phoneNumber", &raw)).transpose())
            .transpose()?,
        email: update.email.map(|e| validate_email(&e)).transpose()?,
    };
    // Admin rights follow ADMIN_EMAILS: taking a listed address must not be a way to get them.
    if let Some(email) = changes.email.as_ref().filter(|e| **e != user.email) {
        if app.settings.roles.is_admin_email(email) {
            return Err(AppError::Forbidden("that email address is reserved".into()));
        }
    }
    Ok(app.users.update_profile(user, &changes).await?)
}

/// Admin: deactivate (ends sessions, leaves the directory, frees the number) or reactivate.
pub async fn set_active(app: &App, user_id: UserId, active: bool) -> Result<User, AppError> {
    let user = app.users.get_user(user_id).await?.ok_or_else(|| AppError::not_found("user not found"))?;
    if user.active != active {
        if let (false, Some(number)) = (active, &user.virtual_number) {
            app.numbers.mark_number_releasing(user.id, number).await?;
            super::conversations::close_sms_conversations_on(app, &user, number).await?;
        }
        app.users.set_active(&user, active).await?;
        if !active {
            // Their open sockets stop receiving events (and their frames are refused) at once.
            super::realtime::forget_user(app, user.id).await?;
        }
    }
    app.users.get_user(user_id).await?.ok_or_else(|| AppError::not_found("user not found"))
}

/// The directory: active users by username, optionally those starting with `prefix`.
pub async fn directory(
    app: &App,
    prefix: Option<&str>,
    page: &crate::ports::PageRequest,
) -> Result<crate::ports::Page<crate::domain::user::PublicUserView>, AppError> {
    // No username is longer than USERNAME_MAX; a longer prefix matches nobody.
    let prefix = prefix.map(|q| q.chars().take(USERNAME_MAX + 1).collect::<String>());
    let page = app.users.list_active_users(prefix.as_deref(), page).await?;
    Ok(page.map(|user| user.public_view()))
}
