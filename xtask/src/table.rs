//! The table definition lives once, in template.yaml's `Table` resource. This module reads it
//! and creates an identical table on the local DynamoDB-compatible server, and describes a live
//! table in the same terms so the two can be compared.

use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_yaml::Value;

/// The parts of a table definition that shape data access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// (name, type) sorted by name.
    pub attributes: Vec<(String, String)>,
    /// (name, HASH|RANGE) in schema order.
    pub key_schema: Vec<(String, String)>,
    /// Sorted by index name.
    pub indexes: Vec<IndexSpec>,
    pub billing_mode: String,
    pub ttl_attribute: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection: String,
}

pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("template.yaml")
}

/// Reads `Resources.Table.Properties` of the SAM template.
pub fn spec_from_template(path: &Path) -> Result<TableSpec, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Value = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let props = &doc["Resources"]["Table"]["Properties"];
    if props.is_null() {
        return Err("template.yaml has no Resources.Table.Properties".into());
    }
    let str_of = |v: &Value, what: &str| {
        v.as_str().map(str::to_string).ok_or_else(|| format!("{what} is not a string"))
    };
    let pairs = |v: &Value, a: &str, b: &str| -> Result<Vec<(String, String)>, String> {
        v.as_sequence()
            .ok_or_else(|| format!("expected a list with {a} and {b}"))?
            .iter()
            .map(|e| Ok((str_of(&e[a], a)?, str_of(&e[b], b)?)))
            .collect()
    };
    let mut attributes = pairs(&props["AttributeDefinitions"], "AttributeName", "AttributeType")?;
    attributes.sort();
    let key_schema = pairs(&props["KeySchema"], "AttributeName", "KeyType")?;
    let mut indexes = Vec::new();
    if let Some(list) = props["GlobalSecondaryIndexes"].as_sequence() {
        for gsi in list {
            indexes.push(IndexSpec {
                name: str_of(&gsi["IndexName"], "IndexName")?,
                key_schema: pairs(&gsi["KeySchema"], "AttributeName", "KeyType")?,
                projection: str_of(&gsi["Projection"]["ProjectionType"], "ProjectionType")?,
            });
        }
    }
    indexes.sort_by(|a, b| a.name.cmp(&b.name));
    let ttl = &props["TimeToLiveSpecification"];
    let ttl_attribute = match ttl["Enabled"].as_bool() {
        Some(true) => Some(str_of(&ttl["AttributeName"], "TimeToLiveSpecification.AttributeName")?),
        _ => None,
    };
    Ok(TableSpec {
        attributes,
        key_schema,
        indexes,
        billing_mode: str_of(&props["BillingMode"], "BillingMode")?,
        ttl_attribute,
    })
}

fn key_element((name, kind): &(String, String)) -> Result<KeySchemaElement, String> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(KeyType::from(kind.as_str()))
        .build()
        .map_err(|e| e.to_string())
}

/// Creates `table` from `spec` unless it exists; returns whether it created it.
pub async fn ensure_table(client: &Client, table: &str, spec: &TableSpec) -> Result<bool, String> {
    if client.describe_table().table_name(table).send().await.is_ok() {
        return Ok(false);
    }
    let mut create =
        client.create_table().table_name(table).billing_mode(BillingMode::from(spec.billing_mode.as_str()));
    for (name, kind) in &spec.attributes {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for element in &spec.key_schema {
        create = create.key_schema(key_element(element)?);
    }
    for index in &spec.indexes {
        let mut gsi = GlobalSecondaryIndex::builder().index_name(&index.name).projection(
            Projection::builder().projection_type(ProjectionType::from(index.projection.as_str())).build(),
        );
        for element in &index.key_schema {
            gsi = gsi.key_schema(key_element(element)?);
        }
        create = create.global_secondary_indexes(gsi.build().map_err(|e| e.to_string())?);
    }
    create
        .send()
        .await
        .map_err(|e| format!("CreateTable {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    if let Some(attribute) = &spec.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| {
                format!("UpdateTimeToLive {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
    }
    Ok(true)
}

/// Describes a live table in [`TableSpec`] terms.
pub async fn describe(client: &Client, table: &str) -> Result<TableSpec, String> {
    let out = client.describe_table().table_name(table).send().await.map_err(|e| e.to_string())?;
    let t = out.table.ok_or("DescribeTable returned no table")?;
    let pairs_of = |schema: &[KeySchemaElement]| -> Vec<(String, String)> {
        schema.iter().map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string())).collect()
    };
    let mut attributes: Vec<(String, String)> = t
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name().to_string(), a.attribute_type().as_str().to_string()))
        .collect();
    attributes.sort();
    let mut indexes: Vec<IndexSpec> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| IndexSpec {
            name: g.index_name().unwrap_or_default().to_string(),
            key_schema: pairs_of(g.key_schema()),
            projection: g
                .projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
        })
        .collect();
    indexes.sort_by(|a, b| a.name.cmp(&b.name));
    let billing_mode = t
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".into());
    let ttl = client.describe_time_to_live().table_name(table).send().await.map_err(|e| e.to_string())?;
    let ttl_attribute = ttl
        .time_to_live_description()
        .filter(|d| d.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED"))
        .and_then(|d| d.attribute_name().map(str::to_string));
    Ok(TableSpec { attributes, key_schema: pairs_of(t.key_schema()), indexes, billing_mode, ttl_attribute })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_table_from_the_template() {
        let spec = spec_from_template(&template_path()).unwrap();
        assert_eq!(spec.key_schema, [("PK".into(), "HASH".into()), ("SK".into(), "RANGE".into())]);
        assert_eq!(spec.billing_mode, "PAY_PER_REQUEST");
        assert!(spec.indexes.iter().any(|i| i.name == "GSI1"));
        assert!(spec.ttl_attribute.is_some());
    }
}
