//! Importing the Twilio account's numbers into the pool, each pointed at our inbound webhook
//! (`SmsUrl`, POST) and status callback: no URLs pasted into Twilio's console.
//!
//! Idempotent: a number already in the pool is not added again, and Twilio is updated only for a
//! number not yet pointed at us. A number pointed at someone else's URL is left alone (and not
//! added) unless the request says `takeOver`.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::App;
use crate::error::AppError;
use crate::ports::provider::{ProviderNumber, Wiring};
use crate::ports::sms::SendError;
use crate::ports::StoreError;

/// Numbers per page of the account's list (Twilio's default is 50, its maximum 1000).
pub const PROVIDER_PAGE_SIZE: u32 = 50;
/// Numbers one import may name (each costs up to two Twilio calls and one DynamoDB write).
pub const MAX_IMPORT: usize = 20;
/// The URL Twilio gives a newly bought number: counts as "not pointed anywhere".
const TWILIO_DEMO_URL: &str = "https://demo.twilio.com/welcome/sms/reply";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderNumberView {
    pub phone_number: String,
    /// Twilio's SID of the number (`PN…`).
    pub sid: String,
    pub sms_url: Option<String>,
    pub status_callback: Option<String>,
    pub in_pool: bool,
    pub wiring: WiringState,
}

