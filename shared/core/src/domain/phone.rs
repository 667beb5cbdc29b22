//! Phone numbers, always normalised to E.164 with libphonenumber's rules.

use std::fmt;

use phonenumber::{country, Mode};
use serde::{Deserialize, Serialize};

/// A valid phone number in E.164 form (`+442079460958`). The only way to build one is
/// [`E164::parse`] (or reading back what we stored), so every number in the system is normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct E164(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("is not a phone number")]
    Unparseable,
    #[error("is not a valid phone number for its region")]
    Invalid,
}

impl E164 {
    /// Parses what a person typed. A number with a leading `+` keeps its own country
    /// ("+44 20 7946 0958" stays British); one without is read in `default_region`.
    pub fn parse(input: &str, default_region: country::Id) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > 32 {
            return Err(PhoneError::Unparseable);
        }
        let number =
            phonenumber::parse(Some(default_region), trimmed).map_err(|_| PhoneError::Unparseable)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    /// Trusts a value we normalised and stored earlier.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: only the last four digits (`***0958`).
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for E164 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\+[1-9][0-9]{1,14}$"))
            .description(Some("A phone number in E.164 form."))
            .examples(["+14155550100"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for E164 {}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Masks any phone-like string to its last four characters, for logs.
pub fn mask(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_numbers_keep_their_country() {
        // The old app turned '+44…' into '+144…'.
        let uk = E164::parse("+44 20 7946 0958", country::Id::US).unwrap();
        assert_eq!(uk.as_str(), "+442079460958");
        let fr = E164::parse("+33 6 12 34 56 78", country::Id::US).unwrap();
        assert_eq!(fr.as_str(), "+33612345678");
    }

    #[test]
    fn national_numbers_use_the_default_region() {
        assert_eq!(E164::parse("(415) 555-2671", country::Id::US).unwrap().as_str(), "+14155552671");
        assert_eq!(E164::parse("020 7946 0958", country::Id::GB).unwrap().as_str(), "+442079460958");
    }

    #[test]
    fn rejects_garbage_and_impossible_numbers() {
        assert_eq!(E164::parse("", country::Id::US), Err(PhoneError::Unparseable));
        assert_eq!(E164::parse("not a number", country::Id::US), Err(PhoneError::Unparseable));
        assert!(E164::parse("+1 123", country::Id::US).is_err());
        assert!(E164::parse("+999 1234567", country::Id::US).is_err());
        assert!(E164::parse(&"9".repeat(40), country::Id::US).is_err());
    }

    #[test]
    fn masking_keeps_only_the_last_four_digits() {
        let n = E164::parse("+14155552671", country::Id::US).unwrap();
        assert_eq!(n.masked(), "***2671");
        assert_eq!(mask("12"), "***12");
    }
}
