//! `numbers` function (admins only): the pool of Twilio numbers.

use switchboard::api::bodies::{NumberBody, NumberDeleted, NumberPage, PageParams};
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::number::NumberStatus;
use switchboard::core::service::number_import::{
    self, NumberImportReport, NumberImportRequest, ProviderNumberPage,
};
use switchboard::core::service::numbers::{self, AddNumberRequest};
use switchboard::core::AppError;
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new(
        "numbers",
        [
            route!(Access::Admin, list_numbers),
            route!(Access::Admin, add_number),
            route!(Access::Admin, remove_number),
            route!(Access::Admin, list_twilio_numbers),
            route!(Access::Admin, import_numbers),
        ],
    )
}

/// `?status=` of the pool listing.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum StatusFilter {
    Free,
    Assigned,
    Proxy,
    All,
}

/// The pool, optionally by status.
#[utoipa::path(
    get,
    path = "/api/numbers",
    tag = "numbers",
    params(
        ("status" = inline(Option<StatusFilter>), Query, description = "Only numbers with this status (default `all`)."),
        PageParams
    ),
    responses((status = 200, description = "One page of the pool.", body = NumberPage))
)]
async fn list_numbers(call: Call) -> Reply {
    let status = match call.query("status").as_deref() {
        None | Some("all") => None,
        Some("free") => Some(NumberStatus::Free),
        Some("assigned") => Some(NumberStatus::Assigned),
        Some("proxy") => Some(NumberStatus::Proxy),
        Some(_) => {
            return Err(AppError::bad_request(
                Some("status".to_string()),
                "status must be free, assigned, proxy or all",
            ))
        }
    };
    let page = numbers::list(call.app(), status, &call.page()?).await?;
    api::json(200, &NumberPage { numbers: page.items, next_cursor: page.next_cursor })
}

/// Adds a Twilio number to the pool.
#[utoipa::path(
    post,
    path = "/api/numbers",
    tag = "numbers",
    request_body = AddNumberRequest,
    responses((status = 201, description = "The number, free.", body = NumberBody)),
    extensions(("x-errors" = json!(["validation_failed", "number_exists"])))
)]
async fn add_number(call: Call) -> Reply {
    let added = numbers::add(call.app(), call.json()?).await?;
    api::json(201, &NumberBody { number: added })
}

/// Removes a free number from the pool.
#[utoipa::path(
    delete,
    path = "/api/numbers/{phoneNumber}",
    tag = "numbers",
    params(("phoneNumber" = String, Path, description = "The number, in any notation (`+14155550100`, `%2B1 415…`).")),
    responses((status = 200, description = "The number removed, in E.164.", body = NumberDeleted)),
    extensions(("x-errors" = json!(["validation_failed", "not_found", "number_assigned", "number_in_use", "concurrent_update"])))
)]
async fn remove_number(call: Call) -> Reply {
    let removed = numbers::remove(call.app(), call.param("phoneNumber")?).await?;
    api::json(200, &NumberDeleted { deleted: removed })
}

/// The Twilio account's numbers, one Twilio page at a time, each with whether it is in the pool
/// and where its SMS webhook points.
#[utoipa::path(
    get,
    path = "/api/numbers/twilio",
    tag = "numbers",
    params(("pageToken" = Option<String>, Query, description = "A previous page's `nextPageToken`.")),
    responses((status = 200, description = "One page of the account's numbers.", body = ProviderNumberPage)),
    extensions(("x-errors" = json!(["invalid_request", "twilio_not_configured", "upstream_failed", "throttled"])))
)]
async fn list_twilio_numbers(call: Call) -> Reply {
    let token = call.query("pageToken").filter(|t| !t.is_empty());
    api::json(200, &number_import::list(call.app(), token.as_deref()).await?)
}

/// Imports numbers of the Twilio account into the pool and points each at the inbound webhook
/// (SmsUrl, POST) and status callback. A number already pointed at us is not updated; one
/// pointed elsewhere is left alone, and out of the pool, unless `takeOver` is true. Idempotent.
#[utoipa::path(
    post,
    path = "/api/numbers/import",
    tag = "numbers",
    request_body = NumberImportRequest,
    responses((status = 200, description = "What happened to each number, in the order named.", body = NumberImportReport)),
    extensions(("x-errors" = json!(["invalid_request", "validation_failed", "webhook_url_unknown", "twilio_not_configured", "upstream_failed", "throttled"])))
)]
async fn import_numbers(call: Call) -> Reply {
    api::json(200, &number_import::import(call.app(), call.json()?).await?)
}
