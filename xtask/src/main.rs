//! `cargo run -p xtask -- create-table [TABLE]`: creates the table of template.yaml on the
//! DynamoDB endpoint of the environment (AWS_ENDPOINT_URL_DYNAMODB), unless it exists.
//!
//! `cargo run -p xtask -- create-queues [PREFIX]`: creates the delivery queue `PREFIX-delivery`
//! and its dead-letter queue `PREFIX-delivery-dlq` (PREFIX: $TABLE_NAME or switchboard) on the SQS
//! endpoint of the environment (AWS_ENDPOINT_URL_SQS), with template.yaml's visibility timeout
//! and redrive policy, or brings existing ones in line; prints `DELIVERY_QUEUE_URL=…` and
//! `DELIVERY_DEAD_LETTER_QUEUE_URL=…` on stdout (scripts/dev.sh exports them), the rest on stderr.
//!
//! `cargo run -p xtask -- create-bucket [PREFIX]`: creates the media bucket `PREFIX-media` on the
//! S3 endpoint of the environment (AWS_ENDPOINT_URL_S3), with CORS for the local web client's
//! PUTs, unless it exists; prints `MEDIA_BUCKET=…` on stdout (scripts/dev.sh exports it).
//!
//! `cargo run -p xtask -- redeliver [--force] <conversationId> <messageId>`: puts that message's
//! `failed` deliveries back in the outbox and queues them, with the functions' settings from the
//! environment (DELIVERY_QUEUE_URL); tentative failures only with `--force`
//! (docs/operations.md, "Redriving dead deliveries").

use xtask::{queues, table};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("create-table") => create_table(args.get(1).cloned()).await,
        Some("create-queues") if args.len() <= 2 => create_queues(args.get(1).cloned()).await,
        Some("create-bucket") if args.len() <= 2 => create_bucket(args.get(1).cloned()).await,
        Some("redeliver") if args.len() == 3 => redeliver(&args[1], &args[2], false).await,
        Some("redeliver") if args.len() == 4 && args[1] == "--force" => {
            redeliver(&args[2], &args[3], true).await
        }
        _ => Err("usage: xtask create-table [TABLE_NAME (default: $TABLE_NAME or switchboard)]\n       \
             xtask create-queues [PREFIX (default: $TABLE_NAME or switchboard)]\n       \
             xtask create-bucket [PREFIX (default: $TABLE_NAME or switchboard)]\n       \
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

async fn create_queues(prefix: Option<String>) -> Result<(), String> {
    let prefix =
        prefix.or_else(|| std::env::var("TABLE_NAME").ok()).unwrap_or_else(|| "switchboard".to_string());
    let spec = queues::spec_from_template(&table::template_path())?;
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_sqs::Client::new(&config);
    let made = queues::ensure_queues(&client, &prefix, &spec).await?;
    let (name, dead_letter_name) = queues::names(&prefix);
    let verb = |created: bool| if created { "created" } else { "updated" };
    eprintln!(
        "{} queue {name}: visibility timeout {} s, to {dead_letter_name} after {} receives; {} {dead_letter_name}",
        verb(made.created.0),
        spec.visibility_timeout,
        spec.max_receive_count,
        verb(made.created.1),
    );
    println!("DELIVERY_QUEUE_URL={}", made.queue_url);
    println!("DELIVERY_DEAD_LETTER_QUEUE_URL={}", made.dead_letter_url);
    Ok(())
}

/// The local media bucket (template.yaml's MediaBucket, minus what moto ignores: encryption,
/// lifecycle, public access block).
async fn create_bucket(prefix: Option<String>) -> Result<(), String> {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let prefix =
        prefix.or_else(|| std::env::var("TABLE_NAME").ok()).unwrap_or_else(|| "switchboard".to_string());
    let name = format!("{}-media", prefix.to_lowercase());
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
    );
    if client.head_bucket().bucket(&name).send().await.is_err() {
        client.create_bucket().bucket(&name).send().await.map_err(s3_error)?;
        eprintln!("created bucket {name}");
    }
    let rule = CorsRule::builder()
        .allowed_methods("PUT")
        .allowed_methods("GET")
        .allowed_origins("*")
        .allowed_headers("content-type")
        .build()
        .map_err(|e| e.to_string())?;
    let cors = CorsConfiguration::builder().cors_rules(rule).build().map_err(|e| e.to_string())?;
    client.put_bucket_cors().bucket(&name).cors_configuration(cors).send().await.map_err(s3_error)?;
    println!("MEDIA_BUCKET={name}");
    Ok(())
}

fn s3_error(err: impl std::error::Error) -> String {
    aws_sdk_s3::error::DisplayErrorContext(err).to_string()
}

async fn redeliver(conversation_id: &str, message_id: &str, force: bool) -> Result<(), String> {
    use switchboard::core::domain::ids::{ConversationId, MessageId};
    use switchboard::core::service::messages::{self, RedeliverOptions, Skipped};
    let conversation_id = ConversationId::parse(conversation_id).map_err(|e| e.to_string())?;
    let message_id = MessageId::parse(message_id).map_err(|e| e.to_string())?;
    let state = switchboard::AppState::from_env()
        .await
        .map_err(|e| e.to_string())?
        .with_queue()
        .map_err(|e| e.to_string())?;
    let report = messages::redeliver(&state.app, conversation_id, message_id, RedeliverOptions { force })
        .await
        .map_err(|e| e.to_string())?;
    if report.requeued.is_empty() && report.skipped.is_empty() {
        println!("nothing to send again: no delivery of {message_id} is failed");
    }
    for (d, why) in &report.skipped {
        println!("{}  to {}  {}  skipped: {}", d.id(), d.to.masked(), d.status.as_str(), why.reason());
    }
    if report.skipped.iter().any(|(_, why)| *why == Skipped::Tentative) {
        println!("tentative failures were not sent again: check Twilio's logs, then run again with --force");
    }
    for d in &report.requeued {
        // Masked like the logs.
        println!("{}  to {}  back in the outbox: the pipeline sends it", d.id(), d.to.masked());
    }
    Ok(())
}
