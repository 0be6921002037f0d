//! JSON merge patch (RFC 7386): how every `PATCH` body changes a record.

use serde_json::Value as Json;

/// Applies `patch` to `target`: objects merge, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Json, patch: Json) {
    match (target, patch) {
        (Json::Object(target), Json::Object(patch)) => {
            for (name, value) in patch {
                if value.is_null() {
                    target.remove(&name);
                } else {
                    merge_patch(target.entry(name).or_insert(Json::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

/// The first field a patch names that the document's JSON Schema does not have (with its
/// path, e.g. `brand_voice.tonne`): a removal (`null`) of a field that does not exist would
/// change nothing, so a misspelt field name would pass silently.
pub fn unknown_field(patch: &Json, schema: &Json) -> Option<String> {
    let (Json::Object(patch), Some(properties)) = (patch, properties_of(schema)) else {
        return None;
    };
    for (name, value) in patch {
        match properties.get(name) {
            None => return Some(name.clone()),
            Some(property) => {
                if let Some(inner) = unknown_field(value, property) {
                    return Some(format!("{name}.{inner}"));
                }
            }
        }
    }
    None
}

/// The properties of an object schema, also when it is one option of `anyOf` (as an optional
/// object is).
fn properties_of(schema: &Json) -> Option<&serde_json::Map<String, Json>> {
    schema
        .get("properties")
        .and_then(Json::as_object)
        .or_else(|| {
            ["anyOf", "oneOf"]
                .iter()
                .filter_map(|key| schema.get(*key).and_then(Json::as_array))
                .flatten()
                .find_map(properties_of)
        })
}

#[cfg(test)]
mod tests {
    use super::{merge_patch, unknown_field};
    use serde_json::json;

    #[test]
    fn a_merge_patch_merges_objects_removes_nulls_and_replaces_the_rest() {
        let mut doc = json!({"name": "A", "brand_voice": {"tone": "bold", "audience": "CTOs"}, "tags": ["x"]});
        merge_patch(
            &mut doc,
            json!({"brand_voice": {"tone": null, "guidelines": "short"}, "tags": ["y", "z"]}),
        );
        assert_eq!(
            doc,
            json!({"name": "A", "brand_voice": {"audience": "CTOs", "guidelines": "short"}, "tags": ["y", "z"]})
        );
    }

    #[test]
    fn a_patch_naming_a_field_the_document_lacks_is_caught_even_as_a_removal() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "brand_voice": {"anyOf": [{"type": "object", "properties": {"tone": {"type": "string"}}}, {"type": "null"}]},
        }});
        assert_eq!(unknown_field(&json!({"name": null}), &schema), None);
        assert_eq!(
            unknown_field(&json!({"nmae": null}), &schema),
            Some("nmae".into())
        );
        assert_eq!(
            unknown_field(&json!({"brand_voice": {"tonne": null}}), &schema),
            Some("brand_voice.tonne".into())
        );
        assert_eq!(unknown_field(&json!({"brand_voice": null}), &schema), None);
    }
}
