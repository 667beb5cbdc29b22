//! Credentials: argon2id password hashes, HS256 JWTs, and the session a token names.

pub mod password;
pub mod session;
pub mod tokens;

pub use session::{AuthUser, Roles};
pub use tokens::{TokenKind, TokenService, TokenSettings};
