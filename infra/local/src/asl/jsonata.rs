//! The JSONata query language of the Amazon States Language: `{% … %}` strings evaluated with
//! `$states` (`input`, `result`, `errorOutput`, `context`) and the workflow variables, plus the
//! functions Step Functions adds (`$partition`, `$range`, `$hash`, `$parse`; `$uuid` and
//! `$random` are JSONata's own). Expressions run on `jsonata-rs`, an implementation of JSONata
//! that does not have every function of the reference one: a call to one it lacks fails the
//! state with `States.QueryEvaluationError`, naming it.

use bumpalo::Bump;
use jsonata_rs::{ArrayFlags, JsonAta, Value as Node};
use serde_json::{Map, Value};

use super::paths::{intrinsic_on_values, Sources};
use super::AslError;

/// The expression inside a JSONata string (`{% expression %}`), if it is one.
pub fn expression(text: &str) -> Option<&str> {
    text.trim()
        .strip_prefix("{%")
        .and_then(|rest| rest.strip_suffix("%}"))
}

fn query_error(why: impl std::fmt::Display) -> AslError {
    AslError::Runtime("States.QueryEvaluationError".into(), why.to_string())
}

/// Checks that every JSONata string in `value` (at any depth) parses; on error, where.
pub fn check(value: &Value, at: &str) -> Result<(), (String, String)> {
    match value {
        Value::String(text) => match expression(text) {
            Some(expression) => {
                let arena = Bump::new();
                JsonAta::new(expression, &arena)
                    .map(|_| ())
                    .map_err(|e| (at.to_owned(), format!("{text}: {e}")))
            }
            None => Ok(()),
        },
        Value::Object(fields) => fields
            .iter()
            .try_for_each(|(key, value)| check(value, &format!("{at}.{key}"))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check(item, &format!("{at}[{i}]"))),
        _ => Ok(()),
    }
}

