//! Configuration, read once per cold start from the environment and validated there: a function
//! with a bad setting fails its cold start with a message naming the setting.

use std::time::Duration;

use phonenumber::country;
use switchboard_core::auth::{Roles, TokenSettings};
use switchboard_core::domain::conversation::parse_idle_duration;
use switchboard_core::service::DeliverySettings;
use switchboard_core::{Secret, Settings};

/// Every setting the functions read. See the README's configuration table. The Twilio client's
/// own settings are checked by `twilio::TwilioSettings::from_config`, in the functions that send.
#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    /// Signs new tokens. Never logged (see the manual `Debug` of [`Secret`]).
    pub jwt_secret: Secret,
    /// Still accepted when verifying, so the secret can be rotated without logging everyone out.
    pub jwt_secret_previous: Option<Secret>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// Lower-cased emails of the users who get the admin role.
    pub admin_emails: Vec<String>,
    /// Region used to read phone numbers written without a leading `+`.
    pub default_region: country::Id,
    pub max_group_size: usize,
    /// CloudWatch namespace of the metrics (`METRICS_NAMESPACE`, default `Switchboard`).
    pub metrics_namespace: String,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<Secret>,
    /// Still accepted on webhook signatures while the auth token is rotated.
    pub twilio_auth_token_previous: Option<Secret>,
    /// The full public URL of this webhook function (a function URL), when it differs from
    /// PUBLIC_BASE_URL + the request path.
    pub webhook_public_url: Option<String>,
    /// Behind a Lambda function URL: take the host from the invocation's request context, which
    /// AWS sets to the function URL's domain (the function cannot be told its own URL by the
    /// template without a dependency cycle).
    pub webhook_url_from_request: bool,
    pub twilio_messaging_service_sid: Option<String>,
    pub twilio_api_base_url: Option<String>,
    /// An API key pair, used instead of the account SID and auth token when set.
    pub twilio_api_key_sid: Option<String>,
    pub twilio_api_key_secret: Option<Secret>,
    pub public_base_url: Option<String>,
    /// Full URL Twilio posts delivery statuses to; defaults to PUBLIC_BASE_URL +
    /// /api/webhooks/twilio/status.
    pub status_callback_url: Option<String>,
    /// Full URL of the inbound webhook, where imported numbers' SmsUrl points; defaults to
    /// PUBLIC_BASE_URL + /api/webhooks/twilio/incoming.
    pub inbound_webhook_url: Option<String>,
    /// The delivery pipeline's queue and its dead-letter queue (SQS queue URLs).
    pub delivery_queue_url: Option<String>,
    pub delivery_dead_letter_queue_url: Option<String>,
    /// `MEDIA_BUCKET`: the private bucket of message media (S3 bucket naming rules checked here).
    pub media_bucket: Option<String>,
    /// How the pipeline retries (`DELIVERY_*`).
    pub delivery: DeliverySettings,
    pub twilio_timeout: Duration,
    /// The WebSocket API stage's management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`);
    /// unset, no real-time events are published.
    pub websocket_api_endpoint: Option<String>,
    /// The answer to HELP / INFO (`HELP_REPLY`; by default built from `OPERATOR_NAME`, which
    /// defaults to `Switchboard`): who operates the number and how to opt out.
    pub help_reply: String,
    /// `IDLE_CLOSE_AFTER`: an ISO-8601 duration (`P30D`) or whole seconds, 10 minutes to 365
    /// days; unset, empty or `off`: conversations close only when their admins close them (or
    /// set their own timer).
    pub idle_close_after: Option<u32>,
    /// `DELETE_TWILIO_MEDIA=true`: delete Twilio's copy of an inbound MMS's media once ours is
    /// stored (off by default).
    pub delete_twilio_media: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// S3's bucket naming rules (3 to 63 lower-case letters, digits, dots and hyphens, starting
/// and ending with a letter or digit), so a typo fails the cold start, not the first upload.
fn validate_bucket_name(name: String) -> Result<String, ConfigError> {
    let valid_chars =
        name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let valid_ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if (3..=63).contains(&name.len()) && valid_chars && valid_ends {
        Ok(name)
    } else {
        Err(ConfigError::Invalid {
            name: "MEDIA_BUCKET",
            reason: format!("{name:?} is not an S3 bucket name"),
        })
    }
}

/// Largest group: creating one is a single transaction of the conversation, its participants and
/// one route per phone (1 + 50 + 49 = 100 items, DynamoDB's transaction limit).
pub const MAX_GROUP_SIZE_LIMIT: u64 = 50;

