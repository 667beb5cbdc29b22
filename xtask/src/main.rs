//! `cargo run -p xtask -- create-table [TABLE]`: creates the table of template.yaml on the
//! DynamoDB endpoint of the environment (AWS_ENDPOINT_URL_DYNAMODB), unless it exists.
//!
//! `cargo run -p xtask -- redeliver [--force] <conversationId> <messageId>`: sends that
//! message's `pending` and `failed` deliveries again with the functions' settings from the
//! environment; tentative failures only with `--force` (docs/operations.md, "Replaying a failed
//! or stuck delivery").

use xtask::table;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("create-table") => create_table(args.get(1).cloned()).await,
        Some("redeliver") if args.len() == 3 => redeliver(&args[1], &args[2], false).await,
        Some("redeliver") if args.len() == 4 && args[1] == "--force" => {
            redeliver(&args[2], &args[3], true).await
        }
        _ => Err("usage: xtask create-table [TABLE_NAME (default: $TABLE_NAME or switchboard)]\n       \
             xtask redeliver [--force] CONVERSATION_ID MESSAGE_ID"
            .to_string()),
    };
    if let Err(message) = result {
        eprintln!("xtask: {message}");
        std::process::exit(1);
    }
}

async fn create_table(name: Option<String>) -> Result<(), String> {
    let name = name.or_else(|| std::env::var("TABLE_NAME").ok()).unwrap_or_else(|| "switchboard".to_string());
    let spec = table::spec_from_template(&table::template_path())?;
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    if table::ensure_table(&client, &name, &spec).await? {
        println!("created table {name} from template.yaml");
    } else {
        println!("table {name} exists");
    }
    Ok(())
}

async fn redeliver(conversation_id: &str, message_id: &str, force: bool) -> Result<(), String> {
    use switchboard::core::domain::ids::{ConversationId, MessageId};
    use switchboard::core::service::messages::{self, RedeliverOptions, Skipped};
    let conversation_id = ConversationId::parse(conversation_id).map_err(|e| e.to_string())?;
    let message_id = MessageId::parse(message_id).map_err(|e| e.to_string())?;
    let state = switchboard::AppState::from_env()
        .await
        .map_err(|e| e.to_string())?
        .with_twilio()
        .map_err(|e| e.to_string())?;
    let options = RedeliverOptions { force, ..RedeliverOptions::default() };
    let report = messages::redeliver(&state.app, conversation_id, message_id, options)
        .await
        .map_err(|e| e.to_string())?;
    if report.attempted.is_empty() && report.skipped.is_empty() {
        println!("nothing to send: no delivery of {message_id} is pending or failed");
    }
    for (d, why) in &report.skipped {
        println!("{}  to {}  {}  skipped: {}", d.id(), d.to.masked(), d.status.as_str(), why.reason());
    }
    if report.skipped.iter().any(|(_, why)| *why == Skipped::Tentative) {
        println!("tentative failures were not re-sent: check Twilio's logs, then run again with --force");
    }
    for d in &report.attempted {
        // Masked like the logs; the error code, not Twilio's text (it quotes the number).
        let code = d.error_code.map(|c| format!(" (Twilio error {c})")).unwrap_or_default();
        let sid = d.twilio_sid.as_deref().unwrap_or("-");
        println!("{}  to {}  {}{code}  sid {sid}", d.id(), d.to.masked(), d.status.as_str());
    }
    Ok(())
}
