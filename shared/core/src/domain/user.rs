//! Users: what a registration must satisfy, and how a user is shown.

use chrono::{DateTime, Utc};
use phonenumber::country;
use serde::{Deserialize, Serialize};

use super::ids::UserId;
use super::phone::E164;
use crate::error::AppError;

/// A registered user, as the store holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: UserId,
    /// As the user typed it; uniqueness is case-insensitive (see [`normalize_username`]).
    pub username: String,
    /// Lower-cased.
    pub email: String,
    pub password_hash: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The user's own (personal) phone.
    pub phone_number: Option<E164>,
    /// The Twilio number assigned to the user, if any.
    pub virtual_number: Option<E164>,
    pub active: bool,
    /// Bumped to invalidate every token issued before (deactivation, password change).
    pub token_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    User,
    Admin,
}

/// The `user` object of the API.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<E164>,
    pub virtual_phone_number: Option<E164>,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// What other users may see of a user (the directory): no email, no personal phone.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicUserView {
    pub id: UserId,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub virtual_phone_number: Option<E164>,
}

impl User {
    pub fn view(&self, role: Role) -> UserView {
        UserView {
            id: self.id,
            username: self.username.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            phone_number: self.phone_number.clone(),
            virtual_phone_number: self.virtual_number.clone(),
            role,
            active: self.active,
            created_at: self.created_at,
        }
    }

    pub fn public_view(&self) -> PublicUserView {
        PublicUserView {
            id: self.id,
            username: self.username.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            virtual_phone_number: self.virtual_number.clone(),
        }
    }

    /// How the user is named to others, e.g. in relayed group texts.
    pub fn display_name(&self) -> String {
        match (&self.first_name, &self.last_name) {
            (Some(first), Some(last)) => format!("{first} {last}"),
            (Some(first), None) => first.clone(),
            (None, Some(last)) => last.clone(),
            (None, None) => self.username.clone(),
        }
    }
}

/// The registration request body.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    pub username: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
}

/// A registration that passed validation, with normalised values.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<E164>,
}

pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const NAME_MAX: usize = 64;
pub const EMAIL_MAX: usize = 254;

impl RegisterRequest {
    pub fn validate(self, region: country::Id) -> Result<NewUser, AppError> {
        Ok(NewUser {
            username: validate_username(&self.username)?,
            email: validate_email(&self.email)?,
            password: validate_password("password", &self.password)?,
            first_name: validate_name("firstName", self.first_name)?,
            last_name: validate_name("lastName", self.last_name)?,
            phone_number: validate_optional_phone("phoneNumber", self.phone_number, region)?,
        })
    }
}

/// The case-insensitive form under which usernames are unique.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

pub fn validate_username(raw: &str) -> Result<String, AppError> {
    let username = raw.trim();
    let ok_chars = username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if username.len() < 3 || username.len() > USERNAME_MAX || !ok_chars {
        return Err(AppError::validation(
            "username",
            format!("must be 3 to {USERNAME_MAX} characters of letters, digits, '_', '.' or '-'"),
        ));
    }
    Ok(username.to_string())
}

pub fn validate_email(raw: &str) -> Result<String, AppError> {
    let email = raw.trim().to_lowercase();
    if email.len() > EMAIL_MAX || !email_address::EmailAddress::is_valid(&email) || !email.contains('.') {
        return Err(AppError::validation("email", "is not a valid email address"));
    }
    Ok(email)
}

pub fn validate_password(field: &str, raw: &str) -> Result<String, AppError> {
    let len = raw.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(AppError::validation(
            field,
            format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
        ));
    }
    Ok(raw.to_string())
}

/// Optional display names: trimmed, empty means none, bounded length.
pub fn validate_name(field: &str, raw: Option<String>) -> Result<Option<String>, AppError> {
    let Some(name) = raw.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(AppError::validation(field, format!("must be at most {NAME_MAX} printable characters")));
    }
    Ok(Some(name))
}

pub fn validate_phone(field: &str, raw: &str, region: country::Id) -> Result<E164, AppError> {
    E164::parse(raw, region).map_err(|e| AppError::validation(field, e.to_string()))
}

pub fn validate_optional_phone(
    field: &str,
    raw: Option<String>,
    region: country::Id,
) -> Result<Option<E164>, AppError> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => validate_phone(field, raw, region).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RegisterRequest {
        RegisterRequest {
            username: "Ada_L".into(),
            email: " Ada@Example.COM ".into(),
            password: "correct horse".into(),
            first_name: Some("  Ada ".into()),
            last_name: Some("".into()),
            phone_number: Some("+44 20 7946 0958".into()),
        }
    }

    #[test]
    fn registration_normalises_its_fields() {
        let user = request().validate(country::Id::US).unwrap();
        assert_eq!(user.username, "Ada_L");
        assert_eq!(user.email, "ada@example.com");
        assert_eq!(user.first_name.as_deref(), Some("Ada"));
        assert_eq!(user.last_name, None);
        assert_eq!(user.phone_number.unwrap().as_str(), "+442079460958");
    }

    #[test]
    fn registration_errors_name_the_field() {
        let field_of = |r: RegisterRequest| match r.validate(country::Id::US) {
            Err(AppError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(field_of(RegisterRequest { username: "a b".into(), ..request() }), "username");
        assert_eq!(field_of(RegisterRequest { username: "ab".into(), ..request() }), "username");
        assert_eq!(field_of(RegisterRequest { email: "nope".into(), ..request() }), "email");
        assert_eq!(field_of(RegisterRequest { email: "a@b".into(), ..request() }), "email");
        assert_eq!(field_of(RegisterRequest { password: "short".into(), ..request() }), "password");
        assert_eq!(field_of(RegisterRequest { phone_number: Some("12".into()), ..request() }), "phoneNumber");
        assert_eq!(field_of(RegisterRequest { first_name: Some("x".repeat(65)), ..request() }), "firstName");
    }

    #[test]
    fn display_name_prefers_real_names() {
        let user = User {
            id: UserId::new(),
            username: "ada".into(),
            email: "a@example.com".into(),
            password_hash: String::new(),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            phone_number: None,
            virtual_number: None,
            active: true,
            token_version: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert_eq!(user.display_name(), "Ada Lovelace");
        assert_eq!(User { first_name: None, last_name: None, ..user }.display_name(), "ada");
    }
}
