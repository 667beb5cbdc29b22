//! `cargo run -p xtask -- create-table [TABLE]`: creates the table of template.yaml on the
//! DynamoDB endpoint of the environment (AWS_ENDPOINT_URL_DYNAMODB), unless it exists.

use xtask::table;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("create-table") => create_table(args.get(1).cloned()).await,
        _ => Err("usage: xtask create-table [TABLE_NAME (default: $TABLE_NAME or switchboard)]".to_string()),
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
