//! Entity ↔ item mapping: entities are serialised with serde into the table's attribute
//! values, so every entity has exactly one stored shape.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;
use crate::ports::table::{Item, Key, Value, PK, SK};

/// The attribute naming an item's entity type.
pub const TYPE: &str = "type";

/// Converts JSON into an attribute value; fractional numbers are refused (this product
/// keeps every number exact).
pub fn value_from_json(json: serde_json::Value) -> Result<Value, String> {
    Ok(match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::N(
            n.as_i64()
                .ok_or_else(|| format!("number {n} is not an integer"))?,
        ),
        serde_json::Value::String(s) => Value::S(s),
        serde_json::Value::Array(list) => Value::L(
            list.into_iter()
                .map(value_from_json)
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(map) => Value::M(
            map.into_iter()
                .map(|(k, v)| Ok((k, value_from_json(v)?)))
                .collect::<Result<BTreeMap<_, _>, String>>()?,
        ),
    })
}

/// Converts an attribute value into JSON.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::N(n) => serde_json::Value::from(*n),
        Value::S(s) => serde_json::Value::String(s.clone()),
        Value::L(list) => serde_json::Value::Array(list.iter().map(value_to_json).collect()),
        Value::M(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
    }
}

/// Serialises an entity into an item at `key`, tagged with its entity type.
pub fn to_item<T: Serialize>(entity: &T, key: &Key, entity_type: &str) -> Result<Item, Error> {
    let json = serde_json::to_value(entity).map_err(Error::internal)?;
    let Value::M(mut item) = value_from_json(json).map_err(Error::internal)? else {
        return Err(Error::internal(format!(
            "{entity_type} does not serialise to a map"
        )));
    };
    item.insert(PK.to_owned(), Value::S(key.pk.clone()));
    item.insert(SK.to_owned(), Value::S(key.sk.clone()));
    item.insert(TYPE.to_owned(), Value::S(entity_type.to_owned()));
    Ok(item)
}

/// Reads an entity back from its item; the key and type attributes are ignored.
pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, Error> {
    let json = serde_json::Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    );
    serde_json::from_value(json)
        .map_err(|e| Error::internal(format!("stored item does not match its entity: {e}")))
}

/// An attribute value from any serialisable value.
pub fn value_of<T: Serialize>(value: &T) -> Result<Value, Error> {
    value_from_json(serde_json::to_value(value).map_err(Error::internal)?).map_err(Error::internal)
}

/// Decodes JSON into a typed request; the error names the field at fault. Objects must be
/// objects: an array where a struct belongs is a wrong type.
pub fn decode_json<T: DeserializeOwned>(json: serde_json::Value) -> Result<T, Error> {
    crate::domain::objects_only::decode(json).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::resources::{BrandVoice, CompanyDraft};

    #[test]
    fn an_entity_round_trips_through_its_item() {
        let draft = CompanyDraft {
            name: "Acme".into(),
            website: Some("https://acme.example".into()),
            description: None,
            brand_voice: BrandVoice {
                banned_phrases: vec!["synergy".into()],
                ..Default::default()
            },
            privacy: Default::default(),
        };
        let record = crate::app::records::Record {
            id: "cmp_1".to_owned(),
            data: draft,
            created_by: crate::domain::ids::UserId::generate(),
            created_at: "2026-11-21T12:00:00Z".to_owned(),
            updated_at: "2026-11-21T12:00:00Z".to_owned(),
            version: 3,
        };
        let key = Key::new("TEAM#t", "COMPANY#c");
        let item = to_item(&record, &key, "company").unwrap();
        assert_eq!(item.get("PK"), Some(&Value::S("TEAM#t".into())));
        assert_eq!(item.get("type"), Some(&Value::S("company".into())));
        let Some(Value::M(data)) = item.get("data") else {
            panic!("the draft is stored as a map under data");
        };
        assert!(
            !data.contains_key("description"),
            "absent options are not stored"
        );
        let back: crate::app::records::Record<CompanyDraft> = from_item(&item).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn fractional_numbers_are_refused() {
        assert!(value_from_json(serde_json::json!(1.5)).is_err());
        assert_eq!(value_from_json(serde_json::json!(-7)), Ok(Value::N(-7)));
    }
}
