//! `twilio-status` function: Twilio's status callbacks for the SMS we send. Reached through its
//! Lambda function URL (locally at POST /api/webhooks/twilio/status?deliveryId=…).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use switchboard::api::{self, webhook, HttpResponse};
use switchboard::observe::{self, Metric};
use switchboard::service::status;
use switchboard::store::StatusOutcome;
use switchboard::{AppError, AppState};

pub async fn handle(state: AppState, req: Request) -> Response<Body> {
    api::serve(state, "twilio-status", req, route).await
}

async fn route(state: AppState, req: Request) -> Result<HttpResponse, AppError> {
    if req.method() != Method::POST {
        return Err(AppError::MethodNotAllowed { allowed: &["POST"] });
    }
    let params = webhook::verified_params(&state, &req)?;
    let delivery_id = api::query_param(&req, "deliveryId");
    let status_name =
        webhook::param(&params, "MessageStatus").or_else(|| webhook::param(&params, "SmsStatus"));
    observe::count(Metric::StatusCallbacks);
    observe::count(Metric::for_status(status_name.unwrap_or_default()));
    delivery_id.as_deref().into_iter().for_each(observe::delivery);
    webhook::param(&params, "MessageSid").into_iter().for_each(observe::message_sid);
    // Unknown deliveries are answered 200 too: Twilio has nothing to retry.
    let outcome = status::apply(&state, delivery_id.as_deref(), &params).await?;
    observe::outcome(match outcome {
        StatusOutcome::Applied => "applied",
        StatusOutcome::Stale => "stale",
        StatusOutcome::Unknown => "unknown_delivery",
    });
    if outcome == StatusOutcome::Unknown {
        observe::count(Metric::StatusUnknownDelivery);
    }
    Ok(webhook::twiml())
}
