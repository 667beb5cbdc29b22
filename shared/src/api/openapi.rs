//! The OpenAPI 3.1 description of the API, built from the functions' route tables: each route's
//! operation is its handler's `#[utoipa::path]` annotation (parameters, request body, successful
//! responses, the error codes it can answer as `x-errors`), and what the table knows completes
//! it the same way for every route:
//! - security from the route's [`Access`] (bearer for users and admins), with its 401 and 403;
//! - 400 and 413 for routes that read a body, 400 for listings (`limit`, `cursor`);
//! - one response per error status, each naming exactly the codes it can carry (`x-errors`,
//!   checked against [`ERROR_CODES`]), with an example per code;
//! - 429 and 500, which any route can answer.
//!
//! HTTP API routes (`/api/…`) become `paths`; the Twilio webhooks, which are function URLs of
//! their own and no route of the HTTP API, become `webhooks` (their local `make dev` paths are
//! named in their descriptions). The WebSocket events are schemas (`Event`, `ClientFrame`, …)
//! described under the `realtime` tag.
//!
//! `UPDATE=1 cargo test -p switchboard-tests --test openapi` writes the committed copy
//! (docs/openapi.json); that test fails when it differs from what this builds, or a route is
//! undescribed.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use switchboard_core::domain::conversation::ParticipantView;
use switchboard_core::domain::message::MessageView;
use switchboard_core::domain::realtime::{
    Closed, DeliveryUpdate, EventKind, ParticipantLeft, ReadUpdate, Typing,
};
use switchboard_core::service::realtime::ClientFrame;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AllOfBuilder, Components, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr};
use utoipa::ToSchema;

use super::response::ErrorBody;
use super::router::{Access, Route, Routes};

/// One error code of the API: the status it comes with, and when.
pub struct ErrorCode {
    pub code: &'static str,
    pub status: u16,
    pub when: &'static str,
}

macro_rules! codes {
    ($($status:literal $code:literal $when:literal,)*) => {
        &[$(ErrorCode { code: $code, status: $status, when: $when },)*]
    };
}

/// Every code an error can carry (`AppError::code`); tests/tests/openapi.rs checks that the core
/// raises no other.
pub const ERROR_CODES: &[ErrorCode] = codes![
    400 "invalid_request" "The request is malformed: not JSON, not an object, a missing field or a wrong type, a bad `limit`, `cursor` or `Idempotency-Key`, a webhook body that is not a form.",
    401 "unauthorized" "No bearer token, a bad or expired one (`WWW-Authenticate: Bearer`); wrong credentials.",
    403 "forbidden" "Not allowed: not an admin, a deactivated account logging in, someone else's message, an invalid Twilio signature.",
    404 "not_found" "No such user, number, conversation, participant, message or contact; or one the caller may not see (indistinguishable).",
    405 "method_not_allowed" "The path exists with other methods (the `Allow` header lists them).",
    409 "email_taken" "That email is already registered.",
    409 "username_taken" "That username is already taken.",
    409 "number_exists" "That number is already in the pool.",
    409 "number_taken" "That number is another user's virtual number.",
    409 "number_assigned" "That number is a user's virtual number; it must be released first.",
    409 "number_in_use" "That number carries group conversations as their proxy number.",
    409 "already_has_number" "The caller already has a virtual number.",
    409 "no_free_number" "No number of the pool is free.",
    409 "no_virtual_number" "The caller needs a virtual number first (or it changed meanwhile).",
    409 "no_proxy_number" "No pool number is free to reach one of the phones.",
    409 "route_taken" "That phone already talks to that number in another conversation.",
    409 "already_participant" "Already a participant of this conversation.",
    409 "contact_exists" "The caller already has a contact with that phone number.",
    409 "group_full" "The group has reached its maximum size.",
    409 "last_admin" "A conversation needs an admin: promote someone first.",
    409 "not_a_group" "Only group conversations change membership.",
    409 "conversation_closed" "The conversation is closed.",
    409 "no_idle_timer" "Direct conversations hold no number: they never close by themselves.",
    409 "conversation_exists" "That conversation exists.",
    409 "idempotency_key_used" "That `Idempotency-Key` was used for another message.",
    409 "duplicate" "This message was received already.",
    409 "message_deleted" "The message was deleted: nothing to send.",
    409 "concurrent_update" "The resource changed concurrently: retry the request.",
    409 "twilio_not_configured" "The deployment has no Twilio account (`TWILIO_ACCOUNT_SID`): its numbers cannot be listed or imported.",
    409 "webhook_url_unknown" "The deployment has no inbound webhook URL (`INBOUND_WEBHOOK_URL` or `PUBLIC_BASE_URL`) to point numbers at.",
    413 "payload_too_large" "The body is over 64 KiB.",
    422 "validation_failed" "Well-formed but invalid: an email, a phone number, a password's length, a name; `field` names it.",
    429 "throttled" "The database is busy: retry shortly.",
    500 "internal_error" "A fault of ours; the details are only in the logs.",
    502 "upstream_failed" "A provider (Twilio, the delivery queue) failed.",
];

