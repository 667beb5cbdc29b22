//! argon2id password hashing (PHC string format, parameters stored in the hash).
//!
//! Hashing is CPU-bound and slow by design. A Lambda serves one request at a time on a
//! current-thread runtime, so there it runs inline (no other request waits on this thread); on
//! a multi-threaded runtime (a local server, tests) it moves to the blocking pool.
//!
//! Every hash works in one process-wide block of argon2 memory (19 MiB with the default
//! parameters), allocated by the first hash and reused: letting argon2 allocate its own each time
//! left a fresh 19 MiB in the allocator after every login (`auth` peaked at 126–162 MiB).

use std::sync::Mutex;

use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::AppError;

/// A real hash of a random password, verified when the user does not exist, so that
/// "unknown user" and "wrong password" take the same time and cannot be told apart.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Q8JXv4h6d5hlCWFj7Wr0I5Lx2b1CdKFbFzXr5m3kT4o";

/// The argon2 working memory every hash reuses (grown to the largest parameters seen).
static MEMORY: Mutex<Vec<Block>> = Mutex::new(Vec::new());

pub async fn hash(password: String) -> Result<String, AppError> {
    off_the_runtime(move || {
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::default();
        let output =
            compute(password.as_bytes(), Algorithm::Argon2id, Version::V0x13, &params, salt.as_salt())?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(AppError::internal)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    })
    .await
}

/// The argon2 output of `password` with these parameters, in the shared memory block.
fn compute(
    password: &[u8],
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    salt: Salt<'_>,
) -> Result<Output, AppError> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(AppError::internal)?;
    let hasher = Argon2::new(algorithm, version, params.clone());
    let blocks = params.block_count();
    // A poisoned lock only means another hash panicked; the memory is overwritten anyway.
    let mut memory = MEMORY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(output_len, |out| {
        hasher
            .hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..blocks])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(AppError::internal)
}

/// True when `password` matches `hash`. A missing hash still costs one verification.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, AppError> {
    off_the_runtime(move || {
        let known = hash.is_some();
        let stored = hash.unwrap_or_else(|| DUMMY_HASH.to_string());
        let parsed = PasswordHash::new(&stored).map_err(AppError::internal)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(AppError::internal("stored password hash has no salt or output"));
        };
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(AppError::internal)?;
        let version =
            parsed.version.map_or(Ok(Version::default()), Version::try_from).map_err(AppError::internal)?;
        let params = Params::try_from(&parsed).map_err(AppError::internal)?;
        let computed = compute(password.as_bytes(), algorithm, version, &params, salt)?;
        // `Output`'s equality is constant-time.
        Ok(known && computed == expected)
    })
    .await
}

/// Runs CPU-bound `work` inline on a current-thread runtime, on the blocking pool otherwise.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => {
            tokio::task::spawn_blocking(work).await.map_err(AppError::internal)?
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong horse".into(), Some(h)).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_stay_compatible_with_the_argon2_crates_own_format() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // A hash stored before the shared memory block (argon2's own allocation) still verifies...
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(verify("correct horse".into(), Some(theirs.clone())).await.unwrap());
        assert!(!verify("wrong horse".into(), Some(theirs)).await.unwrap());
        // ...and ours verifies with argon2's own verifier, with the default parameters.
        let ours = hash("correct horse".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        let (stored, default) = (Params::try_from(&parsed).unwrap(), Params::default());
        assert_eq!((stored.m_cost(), stored.t_cost(), stored.p_cost()), (19456, 2, 1));
        assert_eq!((default.m_cost(), default.t_cost(), default.p_cost()), (19456, 2, 1));
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
    }

    #[tokio::test]
    async fn a_hash_with_other_parameters_verifies_in_the_same_memory() {
        use argon2::password_hash::PasswordHasher;
        // Smaller and larger than the defaults: the block grows, and a smaller hash uses a prefix.
        for (m, t) in [(8 * 1024, 1), (24 * 1024, 2)] {
            let params = Params::new(m, t, 1, None).unwrap();
            let salt = SaltString::generate(&mut OsRng);
            let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
            assert!(verify("pw".into(), Some(stored.clone())).await.unwrap());
            assert!(!verify("px".into(), Some(stored)).await.unwrap());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multi_threaded_runtime_hashes_on_the_blocking_pool_with_the_same_result() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(verify("correct horse".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong horse".into(), Some(h)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
