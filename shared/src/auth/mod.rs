//! Credentials: argon2id password hashes and HS256 JWTs.

pub mod password;
pub mod tokens;
