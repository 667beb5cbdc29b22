//! `twilio-status` function: Twilio's status callbacks for the SMS we send. Reached through its
//! Lambda function URL (locally at POST /api/webhooks/twilio/status?deliveryId=…).

use switchboard::api::webhook::{self, StatusForm, StatusQuery, TwilioSignature};
use switchboard::api::{Access, Call, Reply, Routes};
use switchboard::core::observe::{self, Metric};
use switchboard::core::ports::webhooks::StatusOutcome;
use switchboard::core::service::status;
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new("twilio-status", [route!(Access::Public, callback), route!(Access::Public, callback_local)])
}

/// Twilio's status callback, at the function URL every send names as `StatusCallback`
/// (output `TwilioStatusCallbackUrl`; locally `POST /api/webhooks/twilio/status`).
///
/// The signature is checked first. The status is applied only if it moves the delivery forward, so
/// callbacks in any order end at the most advanced status; an unknown delivery or status changes
/// nothing and is answered 200 too (Twilio has nothing to retry).
#[utoipa::path(
    post,
    path = "/",
    tag = "webhooks",
    operation_id = "twilio_status",
    params(TwilioSignature, StatusQuery),
    request_body(content = StatusForm, content_type = "application/x-www-form-urlencoded"),
    responses((
        status = 200,
        description = "Applied, stale or unknown: an empty TwiML answer.",
        content_type = "text/xml",
        body = String,
        example = json!(webhook::EMPTY_TWIML)
    )),
    extensions(("x-errors" = json!(["forbidden"])))
)]
async fn callback(call: Call) -> Reply {
    apply(call).await
}

/// The same callback at the path `make dev` serves it on.
#[utoipa::path(post, path = "/api/webhooks/twilio/status", tag = "webhooks")]
async fn callback_local(call: Call) -> Reply {
    apply(call).await
}

/// Checks the signature, applies the status if it moves the delivery forward. Unknown deliveries
/// are answered 200 too: Twilio has nothing to retry.
async fn apply(call: Call) -> Reply {
    let params = webhook::verified_params(&call.state, &call.req)?;
    let callback = webhook::status_callback(&params, call.query("deliveryId").as_deref());
    observe::count(Metric::StatusCallbacks);
    observe::count(Metric::for_status(&callback.status_name));
    callback.delivery_id.iter().for_each(observe::delivery);
    callback.message_sid.as_deref().into_iter().for_each(observe::message_sid);
    let outcome = status::apply(call.app(), &callback).await?;
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
