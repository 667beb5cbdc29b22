//! Twilio's request signature (`X-Twilio-Signature`):
//! base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value, sorted by name)).
//!
//! Behind a function URL or API Gateway the URL the function sees is not the one Twilio called,
//! so the URL is built from configuration, and tried with and without an explicit default port
//! (Twilio signs the URL as it was configured in its console).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

fn mac(token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = HmacSha1::new_from_slice(token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio would send for this request (used by tests and the local stand-in).
pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(token, url, params).finalize().into_bytes())
}

/// True when `header` is the signature of (url, params) under one of `tokens` for one of the
/// URL's spellings. Each comparison is constant-time.
pub fn verify(tokens: &[&str], url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(given) = STANDARD.decode(header.trim()) else {
        return false;
    };
    let urls = url_variants(url);
    tokens.iter().any(|token| urls.iter().any(|u| mac(token, u, params).verify_slice(&given).is_ok()))
}

/// The URL as given, with its default port added (or removed when it was explicit), and for a
/// bare host URL (`https://host/`), without its trailing slash: Twilio signs the URL exactly as
/// it was entered in its console, and a function URL is often pasted without the slash.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut variants = port_variants(url);
    for variant in variants.clone() {
        let (before_query, query) =
            variant.split_once('?').map_or((variant.as_str(), None), |(b, q)| (b, Some(q)));
        let bare_host =
            before_query.split_once("://").is_some_and(|(_, rest)| rest.find('/') == Some(rest.len() - 1));
        if bare_host {
            let trimmed = &before_query[..before_query.len() - 1];
            variants.push(match query {
                Some(q) => format!("{trimmed}?{q}"),
                None => trimmed.to_string(),
            });
        }
    }
    variants
}

fn port_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let other = match authority.rsplit_once(':') {
        Some((host, port)) if port == default_port => host.to_string(),
        Some(_) => return variants,
        None => format!("{authority}:{default_port}"),
    };
    variants.push(format!("{scheme}://{other}{tail}"));
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Twilio's documented example.
    #[test]
    fn twilios_documented_example_verifies() {
        let p = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", url, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify(&["12345"], url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    }

    #[test]
    fn anything_else_fails() {
        let p = params(&[("Body", "hi"), ("From", "+14155550100")]);
        let url = "https://example.com/api/webhooks/twilio/incoming";
        let good = sign("token", url, &p);
        assert!(verify(&["token"], url, &p, &good));
        assert!(!verify(&["other"], url, &p, &good), "another token");
        assert!(!verify(&["token"], "https://example.com/elsewhere", &p, &good), "another URL");
        assert!(
            !verify(&["token"], url, &params(&[("Body", "hi!"), ("From", "+14155550100")]), &good),
            "another body"
        );
        assert!(!verify(&["token"], url, &p, ""), "missing");
        assert!(!verify(&["token"], url, &p, "not base64!"), "garbage");
        assert!(verify(&["old", "token"], url, &p, &good), "either token during a rotation");
    }

    #[test]
    fn the_default_port_may_be_explicit_or_not() {
        let p = params(&[("A", "1")]);
        let with_port = sign("t", "https://example.com:443/hook?x=1", &p);
        assert!(verify(&["t"], "https://example.com/hook?x=1", &p, &with_port));
        let without = sign("t", "https://example.com/hook", &p);
        assert!(verify(&["t"], "https://example.com:443/hook", &p, &without));
        assert_eq!(url_variants("http://localhost:9000/x"), ["http://localhost:9000/x"]);
        // A function URL pasted without its trailing slash.
        let bare = sign("t", "https://abc.lambda-url.us-east-1.on.aws?deliveryId=1", &p);
        assert!(verify(&["t"], "https://abc.lambda-url.us-east-1.on.aws/?deliveryId=1", &p, &bare));
    }

    #[test]
    fn parameters_are_sorted_by_name_before_signing() {
        let a = sign("t", "https://e.com", &params(&[("b", "2"), ("a", "1")]));
        let b = sign("t", "https://e.com", &params(&[("a", "1"), ("b", "2")]));
        assert_eq!(a, b);
    }
}
