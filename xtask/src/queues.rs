//! The delivery pipeline's queues for `make dev`: the delivery queue and its dead-letter queue,
//! created on the SQS endpoint of the environment (`AWS_ENDPOINT_URL_SQS`: moto, which serves
//! DynamoDB and SQS on one port) with the settings template.yaml gives them: the delivery
//! queue's visibility timeout, its redrive policy's `maxReceiveCount`, and each queue's retention.
//! When the template has no `DeliveryQueue`/`DeliveryDeadLetterQueue` resource yet, the defaults
//! below stand in.

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use serde_yaml::Value;

/// The template's resource names.
pub const QUEUE_RESOURCE: &str = "DeliveryQueue";
pub const DEAD_LETTER_RESOURCE: &str = "DeliveryDeadLetterQueue";

/// What shapes the pipeline's retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// Seconds a received job stays invisible: a job the worker reports as failed (or never
    /// answers for) comes back after this long.
    pub visibility_timeout: u32,
    /// Receives after which SQS moves a job to the dead-letter queue.
    pub max_receive_count: u32,
    /// `MessageRetentionPeriod` of each queue, when the template sets one.
    pub retention: Option<u32>,
    pub dead_letter_retention: Option<u32>,
}

impl Default for QueueSpec {
    fn default() -> Self {
        Self { visibility_timeout: 360, max_receive_count: 5, retention: None, dead_letter_retention: None }
    }
}

/// The two queues' names: `{prefix}-delivery` and `{prefix}-delivery-dlq`.
pub fn names(prefix: &str) -> (String, String) {
    (format!("{prefix}-delivery"), format!("{prefix}-delivery-dlq"))
}

/// Reads the queues' settings from the template's `DeliveryQueue` and `DeliveryDeadLetterQueue`
/// resources; a resource or property the template does not have keeps its default.
pub fn spec_from_template(path: &Path) -> Result<QueueSpec, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    spec_from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn spec_from_str(text: &str) -> Result<QueueSpec, String> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let parameters = &doc["Parameters"];
    let number = |resource: &str, property: &[&str]| -> Result<Option<u32>, String> {
        let mut value = &doc["Resources"][resource]["Properties"];
        for key in property {
            value = &value[*key];
        }
        let what = format!("{resource}.Properties.{}", property.join("."));
        resolve_number(value, parameters).map_err(|e| format!("{what}: {e}"))
    };
    let defaults = QueueSpec::default();
    Ok(QueueSpec {
        visibility_timeout: number(QUEUE_RESOURCE, &["VisibilityTimeout"])?
            .unwrap_or(defaults.visibility_timeout),
        max_receive_count: number(QUEUE_RESOURCE, &["RedrivePolicy", "maxReceiveCount"])?
            .unwrap_or(defaults.max_receive_count),
        retention: number(QUEUE_RESOURCE, &["MessageRetentionPeriod"])?,
        dead_letter_retention: number(DEAD_LETTER_RESOURCE, &["MessageRetentionPeriod"])?,
    })
}

/// A number, a numeric string, or `!Ref` to a parameter with a numeric default; `None` when
/// the property is absent.
fn resolve_number(value: &Value, parameters: &Value) -> Result<Option<u32>, String> {
    let parse = |v: &Value| -> Option<u32> {
        match v {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    };
    match value {
        Value::Null => Ok(None),
        Value::Tagged(tagged) if tagged.tag == "!Ref" => {
            let name = tagged.value.as_str().ok_or("!Ref of something that is not a name")?;
            let default = &parameters[name]["Default"];
            parse(default)
                .map(Some)
                .ok_or_else(|| format!("!Ref {name}: the parameter has no numeric Default"))
        }
        Value::Mapping(map) if map.len() == 1 && map.contains_key("Ref") => {
            let name = map["Ref"].as_str().ok_or("Ref of something that is not a name")?;
            parse(&parameters[name]["Default"])
                .map(Some)
                .ok_or_else(|| format!("Ref {name}: the parameter has no numeric Default"))
        }
        other => parse(other).map(Some).ok_or_else(|| format!("{other:?} is not a whole number")),
    }
}

/// The queues' URLs and ARNs.
#[derive(Clone, Debug)]
pub struct Queues {
    pub queue_url: String,
    pub queue_arn: String,
    pub dead_letter_url: String,
    pub dead_letter_arn: String,
    /// Whether each was created now (false: it existed, and its settings were brought in line).
    pub created: (bool, bool),
}

fn sdk_error<E>(what: &str, err: aws_sdk_sqs::error::SdkError<E>) -> String
where
    E: std::error::Error + 'static,
{
    format!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(err))
}

