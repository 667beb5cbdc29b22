//! `twilio-status` function: Twilio's status callbacks for the SMS we send. Reached through its
//! Lambda function URL (locally at POST /api/webhooks/twilio/status?deliveryId=…).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use switchboard::api::{self, webhook, HttpResponse};
use switchboard::service::status;
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
    // Unknown deliveries are answered 200 too: Twilio has nothing to retry.
    status::apply(&state, delivery_id.as_deref(), &params).await?;
    Ok(webhook::twiml())
}