pub fn error_code(code: &str) -> Option<&'static ErrorCode> {
    ERROR_CODES.iter().find(|c| c.code == code)
}

const INTRO: &str = "Switchboard's REST API: accounts, the number pool, virtual numbers, conversations \
(direct, SMS and group) and messages, plus the Twilio webhooks and the real-time events of the \
WebSocket API.\n\n\
* JSON in, JSON out, field names in camelCase. Bodies are JSON objects of at most 64 KiB.\n\
* Every route but register, login, refresh and this description needs `Authorization: Bearer \
<token>` (the `token` of a register, login or refresh answer).\n\
* Lists are paginated: `?limit` (default 20, at most 100) and `?cursor` (the `nextCursor` of the \
previous page, `null` on the last one).\n\
* Phone numbers are accepted in any common notation and answered in E.164 (`+14155550100`); \
numbers without `+` are read in the deployment's `DEFAULT_REGION`.\n\
* Errors are always `{\"error\": {\"code\", \"message\", \"field\"?}}`; each response lists the \
codes it can carry. A path no route has is 404 `not_found`; a known path with another method is \
405 `method_not_allowed` with `Allow`.\n\n\
Generated from the code (`switchboard::api::openapi`): this document and the routes cannot \
differ.";

const REALTIME: &str = "Web clients keep one WebSocket open and receive, within a second, every \
event of the conversations they are in. Connect to the stack's `WebSocketUrl` output \
(`make dev`: `ws://127.0.0.1:9001`) with `?token=ACCESS_TOKEN`, or offer the token as \
subprotocols (`new WebSocket(url, [\"bearer\", token])`); a missing or invalid token is refused \
at the handshake.\n\n\
Every event is one text frame, an `Event` (below): `{id, type, conversationId, timestamp, \
payload}`, the payload depending on `type`. Clients send `ClientFrame`s (`ping`, answered with \
`Pong`; `typing`); a refused frame is answered with an `ErrorFrame`. A client that reconnects \
fetches what it missed with `GET /api/conversations/{id}/messages`.\n\n\
<SchemaDefinition schemaRef=\"#/components/schemas/Event\" />\n\n\
<SchemaDefinition schemaRef=\"#/components/schemas/ClientFrame\" />";

const TAGS: &[(&str, &str)] = &[
    ("auth", "Register, log in, refresh tokens."),
    ("users", "The caller's profile and virtual number, the directory, activation (admins)."),
    (
        "contacts",
        "The caller's own address book: names for phones, shown in their conversations; private to them.",
    ),
    ("numbers", "The pool of Twilio numbers (admins only)."),
    ("conversations", "Direct, SMS and group conversations and their participants."),
    ("messages", "Sending (in the app to web users, by SMS to phones), history, edits and deletions."),
    ("docs", "This description, and its rendered reference."),
    (
        "webhooks",
        "Twilio calls these, signed (`X-Twilio-Signature`); they are Lambda function URLs of their \
         own, not routes of this API (outputs `TwilioInboundWebhookUrl`, `TwilioStatusCallbackUrl`).",
    ),
    ("realtime", REALTIME),
];

