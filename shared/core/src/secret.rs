//! Secrets (the JWT secret, Twilio's auth token): their `Debug` output is redacted, so they never
//! reach a log line by accident.

/// A secret value; only [`Secret::expose`] reads it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_output_hides_the_value() {
        assert_eq!(format!("{:?}", super::Secret::new("hunter2")), "Secret(***)");
    }
}
