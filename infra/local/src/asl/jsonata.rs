//! The JSONata query language of the Amazon States Language: `{% … %}` strings evaluated with
//! `$states` (`input`, `result`, `errorOutput`, `context`) and the workflow variables, plus the
//! functions Step Functions adds (`$partition`, `$range`, `$hash`, `$parse`; `$uuid` and
//! `$random` are JSONata's own). Expressions run on `jsonata-rs`, an implementation of JSONata
//! that lacks a few functions of the reference one (`MISSING`): a definition calling one is
//! refused at load. What the library cannot do with an expression (it panics on a few) fails
//! the state with `States.QueryEvaluationError` instead of the interpreter.

use std::panic::{catch_unwind, AssertUnwindSafe};

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

/// Reference JSONata functions `jsonata-rs` does not have.
const MISSING: &[&str] = &[
    "formatNumber",
    "formatBase",
    "formatInteger",
    "parseInteger",
    "shuffle",
    "eval",
    "encodeUrl",
    "encodeUrlComponent",
    "decodeUrl",
    "decodeUrlComponent",
    "sift",
    "spread",
];

/// Runs `work` on the JSONata library, turning a panic of the library into an error.
fn guarded<T>(work: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!(
            "the JSONata implementation cannot evaluate this ({why})"
        ))
    })
}

/// Checks one expression at load: it reads no input document, parses, and calls no function
/// the library lacks.
fn check_expression(expression: &str) -> Result<(), String> {
    // "a JSONata expression MUST NOT reference \"$\" or unqualified field names at the top
    // level … MUST NOT reference \"$$\"" (specification, JSONata Restrictions).
    let text = expression.trim();
    if text == "$" || text.starts_with("$.") || text.starts_with("$[") || text.contains("$$") {
        return Err(
            "a JSONata expression in a state machine reads no input document ($ or $$): use $states.input or $states.context"
                .into(),
        );
    }
    for missing in MISSING {
        let call = format!("${missing}(");
        if expression.replace(' ', "").contains(&call) {
            return Err(format!(
                "the JSONata function ${missing} is not available locally (jsonata-rs lacks it)"
            ));
        }
    }
    guarded(|| {
        let arena = Bump::new();
        JsonAta::new(expression, &arena)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// Checks that every JSONata string in `value` (at any depth) parses; on error, where.
pub fn check(value: &Value, at: &str) -> Result<(), (String, String)> {
    match value {
        Value::String(text) => match expression(text) {
            Some(expression) => check_expression(expression)
                .map_err(|why| (at.to_owned(), format!("{text}: {why}"))),
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

/// How deep an expression may recurse, and how long it may run, before it fails (a runaway
/// expression fails its state instead of the interpreter's stack or time).
const MOST_DEPTH: usize = 200;
const MOST_MILLISECONDS: usize = 2_000;

/// `$states` as an expression reads it: its fields `input`, `context`, `result` (a Task's,
/// Map's or Parallel's) and `errorOutput` (in a Catcher), or only those the expression names
/// when it reads `$states.<field>` alone (copying a large input for every Map item made a
/// JSONata Map quadratic in its items).
fn states_for(expression: &str, sources: &Sources) -> Option<Value> {
    if !expression.contains("$states") {
        return None;
    }
    let whole = expression
        .match_indices("$states")
        .any(|(at, found)| !expression[at + found.len()..].starts_with('.'));
    let fields = [
        ("input", Some(sources.input)),
        ("context", Some(sources.context)),
        ("result", sources.result),
        ("errorOutput", sources.error_output),
    ];
    let states = fields
        .into_iter()
        .filter(|(name, _)| whole || expression.contains(name))
        .filter_map(|(name, value)| Some((name.to_owned(), value?.clone())))
        .collect();
    Some(Value::Object(states))
}

/// Evaluates one JSONata expression: `$states` and the variables in scope it names are bound;
/// there is no input document (the specification forbids reading one). An error, or a result
/// that is undefined, is `States.QueryEvaluationError`.
pub fn evaluate(expression: &str, sources: &Sources) -> Result<Value, AslError> {
    let states = states_for(expression, sources);
    // JSONata reads a variable only by its name, so one the text does not name is not bound.
    let mut variables: Vec<(&str, &Value)> = sources
        .variables
        .visible()
        .filter(|(name, _)| expression.contains(&format!("${name}")))
        .collect();
    if let Some(states) = &states {
        variables.push(("states", states));
    }
    // Bound directly, a variable would be hidden by a JSONata function of the same name
    // (`$count`, `$map`…); the reference JSONata lets the variable hide the function. So each
    // is bound as `$__v<i>` (no state machine variable starts with `_`) and rebound to its
    // name inside the expression.
    let rebinding: String = variables
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("${name} := $__v{i}; "))
        .collect();
    let wrapped = format!("({rebinding}{expression}\n)");
    let evaluated = guarded(|| {
        let arena = Bump::new();
        let jsonata = JsonAta::new(&wrapped, &arena).map_err(|e| e.to_string())?;
        for (i, (_, value)) in variables.iter().enumerate() {
            jsonata.assign_var(&format!("__v{i}"), node(&arena, value));
        }
        for (name, arity, function) in STEP_FUNCTIONS {
            jsonata.register_function(name, *arity, *function);
        }
        let result = jsonata
            .evaluate_timeboxed(None, Some(MOST_DEPTH), Some(MOST_MILLISECONDS))
            .map_err(|e| e.to_string())?;
        Ok((!result.is_undefined()).then(|| result.serialize(false)))
    })
    .map_err(|why| query_error(format!("{{% {expression} %}}: {why}")))?;
    let Some(json) = evaluated else {
        return Err(query_error(format!(
            "The JSONata expression '{expression}' returned nothing (undefined)"
        )));
    };
    serde_json::from_str(&json).map_err(query_error)
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
/// JSONata's `$average` and `$type`, which `jsonata-rs` lacks.
const STEP_FUNCTIONS: &[(&str, usize, Native)] = &[
    ("partition", 2, partition),
    ("range", 3, range),
    ("hash", 2, hash),
    ("parse", 1, parse),
    ("average", 1, average),
    ("type", 1, type_of),
];

/// `$type(value)`: `"null"`, `"number"`, `"string"`, `"boolean"`, `"array"`, `"object"` or
/// `"function"` (undefined for undefined).
fn type_of<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    args: &[&'a Node<'a>],
) -> jsonata_rs::Result<&'a Node<'a>> {
    let Some(arg) = args.first().filter(|a| !a.is_undefined()) else {
        return Ok(Node::undefined());
    };
    let name = if arg.is_null() {
        "null"
    } else if arg.is_number() {
        "number"
    } else if arg.is_string() {
        "string"
    } else if arg.is_bool() {
        "boolean"
    } else if arg.is_array() {
        "array"
    } else if arg.is_object() {
        "object"
    } else {
        "function"
    };
    Ok(Node::string(context.arena, name))
}

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
