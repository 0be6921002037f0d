//! Paths and payload templates of the Amazon States Language: reference paths (`$.a.b[0]`),
//! the context object (`$$.Execution.Id`), `ResultPath` assignment, payload templates with
//! `.$` keys, and the intrinsic functions the project's definitions use.

use serde_json::{Map, Value};

use super::AslError;

/// One step of a reference path.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
}

/// Parses `$`, `$.a.b`, `$.a[0]`, `$['a b']` (after the leading `$` or `$$`).
fn parse_steps(path: &str) -> Result<Vec<Step>, AslError> {
    let bad = || AslError::Runtime("States.Runtime".into(), format!("invalid path {path}"));
    let rest = path
        .strip_prefix("$$")
        .or_else(|| path.strip_prefix('$'))
        .ok_or_else(bad)?;
    let mut steps = Vec::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                if i == start {
                    return Err(bad());
                }
                steps.push(Step::Field(chars[start..i].iter().collect()));
            }
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or_else(bad)?;
                let inner: String = chars[i + 1..close].iter().collect();
                if let Some(quoted) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(Step::Field(quoted.to_owned()));
                } else {
                    steps.push(Step::Index(inner.trim().parse().map_err(|_| bad())?));
                }
                i = close + 1;
            }
            _ => return Err(bad()),
        }
    }
    Ok(steps)
}

/// Reads a path from `input` (or from `context` for `$$` paths). A path that names nothing
/// is a `States.Runtime` error, as in Step Functions.
pub fn read(path: &str, input: &Value, context: &Value) -> Result<Value, AslError> {
    let root = if path.starts_with("$$") {
        context
    } else {
        input
    };
    let mut current = root;
    for step in parse_steps(path)? {
        let next = match (&step, current) {
            (Step::Field(name), Value::Object(map)) => map.get(name),
            (Step::Index(i), Value::Array(list)) => list.get(*i),
            _ => None,
        };
        current = next.ok_or_else(|| {
            AslError::Runtime(
                "States.Runtime".into(),
                format!("the path {path} names nothing in the input"),
            )
        })?;
    }
    Ok(current.clone())
}

/// Whether a path names something (for `IsPresent`).
pub fn exists(path: &str, input: &Value, context: &Value) -> bool {
    read(path, input, context).is_ok()
}

/// Applies `ResultPath`: `None` (JSON null) keeps the input, `$` replaces it, a deeper path
/// sets the result there, creating objects on the way.
pub fn assign(input: &Value, result_path: Option<&str>, result: Value) -> Result<Value, AslError> {
    let Some(path) = result_path else {
        return Ok(input.clone());
    };
    let steps = parse_steps(path)?;
    if steps.is_empty() {
        return Ok(result);
    }
    let mut output = input.clone();
    let mut current = &mut output;
    for (i, step) in steps.iter().enumerate() {
        let Step::Field(name) = step else {
            return Err(AslError::Runtime(
                "States.ResultPathMatchFailure".into(),
                format!("ResultPath {path} cannot index an array"),
            ));
        };
        if !current.is_object() {
            if current.is_null() {
                *current = Value::Object(Map::new());
            } else {
                return Err(AslError::Runtime(
                    "States.ResultPathMatchFailure".into(),
                    format!("ResultPath {path} does not match the input"),
                ));
            }
        }
        let map = current.as_object_mut().expect("checked above");
        if i == steps.len() - 1 {
            map.insert(name.clone(), result);
            return Ok(output);
        }
        current = map.entry(name.clone()).or_insert(Value::Object(Map::new()));
    }
    Ok(output)
}

