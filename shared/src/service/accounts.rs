//! Register, log in, refresh, profile, activation.

use chrono::Utc;
use serde::{Deserialize, Deserializer, Serialize};

use crate::api::auth::{load_session_user, role_of};
use crate::app::AppState;
use crate::auth::password;
use crate::auth::tokens::TokenKind;
use crate::domain::user::{
    validate_email, validate_name, validate_phone, RegisterRequest, User, UserView, EMAIL_MAX, USERNAME_MAX,
};
use crate::error::AppError;
use crate::store::{LoginKey, ProfileChanges};

/// `{token, refreshToken, expiresIn, user}`: the answer to register, login and refresh.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub user: UserView,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// PUT /api/users/profile. An absent field stays as it is; `null` or "" clears it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
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

fn session(state: &AppState, user: &User) -> Result<Session, AppError> {
    let pair = state.tokens.issue_pair(&user.id, user.token_version)?;
    Ok(Session {
        token: pair.token,
        refresh_token: pair.refresh_token,
        expires_in: pair.expires_in,
        user: user.view(role_of(state, user)),
    })
}

/// One transaction: the user plus its unique email and username.
pub async fn register(state: &AppState, request: RegisterRequest) -> Result<Session, AppError> {
    let new = request.validate(state.config.default_region)?;
    let now = Utc::now();
    let user = User {
        id: ulid::Ulid::new().to_string(),
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
    state.store.create_user(&user).await?;
    tracing::info!(user_id = %user.id, "user registered");
    session(state, &user)
}

/// Two consistent reads (uniqueness item, user) plus the password check. Unknown login and
/// wrong password answer alike, in the same time.
pub async fn login(state: &AppState, request: LoginRequest) -> Result<Session, AppError> {
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
        true => match state.store.find_user_id(&login).await? {
            Some(id) => state.store.get_user(&id).await?,
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
    session(state, &user)
}

/// One read: the refresh token must still match an active user's token version.
pub async fn refresh(state: &AppState, request: RefreshRequest) -> Result<Session, AppError> {
    let claims = state.tokens.verify(request.refresh_token.trim(), TokenKind::Refresh)?;
    let user = load_session_user(state, &claims.sub, claims.ver).await?;
    session(state, &user)
}

pub async fn update_profile(state: &AppState, user: &User, update: ProfileUpdate) -> Result<User, AppError> {
    let region = state.config.default_region;
    let blank_is_none = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let changes = ProfileChanges {
        first_name: update.first_name.map(|v| validate_name("firstName", blank_is_none(v))).transpose()?,
        last_name: update.last_name.map(|v| validate_name("lastName", blank_is_none(v))).transpose()?,
        phone_number: update
            .phone_number
            .map(|v| blank_is_none(v).map(|raw| validate_phone("phoneNumber", &raw, region)).transpose())
            .transpose()?,
        email: update.email.map(|e| validate_email(&e)).transpose()?,
    };
    // Admin rights follow ADMIN_EMAILS: taking a listed address must not be a way to get them.
    if let Some(email) = changes.email.as_ref().filter(|e| **e != user.email) {
        if state.config.is_admin_email(email) {
            return Err(AppError::Forbidden("that email address is reserved".into()));
        }
    }
    Ok(state.store.update_profile(user, &changes).await?)
}

/// Admin: deactivate (ends sessions, leaves the directory, frees the number) or reactivate.
pub async fn set_active(state: &AppState, user_id: &str, active: bool) -> Result<User, AppError> {
    let user_id = &super::conversations::require_id(user_id, "user")?;
    let user = state.store.get_user(user_id).await?.ok_or_else(|| AppError::not_found("user not found"))?;
    if user.active != active {
        if let (false, Some(number)) = (active, &user.virtual_number) {
            state.store.mark_number_releasing(&user.id, number).await?;
            super::conversations::close_sms_conversations_on(state, &user, number).await?;
        }
        state.store.set_active(&user, active).await?;
        if !active {
            // Their open sockets stop receiving events (and their frames are refused) at once.
            super::realtime::forget_user(state, &user.id).await?;
        }
    }
    state.store.get_user(user_id).await?.ok_or_else(|| AppError::not_found("user not found"))
}