/// Shortest JWT secret accepted: HS256 keys shorter than the hash output weaken it.
const MIN_JWT_SECRET_LEN: usize = 32;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can configure without touching the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());

        let jwt_secret = get("JWT_SECRET").ok_or(ConfigError::Missing("JWT_SECRET"))?;
        if jwt_secret.len() < MIN_JWT_SECRET_LEN {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                reason: format!("must be at least {MIN_JWT_SECRET_LEN} characters"),
            });
        }
        let default_region = match get("DEFAULT_REGION") {
            None => country::Id::US,
            Some(code) => code.to_uppercase().parse().map_err(|_| ConfigError::Invalid {
                name: "DEFAULT_REGION",
                reason: format!("{code:?} is not an ISO 3166 region code"),
            })?,
        };
        Ok(Self {
            table_name: get("TABLE_NAME").unwrap_or_else(|| "switchboard".into()),
            jwt_secret: Secret::new(jwt_secret),
            jwt_secret_previous: get("JWT_SECRET_PREVIOUS").map(Secret::new),
            access_token_ttl: Duration::from_secs(parse_num(&get, "ACCESS_TOKEN_TTL_SECONDS", 900)?),
            refresh_token_ttl: Duration::from_secs(parse_num(
                &get,
                "REFRESH_TOKEN_TTL_SECONDS",
                30 * 24 * 3600,
            )?),
            admin_emails: get("ADMIN_EMAILS")
                .map(|list| {
                    list.split(',').map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()).collect()
                })
                .unwrap_or_default(),
            default_region,
            max_group_size: match parse_num(&get, "MAX_GROUP_SIZE", MAX_GROUP_SIZE_LIMIT)? {
                n if (2..=MAX_GROUP_SIZE_LIMIT).contains(&n) => n as usize,
                n => {
                    return Err(ConfigError::Invalid {
                        name: "MAX_GROUP_SIZE",
                        reason: format!("{n} is outside 2..={MAX_GROUP_SIZE_LIMIT}"),
                    })
                }
            },
            metrics_namespace: get("METRICS_NAMESPACE").unwrap_or_else(|| "Switchboard".into()),
            twilio_account_sid: get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token: get("TWILIO_AUTH_TOKEN").map(Secret::new),
            twilio_auth_token_previous: get("TWILIO_AUTH_TOKEN_PREVIOUS").map(Secret::new),
            webhook_public_url: get("WEBHOOK_PUBLIC_URL"),
            webhook_url_from_request: get("WEBHOOK_URL_FROM_REQUEST").is_some_and(|v| v == "true"),
            twilio_messaging_service_sid: get("TWILIO_MESSAGING_SERVICE_SID"),
            twilio_api_base_url: get("TWILIO_API_BASE_URL"),
            twilio_api_key_sid: get("TWILIO_API_KEY_SID"),
            twilio_api_key_secret: get("TWILIO_API_KEY_SECRET").map(Secret::new),
            status_callback_url: get("STATUS_CALLBACK_URL").or_else(|| {
                get("PUBLIC_BASE_URL")
                    .map(|base| format!("{}/api/webhooks/twilio/status", base.trim_end_matches('/')))
            }),
            inbound_webhook_url: get("INBOUND_WEBHOOK_URL").or_else(|| {
                get("PUBLIC_BASE_URL")
                    .map(|base| format!("{}/api/webhooks/twilio/incoming", base.trim_end_matches('/')))
            }),
            public_base_url: get("PUBLIC_BASE_URL"),
            delivery_queue_url: get("DELIVERY_QUEUE_URL"),
            delivery_dead_letter_queue_url: get("DELIVERY_DEAD_LETTER_QUEUE_URL"),
            media_bucket: get("MEDIA_BUCKET").map(validate_bucket_name).transpose()?,
            delivery: delivery_settings(&get)?,
            twilio_timeout: Duration::from_millis(parse_num(&get, "TWILIO_TIMEOUT_MS", 8000)?),
            websocket_api_endpoint: get("WEBSOCKET_API_ENDPOINT"),
            help_reply: help_reply(&get)?,
            delete_twilio_media: get("DELETE_TWILIO_MEDIA").is_some_and(|v| v == "true"),
            idle_close_after: match get("IDLE_CLOSE_AFTER") {
                None => None,
                Some(off) if off.eq_ignore_ascii_case("off") => None,
                Some(raw) => Some(
                    parse_idle_duration(&raw)
                        .map_err(|reason| ConfigError::Invalid { name: "IDLE_CLOSE_AFTER", reason })?,
                ),
            },
        })
    }

    /// What the use cases read.
    pub fn settings(&self) -> Settings {
        Settings {
            default_region: self.default_region,
            max_group_size: self.max_group_size,
            roles: Roles::new(self.admin_emails.iter().cloned()),
            status_callback_url: self.status_callback_url.clone(),
            inbound_webhook_url: self.inbound_webhook_url.clone(),
            delivery: self.delivery.clone(),
            help_reply: self.help_reply.clone(),
            idle_close_after: self.idle_close_after,
            delete_twilio_media: self.delete_twilio_media,
        }
    }

    pub fn token_settings(&self) -> TokenSettings {
        TokenSettings {
            secret: self.jwt_secret.clone(),
            previous: self.jwt_secret_previous.clone(),
            access_ttl: self.access_token_ttl,
            refresh_ttl: self.refresh_token_ttl,
        }
    }

    pub fn is_admin_email(&self, email: &str) -> bool {
        let email = email.to_lowercase();
        self.admin_emails.contains(&email)
    }
}

