//! HS256 access and refresh tokens.
//!
//! Both carry the user id (`sub`), the user's token version (`ver`) and their kind (`typ`).
//! Every authenticated request reads the user and rejects the token if the user is inactive or
//! `ver` is stale, so deactivating a user ends their sessions at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::AppError;

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

/// Issues and verifies tokens. Built once per cold start from [`Config`].
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
    pub fn new(config: &Config) -> Self {
        let mut decoding = vec![DecodingKey::from_secret(config.jwt_secret.expose().as_bytes())];
        if let Some(previous) = &config.jwt_secret_previous {
            decoding.push(DecodingKey::from_secret(previous.expose().as_bytes()));
        }
        Self {
            encoding: EncodingKey::from_secret(config.jwt_secret.expose().as_bytes()),
            decoding,
            access_ttl: config.access_token_ttl,
            refresh_ttl: config.refresh_token_ttl,
        }
    }

    pub fn issue_pair(&self, user_id: &str, version: u32) -> Result<TokenPair, AppError> {
        Ok(TokenPair {
            token: self.issue(user_id, version, TokenKind::Access, self.access_ttl)?,
            refresh_token: self.issue(user_id, version, TokenKind::Refresh, self.refresh_ttl)?,
            expires_in: self.access_ttl.as_secs(),
        })
    }

    fn issue(&self, user_id: &str, version: u32, typ: TokenKind, ttl: Duration) -> Result<String, AppError> {
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
    use std::collections::HashMap;

    fn service(pairs: &[(&str, &str)]) -> TokenService {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TokenService::new(&Config::from_lookup(|k| map.get(k).cloned()).unwrap())
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn access_and_refresh_tokens_are_not_interchangeable() {
        let tokens = service(&[("JWT_SECRET", A)]);
        let pair = tokens.issue_pair("user-1", 3).unwrap();
        let claims = tokens.verify(&pair.token, TokenKind::Access).unwrap();
        assert_eq!((claims.sub.as_str(), claims.ver), ("user-1", 3));
        assert!(tokens.verify(&pair.token, TokenKind::Refresh).is_err());
        assert!(tokens.verify(&pair.refresh_token, TokenKind::Access).is_err());
        assert!(tokens.verify(&pair.refresh_token, TokenKind::Refresh).is_ok());
    }

    #[test]
    fn rejects_other_secrets_tampering_and_expiry() {
        let a = service(&[("JWT_SECRET", A)]);
        let b = service(&[("JWT_SECRET", B)]);
        let token = a.issue_pair("u", 0).unwrap().token;
        assert!(b.verify(&token, TokenKind::Access).is_err());
        let mut tampered = token.clone();
        tampered.pop();
        assert!(a.verify(&tampered, TokenKind::Access).is_err());
        assert!(a.verify("not.a.jwt", TokenKind::Access).is_err());

        let expired = a.issue("u", 0, TokenKind::Access, Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(a.verify(&expired, TokenKind::Access).is_err());
    }

    #[test]
    fn accepts_the_previous_secret_during_rotation() {
        let old = service(&[("JWT_SECRET", A)]);
        let rotated = service(&[("JWT_SECRET", B), ("JWT_SECRET_PREVIOUS", A)]);
        let token = old.issue_pair("u", 0).unwrap().token;
        assert!(rotated.verify(&token, TokenKind::Access).is_ok());
        let only_new = service(&[("JWT_SECRET", B)]);
        assert!(only_new.verify(&token, TokenKind::Access).is_err());
    }
}
