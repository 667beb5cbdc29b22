//! The Twilio webhook edge: read the form body, check `X-Twilio-Signature`, parse the form into
//! the typed input its use case takes ([`inbound_sms`], [`status_callback`]), answer TwiML.
//! There is no way to skip the check: without an auth token or a public URL every webhook is
//! refused (403) and the reason is logged.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, RequestExt, Response};
use switchboard_core::domain::ids::DeliveryId;
use switchboard_core::domain::phone::E164;
use switchboard_core::observe::{self, Metric};
use switchboard_core::service::inbound::{InboundSms, MEDIA_MAX};
use switchboard_core::service::status::StatusCallback;
use switchboard_core::AppError;

use super::request::MAX_BODY_BYTES;
use super::HttpResponse;
use crate::app::AppState;
use crate::twilio::signature;

pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;
/// What a HELP answer looks like (the text is `HELP_REPLY`'s).
pub const HELP_TWIML_EXAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Switchboard: texts to this number reach the people you talk with here. Reply STOP to opt out, START to opt back in. Msg &amp; data rates may apply.</Message></Response>"#;

/// The form of Twilio's "A message comes in" webhook, as [`inbound_sms`] reads it (Twilio sends
/// more parameters; they are signed, and ignored).
#[derive(utoipa::ToSchema)]
#[schema(as = TwilioInboundForm)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase")]
pub struct InboundForm {
    /// The message's SID (`SM…` or `MM…`): a retried webhook with a SID already stored is
    /// stored once.
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    message_sid: String,
    #[schema(example = "AC0123456789abcdef0123456789abcdef")]
    account_sid: Option<String>,
    /// The phone that texted, E.164.
    #[schema(example = "+14155550177")]
    from: String,
    /// Our number it texted, E.164.
    #[schema(example = "+14155550100")]
    to: String,
    /// The text (may be empty when media are attached).
    #[schema(example = "Yes! See you there")]
    body: Option<String>,
    /// How many `MediaUrlN`/`MediaContentTypeN` pairs follow (N from 0; at most 10 are kept).
    #[schema(example = "0")]
    num_media: Option<String>,
    /// The first medium's URL; `MediaUrl1`… follow.
    media_url0: Option<String>,
    /// The first medium's type, e.g. `image/jpeg`; `MediaContentType1`… follow.
    media_content_type0: Option<String>,
}

/// The form of Twilio's status callbacks, as [`status_callback`] reads it.
#[derive(utoipa::ToSchema)]
#[schema(as = TwilioStatusForm)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase")]
pub struct StatusForm {
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    message_sid: Option<String>,
    /// `queued`, `sending`, `sent`, `delivered`, `undelivered`, `failed`, `read`; others
    /// (`partially_delivered`, `receiving`…) change nothing.
    #[schema(example = "delivered")]
    message_status: Option<String>,
    /// The older name of `MessageStatus`, read when it is absent.
    sms_status: Option<String>,
    /// Twilio's error code of an `undelivered` or `failed` message.
    #[schema(example = "30003")]
    error_code: Option<String>,
    error_message: Option<String>,
}

/// `X-Twilio-Signature`, on both webhooks.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct TwilioSignature {
    /// base64(HMAC-SHA1(auth token, the URL Twilio called + every POST parameter's name and
    /// value, sorted by name)). Missing or wrong: 403, nothing read or stored.
    #[param(rename = "X-Twilio-Signature", example = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")]
    signature: String,
}

/// `?deliveryId=` of the status callback URL every send names.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StatusQuery {
    /// The delivery the callback reports on; without it (or when it is no delivery id) the
    /// `MessageSid` finds the delivery.
    #[param(value_type = Option<DeliveryId>, rename = "deliveryId")]
    delivery_id: Option<String>,
}

