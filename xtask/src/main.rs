//! `cargo run -p xtask -- create-table [TABLE]`: creates the table of template.yaml on the
//! DynamoDB endpoint of the environment (AWS_ENDPOINT_URL_DYNAMODB), unless it exists.
//!
//! `cargo run -p xtask -- redeliver <conversationId> <messageId>`: sends that message's
//! `pending` and `failed` deliveries again with the functions' settings from the environment
//! (docs/operations.md, "Replaying a failed or stuck delivery").

use xtask::table;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("create-table") => create_table(args.get(1).cloned()).await,
        Some("redeliver") if args.len() == 3 => redeliver(&args[1], &args[2]).await,
        _ => Err("usage: xtask create-table [TABLE_NAME (default: $TABLE_NAME or switchboard)]\n       \
             xtask redeliver CONVERSATION_ID MESSAGE_ID"
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

async fn redeliver(conversation_id: &str, message_id: &str) -> Result<(), String> {
    let state = switchboard::AppState::from_env().await.map_err(|e| e.to_string())?;
    let deliveries = switchboard::service::messages::redeliver(&state, conversation_id, message_id)
        .await
        .map_err(|e| e.to_string())?;
    if deliveries.is_empty() {
        println!("nothing to send: no delivery of {message_id} is pending or failed");
    }
    for d in &deliveries {
        // Masked like the logs; the error code, not Twilio's text (it quotes the number).
        let code = d.error_code.map(|c| format!(" (Twilio error {c})")).unwrap_or_default();
        let sid = d.twilio_sid.as_deref().unwrap_or("-");
        println!("{}  to {}  {}{code}  sid {sid}", d.id(), d.to.masked(), d.status.as_str());
    }
    Ok(())
}