/// The description of every route of `tables`.
pub fn document<'a>(tables: impl IntoIterator<Item = &'a Routes>) -> OpenApi {
    let mut paths = Paths::new();
    let mut webhooks = Paths::new();
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    let mut operation_ids = Vec::new();
    let mut shared_responses = BTreeMap::new();
    for table in tables {
        for route in table.routes() {
            (route.schemas)(&mut schemas);
            let mut operation = describe(route);
            share_error_responses(&mut operation, &mut shared_responses);
            let id = operation.operation_id.clone().unwrap_or_default();
            assert!(!operation_ids.contains(&id), "operation id {id} is used twice");
            operation_ids.push(id);
            let method = http_method(route);
            if route.path == "/" {
                // A function URL: Twilio's webhook, named after its function.
                webhooks.add_path_operation(table.function(), vec![method], operation);
            } else if route.path.starts_with("/api/webhooks/") {
                // The same webhook at the path `make dev` serves it on (described there).
            } else {
                paths.add_path_operation(&route.path, vec![method], operation);
            }
        }
    }
    let mut components = Components::new();
    components.responses = shared_responses;
    for (name, schema) in schemas {
        components.schemas.insert(name, schema);
    }
    components.schemas.insert(ErrorBody::name().into_owned(), <ErrorBody as utoipa::PartialSchema>::schema());
    let mut detail = Vec::new();
    ErrorBody::schemas(&mut detail);
    components.schemas.extend(detail);
    for (name, schema) in event_schemas() {
        components.schemas.insert(name, schema);
    }
    components.security_schemes.insert(
        "bearer".to_string(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "The access `token` of a register, login or refresh answer (valid 15 minutes by \
                     default; refresh with the `refreshToken`).",
                ))
                .build(),
        )),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Switchboard API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(INTRO))
                .build(),
        )
        .paths(paths)
        .webhooks(Some(webhooks))
        .components(Some(components))
        .tags(Some(
            TAGS.iter().map(|(name, text)| TagBuilder::new().name(*name).description(Some(*text)).build()),
        ))
        .build()
}

fn http_method(route: &Route) -> HttpMethod {
    match route.method.as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        other => panic!("{other} {}: no such method in the API", route.path),
    }
}

/// The route's operation, completed from its table entry (see the module's documentation).
pub fn describe(route: &Route) -> Operation {
    let mut operation = (route.operation)();
    operation.tags = Some((route.tags)().into_iter().map(str::to_string).collect());
    let declared = take_errors(&mut operation, route);
    let mut codes: Vec<&'static ErrorCode> = declared;
    let mut add = |code: &str| {
        let code = error_code(code).expect("a known code");
        if !codes.iter().any(|c| c.code == code.code) {
            codes.push(code);
        }
    };
    match route.access {
        Access::Public => operation.security = None,
        Access::User | Access::Admin => {
            operation.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
            add("unauthorized");
        }
    }
    if route.access == Access::Admin {
        add("forbidden");
    }
    if operation.request_body.is_some() {
        add("invalid_request");
        add("payload_too_large");
    }
    let mut params = operation.parameters.iter().flatten().filter_map(|p| match p {
        RefOr::T(parameter) => Some(parameter.name.as_str()),
        RefOr::Ref(_) => None,
    });
    if params.any(|name| name == "limit" || name == "cursor") {
        add("invalid_request");
    }
    add("throttled");
    add("internal_error");
    let mut by_status: BTreeMap<u16, Vec<&ErrorCode>> = BTreeMap::new();
    for code in codes {
        by_status.entry(code.status).or_default().push(code);
    }
    for (status, codes) in by_status {
        operation.responses.responses.insert(status.to_string(), RefOr::T(error_response(status, &codes)));
    }
    if route.access == Access::Admin {
        let text = operation.description.take().unwrap_or_default();
        operation.description = Some(format!("{text}\n\nAdmins only (`ADMIN_EMAILS`).").trim().to_string());
    }
    operation
}

