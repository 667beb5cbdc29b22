//! `twilio-inbound` function: Twilio's webhook for an SMS to one of our numbers. Reached through
//! its Lambda function URL (locally at POST /api/webhooks/twilio/incoming). The routing itself is
//! `switchboard::service::inbound`.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use switchboard::api::{self, webhook, HttpResponse};
use switchboard::service::inbound::{self, InboundSms};
use switchboard::{AppError, AppState};

pub async fn handle(state: AppState, req: Request) -> Response<Body> {
    api::serve(state, "twilio-inbound", req, route).await
}

async fn route(state: AppState, req: Request) -> Result<HttpResponse, AppError> {
    if req.method() != Method::POST {
        return Err(AppError::MethodNotAllowed { allowed: &["POST"] });
    }
    // Nothing is read or stored before the signature is checked.
    let params = webhook::verified_params(&state, &req)?;
    match InboundSms::parse(&params, state.config.default_region)? {
        Some(sms) => {
            let outcome = inbound::receive(&state, &sms).await?;
            tracing::info!(message_sid = %sms.message_sid, from = %sms.from.masked(), to = %sms.to.masked(), outcome = ?outcome, "inbound sms");
        }
        None => tracing::warn!("inbound sms from or to a non-phone address ignored"),
    }
    Ok(webhook::twiml())
}
