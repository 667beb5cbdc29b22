//! `twilio-inbound` function: Twilio's webhook for an SMS to one of our numbers. Reached through
//! its Lambda function URL (locally at POST /api/webhooks/twilio/incoming). The routing itself is
//! `switchboard::core::service::inbound`.

use switchboard::api::webhook::{self, InboundForm, TwilioSignature};
use switchboard::api::{Access, Call, Reply, Routes};
use switchboard::core::observe::{self, Metric};
use switchboard::core::service::inbound::{self, Outcome};
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new("twilio-inbound", [route!(Access::Public, incoming), route!(Access::Public, incoming_local)])
}

/// Twilio's "A message comes in" webhook, at the function URL Twilio is given (output
/// `TwilioInboundWebhookUrl`; locally `POST /api/webhooks/twilio/incoming`).
///
/// The signature is checked before anything is read; the text is stored once (a retry with a
/// `MessageSid` already stored changes nothing), routed by (To, From) and relayed to a group's other
/// phones. STOP/START and their synonyms opt the phone out of (back in to) that number. HELP or
/// INFO is answered with the configured text (`HELP_REPLY`) in TwiML, noted in the conversation
/// of the route (if any), never relayed.
#[utoipa::path(
    post,
    path = "/",
    tag = "webhooks",
    operation_id = "twilio_inbound",
    params(TwilioSignature),
    request_body(content = InboundForm, content_type = "application/x-www-form-urlencoded"),
    responses((
        status = 200,
        description = "Received (or ignored: no route and nobody holds `To`): an empty TwiML answer; \
            HELP or INFO: a TwiML `<Message>` with the answer for the phone.",
        content_type = "text/xml",
        body = String,
        examples(
            ("received" = (value = json!(webhook::EMPTY_TWIML))),
            ("help" = (value = json!(webhook::HELP_TWIML_EXAMPLE)))
        )
    )),
    extensions(("x-errors" = json!(["forbidden"])))
)]
async fn incoming(call: Call) -> Reply {
    receive(call).await
}

/// The same webhook at the path `make dev` serves it on.
#[utoipa::path(post, path = "/api/webhooks/twilio/incoming", tag = "webhooks")]
async fn incoming_local(call: Call) -> Reply {
    receive(call).await
}

/// Checks the signature (nothing is read or stored before), stores the text once, answers an
/// empty TwiML document (HELP: the answer as a TwiML message).
async fn receive(call: Call) -> Reply {
    let params = webhook::verified_params(&call.state, &call.req)?;
    observe::count(Metric::InboundReceived);
    if let Some(sid) = webhook::param(&params, "MessageSid") {
        observe::message_sid(sid);
    }
    match webhook::inbound_sms(&params, call.app().settings.default_region)? {
        Some(sms) => {
            observe::phones(&sms.from, &sms.to);
            let outcome = inbound::receive(call.app(), &sms).await?;
            let (metric, name) = match &outcome {
                Outcome::Routed { .. } => (Some(Metric::InboundRouted), "routed"),
                Outcome::Opened { .. } => (Some(Metric::InboundNewConversation), "new_conversation"),
                Outcome::Duplicate => (Some(Metric::InboundDuplicate), "duplicate"),
                Outcome::Unroutable => (Some(Metric::InboundUnroutable), "unroutable"),
                Outcome::OptChanged => (None, "opt_changed"),
                Outcome::Answered { .. } => (None, "help_answered"),
            };
            metric.into_iter().for_each(observe::count);
            observe::outcome(name);
            if let Outcome::Answered { reply, .. } = outcome {
                return Ok(webhook::twiml_message(&reply));
            }
        }
        None => {
            observe::outcome("ignored");
            tracing::warn!("inbound sms from or to a non-phone address ignored");
        }
    }
    Ok(webhook::twiml())
}
