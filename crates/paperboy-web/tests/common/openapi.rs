//! Checks API responses against the served OpenAPI document: the subset of JSON Schema the
//! document uses (`$ref`, `allOf`, `type` with nullable lists, `enum`, `required`,
//! `properties`, `additionalProperties: false`, `items`, `minimum`, `maximum`, date formats).

use serde_json::Value;

pub struct OpenApi(pub Value);

impl OpenApi {
    /// Panics, naming the first mismatch, unless `body` is what the document promises for
    /// `route` answering `status` (its first method: a route's methods answer alike).
    pub fn check(&self, route: &str, status: u16, body: &Value) {
        let operation = ["get", "post", "put", "delete"]
            .iter()
            .map(|method| &self.0["paths"][route][method])
            .find(|operation| operation.is_object())
            .unwrap_or_else(|| panic!("the document has no {route}"));
        let response = self.resolve(&operation["responses"][status.to_string()]);
        assert!(
            response.is_object(),
            "the document has no {status} answer for {route}"
        );
        let schema = &response["content"]["application/json"]["schema"];
        if let Err(mismatch) = self.validate(schema, body, "$") {
            panic!("{route} {status}: {mismatch}\nbody: {body}");
        }
    }

    fn resolve<'a>(&'a self, node: &'a Value) -> &'a Value {
        match node["$ref"].as_str() {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.resolve(self.0.pointer(pointer).unwrap_or(&Value::Null))
            }
            None => node,
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        assert!(
            schema.is_object(),
            "{at}: a schema that resolves to nothing"
        );
        if let Some(parts) = schema["allOf"].as_array() {
            for part in parts {
                self.validate(part, value, at)?;
            }
        }
        if let Some(types) = types(&schema["type"])
            && !types.iter().any(|kind| is_type(value, kind))
        {
            return Err(format!("{at}: {value} is not of type {types:?}"));
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
        if let Some(number) = value.as_f64() {
            if schema["minimum"]
                .as_f64()
                .is_some_and(|minimum| number < minimum)
            {
                return Err(format!("{at}: {number} is under the minimum"));
            }
            if schema["maximum"]
                .as_f64()
                .is_some_and(|maximum| number > maximum)
            {
                return Err(format!("{at}: {number} is over the maximum"));
            }
        }
        if let Some(text) = value.as_str() {
            match schema["format"].as_str() {
                Some("date") if chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err() => {
                    return Err(format!("{at}: {text:?} is not a date"));
                }
                Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
                    return Err(format!("{at}: {text:?} is not a date-time"));
                }
                _ => {}
            }
        }
        if let Some(object) = value.as_object() {
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Err(format!("{at}: {name} is missing"));
                }
            }
            let properties = schema["properties"].as_object();
            for (name, item) in object {
                match properties.and_then(|properties| properties.get(name)) {
                    Some(property) => self.validate(property, item, &format!("{at}.{name}"))?,
                    None if schema["additionalProperties"] == Value::Bool(false) => {
                        return Err(format!("{at}: {name} is not in the document"));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.validate(items, item, &format!("{at}[{index}]"))?;
            }
        }
        Ok(())
    }
}

fn types(node: &Value) -> Option<Vec<&str>> {
    match node {
        Value::String(kind) => Some(vec![kind.as_str()]),
        Value::Array(kinds) => Some(kinds.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn is_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}