/// Resolves a payload template: keys ending in `.$` take the value of a path or an intrinsic
/// function call; everything else is copied.
pub fn template(template: &Value, input: &Value, context: &Value) -> Result<Value, AslError> {
    match template {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let expression = value.as_str().ok_or_else(|| {
                            AslError::Runtime(
                                "States.Runtime".into(),
                                format!(
                                    "the value of {key} must be a path or an intrinsic function"
                                ),
                            )
                        })?;
                        out.insert(name.to_owned(), evaluate(expression, input, context)?);
                    }
                    None => {
                        out.insert(key.clone(), template_value(value, input, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        other => template_value(other, input, context),
    }
}

fn template_value(value: &Value, input: &Value, context: &Value) -> Result<Value, AslError> {
    match value {
        Value::Object(_) => template(value, input, context),
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|v| template_value(v, input, context))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

/// Evaluates a path or an intrinsic function call.
pub fn evaluate(expression: &str, input: &Value, context: &Value) -> Result<Value, AslError> {
    let expression = expression.trim();
    if expression.starts_with('$') {
        return read(expression, input, context);
    }
    let mut parser = Parser {
        text: expression.chars().collect(),
        at: 0,
        input,
        context,
    };
    let value = parser.call()?;
    parser.skip_spaces();
    if parser.at != parser.text.len() {
        return Err(parser.error("unexpected text after the call"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: Vec<char>,
    at: usize,
    input: &'a Value,
    context: &'a Value,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> AslError {
        let text: String = self.text.iter().collect();
        AslError::Runtime(
            "States.IntrinsicFailure".into(),
            format!("{what} in {text}"),
        )
    }

    fn skip_spaces(&mut self) {
        while self.at < self.text.len() && self.text[self.at].is_whitespace() {
            self.at += 1;
        }
    }

    fn call(&mut self) -> Result<Value, AslError> {
        self.skip_spaces();
        let start = self.at;
        while self.at < self.text.len()
            && (self.text[self.at].is_alphanumeric() || self.text[self.at] == '.')
        {
            self.at += 1;
        }
        let name: String = self.text[start..self.at].iter().collect();
        if self.text.get(self.at) != Some(&'(') {
            return Err(self.error("expected an intrinsic function call"));
        }
        self.at += 1;
        let mut args = Vec::new();
        loop {
            self.skip_spaces();
            if self.text.get(self.at) == Some(&')') {
                self.at += 1;
                break;
            }
            args.push(self.argument()?);
            self.skip_spaces();
            match self.text.get(self.at) {
                Some(',') => self.at += 1,
                Some(')') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(self.error("expected , or )")),
            }
        }
        intrinsic(&name, args).map_err(|why| self.error(&why))
    }

    fn argument(&mut self) -> Result<Value, AslError> {
        match self.text.get(self.at) {
            Some('\'') => {
                self.at += 1;
                let mut text = String::new();
                while let Some(&c) = self.text.get(self.at) {
                    self.at += 1;
                    match c {
                        '\\' => {
                            if let Some(&escaped) = self.text.get(self.at) {
                                text.push(escaped);
                                self.at += 1;
                            }
                        }
                        '\'' => return Ok(Value::String(text)),
                        c => text.push(c),
                    }
                }
                Err(self.error("unterminated string"))
            }
            Some('$') => {
                let start = self.at;
                while self.at < self.text.len() && !matches!(self.text[self.at], ',' | ')') {
                    self.at += 1;
                }
                let path: String = self.text[start..self.at].iter().collect();
                read(path.trim(), self.input, self.context)
            }
            Some(c) if c.is_ascii_digit() || *c == '-' => {
                let start = self.at;
                while self.at < self.text.len()
                    && (self.text[self.at].is_ascii_digit()
                        || matches!(self.text[self.at], '-' | '.'))
                {
                    self.at += 1;
                }
                let number: String = self.text[start..self.at].iter().collect();
                serde_json::from_str(&number).map_err(|_| self.error("invalid number"))
            }
            _ => {
                for (word, value) in [
                    ("null", Value::Null),
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                ] {
                    let end = self.at + word.len();
                    if end <= self.text.len()
                        && self.text[self.at..end].iter().collect::<String>() == word
                    {
                        self.at = end;
                        return Ok(value);
                    }
                }
                self.call()
            }
        }
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The intrinsic functions the interpreter supports.
pub const INTRINSICS: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayLength",
    "States.ArrayGetItem",
    "States.MathAdd",
    "States.UUID",
];

fn intrinsic(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("{name} takes {n} arguments"))
        }
    };
    match name {
        "States.Format" => {
            let template = args
                .first()
                .and_then(Value::as_str)
                .ok_or("States.Format needs a template string")?;
            let mut values = args[1..].iter();
            let mut out = String::new();
            let mut rest = template;
            while let Some(at) = rest.find("{}") {
                out.push_str(&rest[..at]);
                out.push_str(&text_of(
                    values
                        .next()
                        .ok_or("States.Format has more {} than arguments")?,
                ));
                rest = &rest[at + 2..];
            }
            out.push_str(rest);
            if values.next().is_some() {
                return Err("States.Format has more arguments than {}".into());
            }
            Ok(Value::String(out))
        }
        "States.StringToJson" => {
            arity(1)?;
            let text = args[0]
                .as_str()
                .ok_or("States.StringToJson needs a string")?;
            serde_json::from_str(text).map_err(|e| format!("States.StringToJson: {e}"))
        }
        "States.JsonToString" => {
            arity(1)?;
            Ok(Value::String(args[0].to_string()))
        }
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayLength" => {
            arity(1)?;
            Ok(Value::from(
                args[0]
                    .as_array()
                    .ok_or("States.ArrayLength needs an array")?
                    .len(),
            ))
        }
        "States.ArrayGetItem" => {
            arity(2)?;
            let list = args[0]
                .as_array()
                .ok_or("States.ArrayGetItem needs an array")?;
            let index = args[1]
                .as_u64()
                .ok_or("States.ArrayGetItem needs an index")? as usize;
            list.get(index)
                .cloned()
                .ok_or_else(|| "States.ArrayGetItem index out of range".into())
        }
        "States.MathAdd" => {
            arity(2)?;
            let (a, b) = (
                args[0].as_i64().ok_or("States.MathAdd needs integers")?,
                args[1].as_i64().ok_or("States.MathAdd needs integers")?,
            );
            Ok(Value::from(a + b))
        }
        "States.UUID" => {
            arity(0)?;
            Ok(Value::String(ulid::Ulid::new().to_string()))
        }
        other => Err(format!(
            "the intrinsic function {other} is not supported locally (supported: {})",
            INTRINSICS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_fields_indexes_and_the_context_object() {
        let input = json!({"a": {"b": [10, {"c": "x"}]}, "odd key": 1});
        let context = json!({"Execution": {"Id": "exec-1"}});
        assert_eq!(read("$", &input, &context).unwrap(), input);
        assert_eq!(read("$.a.b[1].c", &input, &context).unwrap(), json!("x"));
        assert_eq!(read("$['odd key']", &input, &context).unwrap(), json!(1));
        assert_eq!(
            read("$$.Execution.Id", &input, &context).unwrap(),
            json!("exec-1")
        );
        assert!(read("$.missing", &input, &context).is_err());
    }

    #[test]
    fn result_path_replaces_discards_or_sets_deep() {
        let input = json!({"keep": 1});
        assert_eq!(assign(&input, Some("$"), json!(2)).unwrap(), json!(2));
        assert_eq!(assign(&input, None, json!(2)).unwrap(), input);
        assert_eq!(
            assign(&input, Some("$.out.value"), json!(2)).unwrap(),
            json!({"keep": 1, "out": {"value": 2}})
        );
        assert!(assign(&json!({"keep": 1}), Some("$.keep.deeper"), json!(2)).is_err());
    }

    #[test]
    fn templates_resolve_paths_and_intrinsics_recursively() {
        let input = json!({"id": "e1", "n": 2, "list": [1, 2, 3], "doc": "{\"k\":true}"});
        let context = json!({"Task": {"Token": "tok"}});
        let payload = json!({
            "static": "s",
            "id.$": "$.id",
            "token.$": "$$.Task.Token",
            "nested": {"label.$": "States.Format('exec {} has {} items', $.id, States.ArrayLength($.list))"},
            "sum.$": "States.MathAdd($.n, 40)",
            "parsed.$": "States.StringToJson($.doc)",
            "pair.$": "States.Array('a', null, true)"
        });
        assert_eq!(
            template(&payload, &input, &context).unwrap(),
            json!({
                "static": "s", "id": "e1", "token": "tok",
                "nested": {"label": "exec e1 has 3 items"},
                "sum": 42, "parsed": {"k": true}, "pair": ["a", null, true]
            })
        );
        let unsupported = evaluate("States.Hash($.id, 'SHA-1')", &input, &context).unwrap_err();
        assert!(unsupported.to_string().contains("not supported locally"));
    }
}
