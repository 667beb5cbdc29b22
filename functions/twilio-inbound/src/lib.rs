//! `twilio-inbound` function: Twilio's webhook for an SMS to one of our numbers. Reached through
//! its Lambda function URL (locally at POST /api/webhooks/twilio/incoming). The routing itself is
//! `switchboard::service::inbound`.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use switchboard::api::{self, webhook, HttpResponse};
use switchboard::observe::{self, Metric};
use switchboard::service::inbound::{self, InboundSms, Outcome};
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
    observe::count(Metric::InboundReceived);
    if let Some(sid) = webhook::param(&params, "MessageSid") {
        observe::message_sid(sid);
    }
    match InboundSms::parse(&params, state.config.default_region)? {
        Some(sms) => {
            observe::phones(&sms.from, &sms.to);
            let outcome = inbound::receive(&state, &sms).await?;
            let (metric, name) = match outcome {
                Outcome::Routed { .. } => (Some(Metric::InboundRouted), "routed"),
                Outcome::Opened { .. } => (Some(Metric::InboundNewConversation), "new_conversation"),
                Outcome::Duplicate => (Some(Metric::InboundDuplicate), "duplicate"),
                Outcome::Unroutable => (Some(Metric::InboundUnroutable), "unroutable"),
                Outcome::OptChanged => (None, "opt_changed"),
            };
            metric.into_iter().for_each(observe::count);
            observe::outcome(name);
        }
        None => {
            observe::outcome("ignored");
            tracing::warn!("inbound sms from or to a non-phone address ignored");
        }
    }
    Ok(webhook::twiml())
}