/// Error responses of one code (`unauthorized`, `throttled`, `internal_error`…, the same on
/// every route that has them) become `#/components/responses/<code>` references: written once.
fn share_error_responses(operation: &mut Operation, shared: &mut BTreeMap<String, RefOr<Response>>) {
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(inline) = response else { continue };
        let codes: Vec<String> = inline
            .content
            .values()
            .filter_map(|content| match content {
                RefOr::T(content) => Some(content.examples.keys().cloned()),
                RefOr::Ref(_) => None,
            })
            .flatten()
            .collect();
        if let [code] = codes.as_slice() {
            shared.entry(code.clone()).or_insert_with(|| response.clone());
            *response = RefOr::Ref(Ref::from_response_name(code.as_str()));
        }
    }
}

/// The codes of the annotation's `x-errors` extension, which the description replaces with
/// responses.
fn take_errors(operation: &mut Operation, route: &Route) -> Vec<&'static ErrorCode> {
    let Some(extensions) = operation.extensions.as_mut() else { return Vec::new() };
    let Some(value) = extensions.remove("x-errors") else { return Vec::new() };
    let codes: Vec<String> = serde_json::from_value(value)
        .unwrap_or_else(|e| panic!("{} {}: x-errors must be a list of codes: {e}", route.method, route.path));
    if extensions.is_empty() {
        operation.extensions = None;
    }
    codes
        .iter()
        .map(|code| {
            error_code(code).unwrap_or_else(|| {
                panic!("{} {}: x-errors names {code}, which is no code of the API", route.method, route.path)
            })
        })
        .collect()
}

/// One error status of an operation: the error shape, its `code` restricted to `codes`, an
/// example per code.
fn error_response(status: u16, codes: &[&ErrorCode]) -> Response {
    let enum_values: Vec<&str> = codes.iter().map(|c| c.code).collect();
    let restricted = ObjectBuilder::new().property(
        "error",
        ObjectBuilder::new()
            .property("code", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(enum_values))),
    );
    let schema = AllOfBuilder::new().item(Ref::from_schema_name(ErrorBody::name())).item(restricted);
    let examples = codes.iter().map(|code| {
        let example = ExampleBuilder::new()
            .summary(code.code)
            .value(Some(json!({"error": {"code": code.code, "message": example_message(code)}})));
        (code.code, example.build())
    });
    let content = ContentBuilder::new().schema(Some(schema)).examples_from_iter(examples);
    let description =
        codes.iter().map(|c| format!("`{}`: {}", c.code, c.when)).collect::<Vec<_>>().join("\n\n");
    let mut response =
        ResponseBuilder::new().description(description).content("application/json", content.build());
    if status == 401 {
        response = response.header(
            "WWW-Authenticate",
            utoipa::openapi::HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).examples(["Bearer"])))
                .build(),
        );
    }
    response.build()
}

fn example_message(code: &ErrorCode) -> String {
    // The first clause of `when`, as a message would put it.
    let when = code.when.split([':', '(', ';']).next().unwrap_or(code.when);
    when.trim().trim_end_matches('.').to_lowercase()
}

