//! The pool of Twilio numbers, and giving users their virtual number.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::App;
use crate::domain::ids::UserId;
use crate::domain::number::{NumberStatus, PoolNumber};
use crate::domain::phone::E164;
use crate::domain::user::{PublicUserView, User};
use crate::error::AppError;
use crate::ports::{Page, PageRequest, StoreError};

/// Free numbers fetched per attempt when the caller lets us choose.
const CANDIDATES_PER_QUERY: u32 = 10;
/// Pool queries before concluding no number is free.
const CANDIDATE_QUERIES: usize = 3;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignRequest {
    #[serde(default)]
    pub phone_number: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddNumberRequest {
    pub phone_number: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberView {
    pub phone_number: E164,
    pub status: NumberStatus,
    pub owner_id: Option<UserId>,
    /// Group routes the number carries as a proxy.
    pub route_count: u32,
    pub added_at: chrono::DateTime<Utc>,
    pub assigned_at: Option<chrono::DateTime<Utc>>,
}

impl From<PoolNumber> for NumberView {
    fn from(n: PoolNumber) -> Self {
        Self {
            status: n.status(),
            phone_number: n.phone_number,
            owner_id: n.owner_id,
            route_count: n.route_count,
            added_at: n.added_at,
            assigned_at: n.assigned_at,
        }
    }
}

pub async fn add(app: &App, request: AddNumberRequest) -> Result<NumberView, AppError> {
    let number = app.parse_phone("phoneNumber", &request.phone_number)?;
    let added = app.numbers.add_number(&number, Utc::now()).await?;
    tracing::info!(number = %number.masked(), "number added to the pool");
    Ok(added.into())
}

/// Returns the number removed, normalised.
pub async fn remove(app: &App, raw_number: &str) -> Result<E164, AppError> {
    let number = app.parse_phone("phoneNumber", raw_number)?;
    // The delete is conditioned on the number having no owner and carrying no group route.
    app.numbers.remove_number(&number).await?;
    tracing::info!(number = %number.masked(), "number removed from the pool");
    Ok(number)
}

pub async fn list(
    app: &App,
    status: Option<NumberStatus>,
    page: &PageRequest,
) -> Result<Page<NumberView>, AppError> {
    Ok(app.numbers.list_numbers(status, page).await?.map(NumberView::from))
}

/// Gives `user` the number they asked for, or any free one. A chosen number costs one
/// transaction; "any" adds one pool query per round of candidates. The transaction's conditions
/// decide races: losers move on to the next candidate, and get 409 when none is left.
pub async fn assign(app: &App, user: &User, request: AssignRequest) -> Result<User, AppError> {
    if user.virtual_number.is_some() {
        return Err(StoreError::UserHasNumber.into());
    }
    let number = match request.phone_number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => {
            let number = app.parse_phone("phoneNumber", raw)?;
            app.numbers.assign_number(user.id, &number, Utc::now()).await?;
            number
        }
        None => assign_any_free(app, user).await?,
    };
    tracing::info!(userId = %user.id, number = %number.masked(), "virtual number assigned");
    Ok(User { virtual_number: Some(number), ..user.clone() })
}

/// Numbers never used as proxies come first; a former proxy number qualifies once it carries no
/// group any more.
async fn assign_any_free(app: &App, user: &User) -> Result<E164, AppError> {
    let mut tried = std::collections::HashSet::new();
    for status in [NumberStatus::Free, NumberStatus::Proxy] {
        for _ in 0..CANDIDATE_QUERIES {
            let page = PageRequest { limit: CANDIDATES_PER_QUERY, cursor: None };
            let candidates = app.numbers.list_numbers(Some(status), &page).await?.items;
            let fresh: Vec<_> = candidates
                .into_iter()
                .filter(|n| n.owner_id.is_none() && n.route_count == 0)
                .filter(|n| tried.insert(n.phone_number.clone()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for candidate in fresh {
                match app.numbers.assign_number(user.id, &candidate.phone_number, Utc::now()).await {
                    Ok(()) => return Ok(candidate.phone_number),
                    // Someone else got it, it began carrying a group, or an admin removed it since
                    // the query: try the next.
                    Err(
                        StoreError::NumberTaken
                        | StoreError::NumberInUse
                        | StoreError::NumberNotInPool
                        | StoreError::Contention,
                    ) => continue,
                    Err(other) => return Err(other.into()),
                }
            }
        }
    }
    Err(AppError::conflict(
        "no_free_number",
        "no virtual number is free; ask an administrator to add numbers",
    ))
}

pub async fn release(app: &App, user: &User) -> Result<User, AppError> {
    let number = user.virtual_number.as_ref().ok_or_else(|| AppError::from(StoreError::UserHasNoNumber))?;
    // Mark it first (no new SMS conversation can start on it), close the SMS conversations it
    // carries (their routes must not outlive it), then return it to the pool. A release that
    // stops half-way is finished by asking again.
    app.numbers.mark_number_releasing(user.id, number).await?;
    super::conversations::close_sms_conversations_on(app, user, number).await?;
    app.numbers.release_number(user.id, number).await?;
    tracing::info!(userId = %user.id, number = %number.masked(), "virtual number released");
    Ok(User { virtual_number: None, ..user.clone() })
}

/// Users who hold a number: one pool query plus one batched read of their profiles.
pub async fn users_with_numbers(app: &App, page: &PageRequest) -> Result<Page<PublicUserView>, AppError> {
    let numbers = app.numbers.list_numbers(Some(NumberStatus::Assigned), page).await?;
    let owner_ids: Vec<UserId> = numbers.items.iter().filter_map(|n| n.owner_id).collect();
    let users = if owner_ids.is_empty() { Vec::new() } else { app.users.get_users(&owner_ids).await? };
    Ok(Page {
        items: users.iter().filter(|u| u.active).map(User::public_view).collect(),
        next_cursor: numbers.next_cursor,
    })
}