/// Evaluates `value` as a field that accepts JSONata: every JSONata string in it (at any depth)
/// is replaced by the value of its expression; everything else is copied.
pub fn template(value: &Value, sources: &Sources) -> Result<Value, AslError> {
    match value {
        Value::String(text) => match expression(text) {
            Some(expression) => evaluate(expression, sources),
            None => Ok(value.clone()),
        },
        Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| Ok((key.clone(), template(value, sources)?)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        Value::Array(items) => items
            .iter()
            .map(|item| template(item, sources))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// The prefix of the names the variables are bound under before the expression rebinds them to
/// their own names: bound directly, they would be hidden by JSONata's functions of the same name
/// (`$count`, `$map`…), which the reference JSONata lets a variable hide.
const BOUND: &str = "sfn_bound_";

/// How deep an expression may recurse, and how long it may run, before it fails (a runaway
/// expression fails its state instead of the interpreter's stack or time).
const MOST_DEPTH: usize = 200;
const MOST_MILLISECONDS: usize = 2_000;

/// Evaluates one JSONata expression: `$states` and the variables in scope are bound; there is
/// no input document (the specification forbids reading one). An error, or a result that is
/// undefined, is `States.QueryEvaluationError`.
pub fn evaluate(expression: &str, sources: &Sources) -> Result<Value, AslError> {
    let mut states = serde_json::json!({"input": sources.input, "context": sources.context});
    if let Some(result) = sources.result {
        states["result"] = result.clone();
    }
    if let Some(error_output) = sources.error_output {
        states["errorOutput"] = error_output.clone();
    }
    let mut variables: Vec<(&str, &Value)> = sources.variables.visible().collect();
    variables.push(("states", &states));
    let rebinding: String = variables
        .iter()
        .map(|(name, _)| format!("${name} := ${BOUND}{name}; "))
        .collect();
    let wrapped = format!("({rebinding}{expression}\n)");
    let arena = Bump::new();
    let jsonata = JsonAta::new(&wrapped, &arena).map_err(query_error)?;
    for (name, value) in &variables {
        jsonata.assign_var(&format!("{BOUND}{name}"), node(&arena, value));
    }
    for (name, arity, function) in STEP_FUNCTIONS {
        jsonata.register_function(name, *arity, *function);
    }
    let result = jsonata
        .evaluate_timeboxed(None, Some(MOST_DEPTH), Some(MOST_MILLISECONDS))
        .map_err(|e| query_error(format!("{{% {expression} %}}: {e}")))?;
    if result.is_undefined() {
        return Err(query_error(format!(
            "The JSONata expression '{expression}' returned nothing (undefined)"
        )));
    }
    serde_json::from_str(&result.serialize(false)).map_err(query_error)
}

/// A JSON value as a JSONata one, in `arena`.
fn node<'a>(arena: &'a Bump, value: &Value) -> &'a Node<'a> {
    match value {
        Value::Null => Node::null(arena),
        Value::Bool(b) => Node::bool(*b),
        Value::Number(n) => Node::number(arena, n.as_f64().unwrap_or_default()),
        Value::String(s) => Node::string(arena, s),
        Value::Array(items) => {
            let array = Node::array_with_capacity(arena, items.len(), ArrayFlags::empty());
            for item in items {
                array.push(node(arena, item));
            }
            array
        }
        Value::Object(fields) => {
            let object = Node::object_with_capacity(arena, fields.len());
            for (key, value) in fields {
                object.insert(key, node(arena, value));
            }
            object
        }
    }
}

type Native = for<'a, 'e> fn(
    jsonata_rs::FunctionContext<'a, 'e>,
    &[&'a Node<'a>],
) -> jsonata_rs::Result<&'a Node<'a>>;

/// The functions Step Functions adds to JSONata (each the JSONata form of an intrinsic), and
/// JSONata's `$average`, which `jsonata-rs` lacks.
const STEP_FUNCTIONS: &[(&str, usize, Native)] = &[
    ("partition", 2, partition),
    ("range", 3, range),
    ("hash", 2, hash),
    ("parse", 1, parse),
    ("average", 1, average),
];

/// `$average(array)`: the mean of an array of numbers (undefined for an empty one).
fn average<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    args: &[&'a Node<'a>],
) -> jsonata_rs::Result<&'a Node<'a>> {
    let numbers: Vec<&Node> = match args.first() {
        Some(arg) if arg.is_array() => arg.members().collect(),
        Some(arg) if arg.is_undefined() => return Ok(Node::undefined()),
        Some(arg) => vec![*arg],
        None => Vec::new(),
    };
    if numbers.iter().any(|n| !n.is_number()) {
        return Err(jsonata_rs::Error::D3137Error(
            "$average needs an array of numbers".into(),
        ));
    }
    if numbers.is_empty() {
        return Ok(Node::undefined());
    }
    let sum: f64 = numbers.iter().map(|n| n.as_f64()).sum();
    Ok(Node::number(context.arena, sum / numbers.len() as f64))
}

/// Calls the intrinsic `name` on JSONata arguments.
fn through_intrinsic<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    name: &str,
    args: &[&'a Node<'a>],
) -> jsonata_rs::Result<&'a Node<'a>> {
    let values = args
        .iter()
        .map(|arg| serde_json::from_str(&arg.serialize(false)).unwrap_or(Value::Null))
        .collect();
    match intrinsic_on_values(name, values) {
        Ok(value) => Ok(node(context.arena, &value)),
        Err(why) => Err(jsonata_rs::Error::D3137Error(why)),
    }
}

/// `$partition(array, size)`: `States.ArrayPartition`.
fn partition<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    args: &[&'a Node<'a>],
) -> jsonata_rs::Result<&'a Node<'a>> {
    through_intrinsic(context, "States.ArrayPartition", args)
}

/// `$range(first, last, step)`: `States.ArrayRange`.
fn range<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    args: &[&'a Node<'a>],
) -> jsonata_rs::Result<&'a Node<'a>> {
    through_intrinsic(context, "States.ArrayRange", args)
}

/// `$hash(data, algorithm)`: `States.Hash`.
fn hash<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    args: &[&'a Node<'a>],
) -> jsonata_rs::Result<&'a Node<'a>> {
    through_intrinsic(context, "States.Hash", args)
}

/// `$parse(text)`: `States.StringToJson`.
fn parse<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    args: &[&'a Node<'a>],
) -> jsonata_rs::Result<&'a Node<'a>> {
    through_intrinsic(context, "States.StringToJson", args)
}