/// `DELIVERY_MAX_ATTEMPTS` (1 to 20), `DELIVERY_RETRY_BASE_SECONDS` and
/// `DELIVERY_RETRY_MAX_SECONDS` (0 retries at once, as the tests do), `DELIVERY_LEASE_SECONDS`,
/// `DELIVERY_SWEEP_GRACE_SECONDS` (0 sweeps whatever is due).
fn delivery_settings(get: &impl Fn(&str) -> Option<String>) -> Result<DeliverySettings, ConfigError> {
    let defaults = DeliverySettings::default();
    let seconds =
        |name: &'static str, default: std::time::Duration| -> Result<std::time::Duration, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => raw.parse::<u64>().map(std::time::Duration::from_secs).map_err(|_| {
                    ConfigError::Invalid { name, reason: format!("{raw:?} is not a whole number of seconds") }
                }),
            }
        };
    let max_attempts = match parse_num(get, "DELIVERY_MAX_ATTEMPTS", u64::from(defaults.max_attempts))? {
        n @ 1..=20 => n as u32,
        n => {
            return Err(ConfigError::Invalid {
                name: "DELIVERY_MAX_ATTEMPTS",
                reason: format!("{n} is outside 1..=20"),
            })
        }
    };
    let settings = DeliverySettings {
        max_attempts,
        retry_base: seconds("DELIVERY_RETRY_BASE_SECONDS", defaults.retry_base)?,
        retry_max: seconds("DELIVERY_RETRY_MAX_SECONDS", defaults.retry_max)?,
        lease: seconds("DELIVERY_LEASE_SECONDS", defaults.lease)?,
        sweep_grace: seconds("DELIVERY_SWEEP_GRACE_SECONDS", defaults.sweep_grace)?,
    };
    if settings.retry_max < settings.retry_base || settings.retry_max.as_secs() > 900 {
        return Err(ConfigError::Invalid {
            name: "DELIVERY_RETRY_MAX_SECONDS",
            reason: "must be at least DELIVERY_RETRY_BASE_SECONDS and at most 900 (SQS's longest delay)"
                .into(),
        });
    }
    if settings.lease.is_zero() {
        return Err(ConfigError::Invalid {
            name: "DELIVERY_LEASE_SECONDS",
            reason: "must be positive".into(),
        });
    }
    Ok(settings)
}

/// Longest `OPERATOR_NAME`: it opens every HELP answer, which should fit one SMS.
const OPERATOR_NAME_MAX_CHARS: usize = 40;

/// `HELP_REPLY` (at most one message's 1,600 characters, and it must name STOP: carriers require
/// a HELP answer to say how to opt out), else the default answer naming `OPERATOR_NAME`.
fn help_reply(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let operator = get("OPERATOR_NAME").unwrap_or_else(|| "Switchboard".into());
    if operator.chars().count() > OPERATOR_NAME_MAX_CHARS || operator.chars().any(char::is_control) {
        return Err(ConfigError::Invalid {
            name: "OPERATOR_NAME",
            reason: format!("must be at most {OPERATOR_NAME_MAX_CHARS} characters on one line"),
        });
    }
    let Some(reply) = get("HELP_REPLY") else {
        return Ok(switchboard_core::service::inbound::default_help_reply(&operator));
    };
    let max = switchboard_core::domain::message::BODY_MAX_CHARS;
    if reply.chars().count() > max {
        return Err(ConfigError::Invalid {
            name: "HELP_REPLY",
            reason: format!("must be at most {max} characters"),
        });
    }
    if !reply.to_uppercase().contains("STOP") {
        return Err(ConfigError::Invalid {
            name: "HELP_REPLY",
            reason: "must say how to opt out (name STOP)".into(),
        });
    }
    Ok(reply)
}

