//! HS256 access and refresh tokens.
//!
//! Both carry the user id (`sub`), the user's token version (`ver`) and their kind (`typ`).
//! Every authenticated request reads the user and rejects the token if the user is inactive or
//! `ver` is stale, so deactivating a user ends their sessions at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::ids::UserId;
use crate::error::AppError;
use crate::secret::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub ver: u32,
    pub typ: TokenKind,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// The JWT settings (`JWT_SECRET`, `JWT_SECRET_PREVIOUS`, the two lifetimes).
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// Signs new tokens.
    pub secret: Secret,
    /// Still accepted when verifying, so the secret can be rotated without logging everyone out.
    pub previous: Option<Secret>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// Issues and verifies tokens. Built once per cold start from [`TokenSettings`].
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    /// The current secret first, then the previous one during a rotation.
    decoding: Vec<DecodingKey>,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    pub token: String,
    pub refresh_token: String,
    /// Seconds until `token` expires.
    pub expires_in: u64,
}

impl TokenService {
    pub fn new(settings: &TokenSettings) -> Self {
        let mut decoding = vec![DecodingKey::from_secret(settings.secret.expose().as_bytes())];
        if let Some(previous) = &settings.previous {
            decoding.push(DecodingKey::from_secret(previous.expose().as_bytes()));
        }
        Self {
            encoding: EncodingKey::from_secret(settings.secret.expose().as_bytes()),
            decoding,
            access_ttl: settings.access_ttl,
            refresh_ttl: settings.refresh_ttl,
        }
    }

    pub fn issue_pair(&self, user_id: UserId, version: u32) -> Result<TokenPair, AppError> {
        Ok(TokenPair {
            token: self.issue(user_id, version, TokenKind::Access, self.access_ttl)?,
            refresh_token: self.issue(user_id, version, TokenKind::Refresh, self.refresh_ttl)?,
            expires_in: self.access_ttl.as_secs(),
        })
    }

    fn issue(
        &self,
        user_id: UserId,
        version: u32,
        typ: TokenKind,
        ttl: Duration,
    ) -> Result<String, AppError> {
        let now = now_secs();
        let claims = Claims {
            sub: user_id.to_string(),
            ver: version,
            typ,
            iat: now,
            exp: now + ttl.as_secs(),
            jti: ulid::Ulid::new().to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(AppError::internal)
    }

    /// Checks signature, expiry (no leeway) and kind. Any failure is a 401 with the same message,
    /// so a caller learns nothing about why.
    pub fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, AppError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = self
            .decoding
            .iter()
            .find_map(|key| decode::<Claims>(token, key, &validation).ok())
            .map(|data| data.claims)
            .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?;
        if claims.typ != expected {
            return Err(AppError::Unauthorized("invalid or expired token".into()));
        }
        Ok(claims)
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(secret: &str, previous: Option<&str>) -> TokenService {
        TokenService::new(&TokenSettings {
            secret: Secret::new(secret),
            previous: previous.map(Secret::new),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
        })
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn access_and_refresh_tokens_are_not_interchangeable() {
        let tokens = service(A, None);
        let user = UserId::new();
        let pair = tokens.issue_pair(user, 3).unwrap();
        let claims = tokens.verify(&pair.token, TokenKind::Access).unwrap();
        assert_eq!((claims.sub.clone(), claims.ver), (user.to_string(), 3));
        assert!(tokens.verify(&pair.token, TokenKind::Refresh).is_err());
        assert!(tokens.verify(&pair.refresh_token, TokenKind::Access).is_err());
        assert!(tokens.verify(&pair.refresh_token, TokenKind::Refresh).is_ok());
    }

    #[test]
    fn rejects_other_secrets_tampering_and_expiry() {
        let a = service(A, None);
        let b = service(B, None);
        let token = a.issue_pair(UserId::new(), 0).unwrap().token;
        assert!(b.verify(&token, TokenKind::Access).is_err());
        let mut tampered = token.clone();
        tampered.pop();
        assert!(a.verify(&tampered, TokenKind::Access).is_err());
        assert!(a.verify("not.a.jwt", TokenKind::Access).is_err());

        let expired = a.issue(UserId::new(), 0, TokenKind::Access, Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(a.verify(&expired, TokenKind::Access).is_err());
    }

    #[test]
    fn accepts_the_previous_secret_during_rotation() {
        let old = service(A, None);
        let rotated = service(B, Some(A));
        let token = old.issue_pair(UserId::new(), 0).unwrap().token;
        assert!(rotated.verify(&token, TokenKind::Access).is_ok());
        let only_new = service(B, None);
        assert!(only_new.verify(&token, TokenKind::Access).is_err());
    }
}
