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

#[cfg(test)]
mod tests {
    use super::merge_patch;
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
}