fn parse_num(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(raw) => raw.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not a positive integer"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn requires_a_long_enough_jwt_secret() {
        assert!(matches!(config(&[]), Err(ConfigError::Missing("JWT_SECRET"))));
        assert!(matches!(config(&[("JWT_SECRET", "short")]), Err(ConfigError::Invalid { .. })));
        assert!(config(&[("JWT_SECRET", SECRET)]).is_ok());
    }

    #[test]
    fn reads_admins_region_and_defaults() {
        let c = config(&[
            ("JWT_SECRET", SECRET),
            ("ADMIN_EMAILS", " Ops@Example.com, ,root@example.com"),
            ("DEFAULT_REGION", "gb"),
        ])
        .unwrap();
        assert!(c.is_admin_email("ops@example.COM"));
        assert!(!c.is_admin_email("someone@example.com"));
        assert_eq!(c.default_region, country::Id::GB);
        assert_eq!(c.table_name, "switchboard");
        assert_eq!(c.max_group_size, 50);
        assert!(config(&[("JWT_SECRET", SECRET), ("DEFAULT_REGION", "XX")]).is_err());
        assert!(config(&[("JWT_SECRET", SECRET), ("MAX_GROUP_SIZE", "0")]).is_err());
        assert!(config(&[("JWT_SECRET", SECRET), ("MAX_GROUP_SIZE", "51")]).is_err());
    }

    #[test]
    fn the_media_bucket_must_be_an_s3_bucket_name() {
        let c = config(&[("JWT_SECRET", SECRET), ("MEDIA_BUCKET", "switchboard-media-1")]).unwrap();
        assert_eq!(c.media_bucket.as_deref(), Some("switchboard-media-1"));
        for bad in ["Media", "ab", "-media", "media_bucket"] {
            let err = config(&[("JWT_SECRET", SECRET), ("MEDIA_BUCKET", bad)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { name: "MEDIA_BUCKET", .. }), "{bad}");
        }
    }

    #[test]
    fn the_help_reply_names_the_operator_and_stop_and_is_validated() {
        let c = config(&[("JWT_SECRET", SECRET)]).unwrap();
        assert!(c.help_reply.starts_with("Switchboard:") && c.help_reply.contains("Reply STOP"));
        let c = config(&[("JWT_SECRET", SECRET), ("OPERATOR_NAME", "Acme Dental")]).unwrap();
        assert!(c.help_reply.starts_with("Acme Dental:"));
        let own = "Acme: reply STOP to opt out.";
        assert_eq!(config(&[("JWT_SECRET", SECRET), ("HELP_REPLY", own)]).unwrap().help_reply, own);
        let invalid = |pairs: &[(&str, &str)]| matches!(config(pairs), Err(ConfigError::Invalid { name, .. }) if name == pairs[1].0);
        assert!(invalid(&[("JWT_SECRET", SECRET), ("HELP_REPLY", "Acme, call us")]), "no STOP");
        assert!(invalid(&[("JWT_SECRET", SECRET), ("HELP_REPLY", &format!("STOP {}", "x".repeat(1600)))]));
        assert!(invalid(&[("JWT_SECRET", SECRET), ("OPERATOR_NAME", &"x".repeat(41))]));
    }

    #[test]
    fn the_idle_timer_is_off_unless_set_and_bounded() {
        assert_eq!(config(&[("JWT_SECRET", SECRET)]).unwrap().idle_close_after, None);
        assert_eq!(
            config(&[("JWT_SECRET", SECRET), ("IDLE_CLOSE_AFTER", "off")]).unwrap().idle_close_after,
            None
        );
        let days = config(&[("JWT_SECRET", SECRET), ("IDLE_CLOSE_AFTER", "P30D")]).unwrap();
        assert_eq!(days.settings().idle_close_after, Some(30 * 86_400));
        let seconds = config(&[("JWT_SECRET", SECRET), ("IDLE_CLOSE_AFTER", "3600")]).unwrap();
        assert_eq!(seconds.idle_close_after, Some(3600));
        for bad in ["PT1M", "P2Y", "soon"] {
            assert!(
                matches!(
                    config(&[("JWT_SECRET", SECRET), ("IDLE_CLOSE_AFTER", bad)]),
                    Err(ConfigError::Invalid { name: "IDLE_CLOSE_AFTER", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let c = config(&[("JWT_SECRET", SECRET), ("TWILIO_AUTH_TOKEN", "tok-very-secret")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains("tok-very-secret"));
    }
}