/// Where a number's inbound SMS go, seen from us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WiringState {
    /// SmsUrl (POST) and StatusCallback are ours.
    Wired,
    /// No SmsUrl, Twilio's demo URL, or ours with a stale method or status callback.
    NotWired,
    /// Someone else's URL: import leaves it alone unless told to take it over.
    PointedElsewhere,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderNumberPage {
    pub numbers: Vec<ProviderNumberView>,
    /// Pass as `pageToken` for the next page; absent on the last.
    pub next_page_token: Option<String>,
    /// Where imported numbers are pointed (None: the deployment has no inbound webhook URL).
    pub inbound_webhook_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberImportRequest {
    /// The numbers to import (1 to 20), in any notation.
    pub phone_numbers: Vec<String>,
    /// Point numbers at us even when their SmsUrl is someone else's.
    #[serde(default)]
    pub take_over: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PoolOutcome {
    Imported,
    AlreadyInPool,
    /// Pointed elsewhere and not taken over: left out of the pool.
    NotImported,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WiringOutcome {
    /// Twilio was updated: SmsUrl (POST) and StatusCallback now point at us.
    Wired,
    AlreadyWired,
    /// Someone else's SmsUrl, left unchanged (ask with `takeOver` to change it).
    PointedElsewhere,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberImportResult {
    /// E.164.
    pub phone_number: String,
    pub pool: PoolOutcome,
    pub wiring: WiringOutcome,
    /// The SmsUrl the number had before (shown for a number pointed elsewhere).
    pub previous_sms_url: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberImportReport {
    pub results: Vec<NumberImportResult>,
}

/// One page of the account's numbers, each with whether it is in the pool (one batch of pool
/// reads per page) and where it points.
pub async fn list(app: &App, page_token: Option<&str>) -> Result<ProviderNumberPage, AppError> {
    let page = app.provider.list_numbers(page_token, PROVIDER_PAGE_SIZE).await.map_err(|e| match e {
        SendError::Rejected { code: Some(20404), .. } if page_token.is_some() => {
            AppError::bad_request(Some("pageToken".to_string()), "pageToken is not a page of this list")
        }
        other => upstream(other),
    })?;
    let target = target(app);
    let parsed: Vec<_> =
        page.numbers.iter().filter_map(|n| app.parse_phone("phoneNumber", &n.phone_number).ok()).collect();
    let pooled = app.numbers.numbers_in_pool(&parsed).await?;
    let numbers = page
        .numbers
        .into_iter()
        .map(|number| ProviderNumberView {
            in_pool: pooled.iter().any(|p| p.as_str() == number.phone_number),
            wiring: target.as_ref().map_or(WiringState::NotWired, |t| wiring_state(&number, t)),
            phone_number: number.phone_number,
            sid: number.sid,
            sms_url: number.sms_url,
            status_callback: number.status_callback,
        })
        .collect();
    Ok(ProviderNumberPage {
        numbers,
        next_page_token: page.next_page,
        inbound_webhook_url: app.settings.inbound_webhook_url.clone(),
    })
}

/// Imports each number: looks it up in the account (one Twilio call), points it at us when it is
/// not yet (one update, only then), then adds it to the pool (one conditional put). Stops at the
/// first Twilio or store failure; the numbers before it are done, and a retry finds them so.
pub async fn import(app: &App, request: NumberImportRequest) -> Result<NumberImportReport, AppError> {
    if request.phone_numbers.is_empty() || request.phone_numbers.len() > MAX_IMPORT {
        return Err(AppError::validation("phoneNumbers", format!("name 1 to {MAX_IMPORT} numbers")));
    }
    let target = target(app).ok_or_else(|| {
        AppError::conflict(
            "webhook_url_unknown",
            "the deployment has no inbound webhook URL (INBOUND_WEBHOOK_URL or PUBLIC_BASE_URL)",
        )
    })?;
    let mut wanted = Vec::new();
    for raw in &request.phone_numbers {
        let number = app.parse_phone("phoneNumbers", raw)?;
        if !wanted.contains(&number) {
            wanted.push(number);
        }
    }
    let mut results = Vec::with_capacity(wanted.len());
    for number in wanted {
        let Some(found) = app.provider.find_number(number.as_str()).await.map_err(upstream)? else {
            return Err(AppError::validation(
                "phoneNumbers",
                format!("{} is not a number of the Twilio account", number.as_str()),
            ));
        };
        let wiring = match wiring_state(&found, &target) {
            WiringState::Wired => WiringOutcome::AlreadyWired,
            WiringState::PointedElsewhere if !request.take_over => WiringOutcome::PointedElsewhere,
            WiringState::NotWired | WiringState::PointedElsewhere => {
                app.provider.wire_number(&found.sid, &target).await.map_err(upstream)?;
                tracing::info!(number = %number.masked(), "number pointed at the inbound webhook");
                WiringOutcome::Wired
            }
        };
        let pool = if wiring == WiringOutcome::PointedElsewhere {
            PoolOutcome::NotImported
        } else {
            match app.numbers.add_number(&number, Utc::now()).await {
                Ok(_) => PoolOutcome::Imported,
                Err(StoreError::NumberInPool) => PoolOutcome::AlreadyInPool,
                Err(e) => return Err(e.into()),
            }
        };
        results.push(NumberImportResult {
            phone_number: number.as_str().to_string(),
            pool,
            wiring,
            previous_sms_url: found.sms_url,
        });
    }
    Ok(NumberImportReport { results })
}

/// Where this deployment wants its numbers pointed.
fn target(app: &App) -> Option<Wiring> {
    Some(Wiring {
        sms_url: app.settings.inbound_webhook_url.clone()?,
        status_callback: app.settings.status_callback_url.clone(),
    })
}

fn wiring_state(number: &ProviderNumber, target: &Wiring) -> WiringState {
    let sms_url = number.sms_url.as_deref().unwrap_or("").trim();
    if sms_url.is_empty() || sms_url == TWILIO_DEMO_URL {
        return WiringState::NotWired;
    }
    if sms_url != target.sms_url {
        return WiringState::PointedElsewhere;
    }
    let post = number.sms_method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case("POST"));
    let callback_ok = target.status_callback.is_none()
        || number.status_callback.as_deref() == target.status_callback.as_deref();
    if post && callback_ok {
        WiringState::Wired
    } else {
        WiringState::NotWired
    }
}

fn upstream(err: SendError) -> AppError {
    match err {
        SendError::NotConfigured => AppError::conflict(
            "twilio_not_configured",
            "no Twilio account is configured (TWILIO_ACCOUNT_SID)",
        ),
        SendError::Throttled { message, .. } => AppError::Throttled(format!("Twilio: {message}")),
        other => AppError::Upstream(other.to_string()),
    }
}