/// 200 with an empty TwiML document: "received, nothing to say".
pub fn twiml() -> HttpResponse {
    Response::builder()
        .status(200)
        .header(CONTENT_TYPE, "text/xml")
        .body(Body::Text(EMPTY_TWIML.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// 200 with TwiML that answers the phone with `text` (Twilio sends it as an SMS).
pub fn twiml_message(text: &str) -> HttpResponse {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{}</Message></Response>"#,
        xml_escape(text)
    );
    Response::builder()
        .status(200)
        .header(CONTENT_TYPE, "text/xml")
        .body(Body::Text(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// Text as XML character data (and attribute values).
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The form parameters of a request that Twilio signed. 400 for a body that is not a form,
/// 403 for a missing or wrong signature.
pub fn verified_params(state: &AppState, req: &Request) -> Result<Vec<(String, String)>, AppError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(AppError::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let text =
        std::str::from_utf8(bytes).map_err(|_| AppError::bad_request(None, "the body is not UTF-8"))?;
    let form_like = text.is_empty() || text.split('&').all(|pair| pair.contains('='));
    if !content_type.starts_with("application/x-www-form-urlencoded") || !form_like {
        return Err(AppError::bad_request(None, "expected an application/x-www-form-urlencoded body"));
    }
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(text).map_err(|_| AppError::bad_request(None, "malformed form body"))?;

    let forbidden = || {
        observe::count(Metric::SignatureRejected);
        observe::outcome("signature_rejected");
        AppError::Forbidden("invalid Twilio signature".into())
    };
    let config = &state.config;
    let tokens: Vec<&str> = [&config.twilio_auth_token, &config.twilio_auth_token_previous]
        .into_iter()
        .flatten()
        .map(|s| s.expose())
        .collect();
    if tokens.is_empty() {
        tracing::error!("TWILIO_AUTH_TOKEN is not set: every webhook is refused");
        return Err(forbidden());
    }
    let Some(url) = public_url(state, req) else {
        tracing::error!("neither WEBHOOK_PUBLIC_URL nor PUBLIC_BASE_URL is set: every webhook is refused");
        return Err(forbidden());
    };
    let header = req.headers().get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if header.is_empty() || !signature::verify(&tokens, &url, &params, header) {
        tracing::warn!(missing = header.is_empty(), "webhook signature rejected");
        return Err(forbidden());
    }
    Ok(params)
}

/// The URL Twilio called: the configured public URL of this webhook (or the public base URL plus
/// the request's path), with the request's query string.
pub fn public_url(state: &AppState, req: &Request) -> Option<String> {
    let config = &state.config;
    let base = match &config.webhook_public_url {
        Some(url) => url.clone(),
        None if config.webhook_url_from_request => {
            let domain = match req.request_context_ref()? {
                lambda_http::request::RequestContext::ApiGatewayV2(context) => context.domain_name.clone()?,
                _ => return None,
            };
            format!("https://{domain}{}", req.uri().path())
        }
        None => format!("{}{}", config.public_base_url.as_ref()?.trim_end_matches('/'), req.uri().path()),
    };
    Some(match req.uri().query().filter(|q| !q.is_empty()) {
        Some(query) => format!("{base}?{query}"),
        None => base,
    })
}

/// The first value of a form parameter.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// An inbound SMS from Twilio's form. 400 when a parameter every inbound SMS carries is missing
/// or unreadable; `None` for a sender or recipient that is no phone (a short code, an
/// alphanumeric sender), which we can neither route nor answer.
pub fn inbound_sms(
    params: &[(String, String)],
    region: phonenumber::country::Id,
) -> Result<Option<InboundSms>, AppError> {
    let required = |name: &str| {
        param(params, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AppError::bad_request(Some(name.to_string()), format!("{name} is required")))
    };
    let message_sid = required("MessageSid")?;
    if message_sid.len() > 64 || !message_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(AppError::bad_request(Some("MessageSid".to_string()), "not a Twilio SID"));
    }
    let (from, to) = (required("From")?, required("To")?);
    let (Ok(from), Ok(to)) = (E164::parse(from, region), E164::parse(to, region)) else {
        return Ok(None);
    };
    let count: usize = param(params, "NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0).min(MEDIA_MAX);
    let media = (0..count)
        .filter_map(|i| {
            let url = param(params, &format!("MediaUrl{i}"))?.to_string();
            let kind = param(params, &format!("MediaContentType{i}")).unwrap_or("application/octet-stream");
            Some((url, kind.to_string()))
        })
        .collect();
    Ok(Some(InboundSms {
        message_sid: message_sid.to_string(),
        from,
        to,
        body: param(params, "Body").unwrap_or_default().to_string(),
        media,
    }))
}

/// A status callback from Twilio's form and the `deliveryId` of its URL (a `deliveryId` that is
/// no delivery id is as good as none: the MessageSid still finds the delivery).
pub fn status_callback(params: &[(String, String)], delivery_id: Option<&str>) -> StatusCallback {
    let text = |name: &str| param(params, name).filter(|v| !v.is_empty()).map(str::to_string);
    StatusCallback {
        delivery_id: delivery_id.and_then(|id| DeliveryId::parse(id).ok()),
        status_name: text("MessageStatus").or_else(|| text("SmsStatus")).unwrap_or_default(),
        message_sid: text("MessageSid"),
        error_code: param(params, "ErrorCode").and_then(|c| c.parse().ok()),
        error_message: text("ErrorMessage"),
    }
}
