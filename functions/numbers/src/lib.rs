//! `numbers` function (admins only): the pool of Twilio numbers.

use serde_json::json;
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::number::NumberStatus;
use switchboard::core::service::numbers;
use switchboard::core::AppError;
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new(
        "numbers",
        [
            route!(Access::Admin, list_numbers),
            route!(Access::Admin, add_number),
            route!(Access::Admin, remove_number),
        ],
    )
}

/// The pool, optionally by status (`?status=free|assigned|proxy|all`).
#[utoipa::path(get, path = "/api/numbers", tag = "numbers", security(("bearer" = [])))]
async fn list_numbers(call: Call) -> Reply {
    let status = match call.query("status").as_deref() {
        None | Some("") | Some("all") => None,
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
    api::json(200, &json!({ "numbers": page.items, "nextCursor": page.next_cursor }))
}

/// Adds a Twilio number to the pool.
#[utoipa::path(post, path = "/api/numbers", tag = "numbers", security(("bearer" = [])))]
async fn add_number(call: Call) -> Reply {
    let added = numbers::add(call.app(), call.json()?).await?;
    api::json(201, &json!({ "number": added }))
}

/// Removes a free number from the pool.
#[utoipa::path(delete, path = "/api/numbers/{phoneNumber}", tag = "numbers", security(("bearer" = [])))]
async fn remove_number(call: Call) -> Reply {
    let removed = numbers::remove(call.app(), call.param("phoneNumber")?).await?;
    api::json(200, &json!({ "deleted": removed }))
}