/// The WebSocket frames: `Event` (one schema per `type`, its payload from the Rust type the
/// core serialises), `ClientFrame`, `Pong`, `ErrorFrame`, and the payload types.
fn event_schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut schemas = Vec::new();
    fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
        T::schemas(schemas);
        schemas.push((T::name().into_owned(), T::schema()));
        Ref::from_schema_name(T::name()).into()
    }
    let mut one_of = OneOfBuilder::new().description(Some(
        "An event on a conversation the client's user is in, one WebSocket text frame. Clients \
         deduplicate by `id` (a ULID): the sender's own devices receive their messages too.",
    ));
    for kind in EventKind::ALL {
        let (payload, sent) = match kind {
            EventKind::MessageCreated => (
                add::<MessageView>(&mut schemas),
                "A new message: a send, an inbound SMS, a STOP/START notice.",
            ),
            EventKind::MessageUpdated => (add::<MessageView>(&mut schemas), "The author edited a message."),
            EventKind::MessageDeleted => (add::<MessageView>(&mut schemas), "The author deleted a message."),
            EventKind::DeliveryUpdated => (
                add::<DeliveryUpdate>(&mut schemas),
                "An SMS delivery moved: an attempt, a retry, a Twilio status callback.",
            ),
            EventKind::ParticipantJoined => {
                (add::<ParticipantView>(&mut schemas), "A participant was added (the newcomer hears it too).")
            }
            EventKind::ParticipantLeft => (
                add::<ParticipantLeft>(&mut schemas),
                "A participant left or was removed (the one who left hears it, then nothing more).",
            ),
            EventKind::ConversationClosed => (
                add::<Closed>(&mut schemas),
                "The conversation closed (by an admin, the last web user leaving, a number released).",
            ),
            EventKind::ConversationRead => (
                add::<ReadUpdate>(&mut schemas),
                "A web member's read horizon moved (`PUT .../read`): to every web member; the reader's \
                 own devices also get its `unreadCount`.",
            ),
            EventKind::Typing => {
                (add::<Typing>(&mut schemas), "Another web member is typing (a `typing` client frame).")
            }
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let event = ObjectBuilder::new()
            .title(Some(kind.name()))
            .description(Some(sent))
            .property("id", string().description(Some("Unique, time-ordered (a ULID).")))
            .property("type", string().enum_values(Some([kind.name()])))
            .property("conversationId", Ref::from_schema_name("ConversationId"))
            .property("timestamp", string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
            .property("payload", payload)
            .required("id")
            .required("type")
            .required("conversationId")
            .required("timestamp")
            .required("payload");
        one_of = one_of.item(event);
    }
    schemas.push(("Event".to_string(), one_of.into()));
    add::<ClientFrame>(&mut schemas);
    schemas.push((
        "Pong".to_string(),
        ObjectBuilder::new()
            .description(Some("The answer to a `ping` frame."))
            .property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["pong"])))
            .required("type")
            .into(),
    ));
    schemas.push((
        "ErrorFrame".to_string(),
        ObjectBuilder::new()
            .description(Some(
                "The answer to a refused client frame: not JSON or no known action (422), an unknown \
                 connection (401), a conversation the user is not in (404).",
            ))
            .property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["error"])))
            .property("error", Ref::from_schema_name("ErrorDetail"))
            .required("type")
            .required("error")
            .into(),
    ));
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    schemas.dedup_by(|a, b| a.0 == b.0);
    schemas
}

/// The operation the description gives `route` (for checking answers against it).
pub fn operation_of<'a>(document: &'a OpenApi, function: &str, route: &Route) -> Option<&'a Operation> {
    let item: &PathItem = if route.path == "/" {
        document.webhooks.as_ref()?.paths.get(function)?
    } else {
        document.paths.paths.get(&route.path)?
    };
    match route.method.as_str() {
        "GET" => item.get.as_ref(),
        "POST" => item.post.as_ref(),
        "PUT" => item.put.as_ref(),
        "PATCH" => item.patch.as_ref(),
        "DELETE" => item.delete.as_ref(),
        _ => None,
    }
}

/// What an answer must be to match `operation`: its status is one the operation lists, and an
/// error's code one that status's response names. `Err` says how it differs.
pub fn check_answer(operation: &Operation, status: u16, body: &Value) -> Result<(), String> {
    let Some(RefOr::T(response)) = operation.responses.responses.get(&status.to_string()) else {
        let listed: Vec<&String> = operation.responses.responses.keys().collect();
        return Err(format!("status {status} is not described (described: {listed:?})"));
    };
    if status < 400 {
        return Ok(());
    }
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let allowed: Vec<&String> = response
        .content
        .values()
        .filter_map(|content| match content {
            RefOr::T(content) => Some(content.examples.keys()),
            RefOr::Ref(_) => None,
        })
        .flatten()
        .collect();
    if allowed.iter().any(|c| c.as_str() == code) {
        Ok(())
    } else {
        Err(format!("{status} {code} is not described (described: {allowed:?})"))
    }
}

/// The document as the API serves it (pretty JSON, the committed docs/openapi.json).
pub fn to_json(document: &OpenApi) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("the description serialises");
    text.push('\n');
    text
}