/// Creates the queue unless it exists, then sets `attributes` on it (so running again after the
/// template changed brings an existing queue in line). Returns (url, arn, created).
async fn ensure_queue(
    client: &Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<(String, String, bool), String> {
    let existed = client.get_queue_url().queue_name(name).send().await.is_ok();
    // Without attributes CreateQueue is idempotent: it answers the URL of an existing queue.
    let url = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("CreateQueue {name}"), e))?
        .queue_url
        .ok_or_else(|| format!("CreateQueue {name}: no QueueUrl in the answer"))?;
    if !attributes.is_empty() {
        client
            .set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("SetQueueAttributes {name}"), e))?;
    }
    let arn = queue_arn(client, &url).await?;
    Ok((url, arn, !existed))
}

/// The queue's ARN (`GetQueueAttributes QueueArn`).
pub async fn queue_arn(client: &Client, url: &str) -> Result<String, String> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("GetQueueAttributes {url}"), e))?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| format!("GetQueueAttributes {url}: no QueueArn"))
}

/// The dead-letter queue, then the delivery queue redriving to it: idempotent.
pub async fn ensure_queues(client: &Client, prefix: &str, spec: &QueueSpec) -> Result<Queues, String> {
    let (name, dead_letter_name) = names(prefix);
    let mut dead_letter_attributes = HashMap::new();
    if let Some(seconds) = spec.dead_letter_retention {
        dead_letter_attributes.insert(QueueAttributeName::MessageRetentionPeriod, seconds.to_string());
    }
    let (dead_letter_url, dead_letter_arn, dead_letter_created) =
        ensure_queue(client, &dead_letter_name, dead_letter_attributes).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": spec.max_receive_count.to_string(),
    });
    let mut attributes = HashMap::from([
        (QueueAttributeName::VisibilityTimeout, spec.visibility_timeout.to_string()),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ]);
    if let Some(seconds) = spec.retention {
        attributes.insert(QueueAttributeName::MessageRetentionPeriod, seconds.to_string());
    }
    let (queue_url, queue_arn, created) = ensure_queue(client, &name, attributes).await?;
    Ok(Queues {
        queue_url,
        queue_arn,
        dead_letter_url,
        dead_letter_arn,
        created: (created, dead_letter_created),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_settings_win_over_the_defaults() {
        let template = r#"
Parameters:
  DeliveryMaxReceives:
    Type: Number
    Default: 7
Resources:
  DeliveryDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  DeliveryQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: "420"
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeliveryDeadLetterQueue.Arn
        maxReceiveCount: !Ref DeliveryMaxReceives
"#;
        let spec = spec_from_str(template).unwrap();
        assert_eq!(
            spec,
            QueueSpec {
                visibility_timeout: 420,
                max_receive_count: 7,
                retention: None,
                dead_letter_retention: Some(1_209_600)
            }
        );
    }

    #[test]
    fn without_the_resources_the_defaults_stand_in() {
        assert_eq!(spec_from_str("Resources: {}\n").unwrap(), QueueSpec::default());
        assert_eq!(QueueSpec::default().visibility_timeout, 360);
        assert_eq!(QueueSpec::default().max_receive_count, 5);
        let bad = "Resources:\n  DeliveryQueue:\n    Properties:\n      VisibilityTimeout: !If [a, 1, 2]\n";
        assert!(spec_from_str(bad).unwrap_err().contains("VisibilityTimeout"));
    }

    #[test]
    fn the_real_template_is_readable() {
        let spec = spec_from_template(&crate::table::template_path()).unwrap();
        assert!(spec.visibility_timeout > 0 && spec.max_receive_count > 0, "{spec:?}");
    }
}
