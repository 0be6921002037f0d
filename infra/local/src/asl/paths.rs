//! Paths and payload templates of the Amazon States Language: reference paths (`$.a.b[0]`),
//! the context object (`$$.Execution.Id`), `ResultPath` assignment, payload templates with
//! `.$` keys, and every intrinsic function of the specification.

use serde_json::{Map, Value};

use super::variables::{split_reference, Variables};
use super::AslError;

/// What paths read: the input (`$`), the context object (`$$`) and the variables in scope
/// (`$name`).
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    /// What `$` names.
    pub input: &'a Value,
    /// What `$$` names.
    pub context: &'a Value,
    /// What `$name` names.
    pub variables: &'a Variables,
    /// The state's result, as JSONata's `$states.result` (JSONPath reads it as `$`).
    pub result: Option<&'a Value>,
    /// The error output in a Catcher, as JSONata's `$states.errorOutput`.
    pub error_output: Option<&'a Value>,
}

impl<'a> Sources<'a> {
    /// `input` as `$`, `context` as `$$`, and the variables (no result or error output yet).
    pub fn new(input: &'a Value, context: &'a Value, variables: &'a Variables) -> Sources<'a> {
        Sources {
            input,
            context,
            variables,
            result: None,
            error_output: None,
        }
    }

    /// The same, with the state's result (JSONata's `$states.result`).
    pub fn with_result(self, result: &'a Value) -> Sources<'a> {
        Sources {
            result: Some(result),
            ..self
        }
    }

    /// The same, with the error output of a Catcher (JSONata's `$states.errorOutput`).
    pub fn with_error_output(self, error_output: &'a Value) -> Sources<'a> {
        Sources {
            error_output: Some(error_output),
            ..self
        }
    }

    /// The value a path starts from, and the path to apply to it (starting with `$`).
    fn root(&self, path: &str) -> Result<(&'a Value, String), AslError> {
        if let Some(in_context) = path.strip_prefix("$$") {
            return Ok((self.context, format!("${in_context}")));
        }
        match split_reference(path) {
            Some((name, rest)) => {
                let value = self.variables.get(name).ok_or_else(|| {
                    AslError::Runtime(
                        "States.Runtime".into(),
                        format!("the variable ${name} has no value"),
                    )
                })?;
                Ok((value, rest))
            }
            None => Ok((self.input, path.to_owned())),
        }
    }
}

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

/// Reads a path from the input (`$…`), the context object (`$$…`) or a variable (`$name…`).
/// A reference path (`$.a.b[0]`) that names nothing is a `States.Runtime` error, as in Step
/// Functions; any other JSONPath (filters, wildcards, recursive descent, slices, unions) gives
/// the list of what it matches, as an indefinite path does there.
pub fn read(path: &str, sources: &Sources) -> Result<Value, AslError> {
    let (root, relative) = sources.root(path)?;
    let steps = match parse_steps(&relative) {
        Ok(steps) => steps,
        Err(not_a_reference) => {
            return query(&relative, path, root).unwrap_or(Err(not_a_reference))
        }
    };
    let mut current = root;
    for step in steps {
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

/// A JSONPath query (`relative`, starting with `$`, of the path as `written`) on `root`;
/// `None` if it is not JSONPath. An indefinite path (a wildcard, recursive descent, a filter, a
/// slice or a union) gives the list of its matches; a definite one (`$.list[-1]`) its one
/// match, or a `States.Runtime` error when it names nothing.
fn query(relative: &str, written: &str, root: &Value) -> Option<Result<Value, AslError>> {
    let parsed = serde_json_path::JsonPath::parse(relative).ok()?;
    let matches = parsed.query(root).all();
    let indefinite = ["*", "..", "?", ":", ","]
        .iter()
        .any(|mark| relative.contains(mark));
    Some(match (indefinite, matches.first()) {
        (true, _) => Ok(Value::Array(matches.into_iter().cloned().collect())),
        (false, Some(one)) => Ok((*one).clone()),
        (false, None) => Err(AslError::Runtime(
            "States.Runtime".into(),
            format!("the path {written} names nothing in the input"),
        )),
    })
}

/// Checks a path as the specification allows it where a path is read: a reference path or
/// any JSONPath, on the input, the context object or a variable. Gives the variable it reads,
/// if any.
fn check_path(path: &str) -> Result<Option<String>, AslError> {
    let (variable, relative) = match path.strip_prefix("$$") {
        Some(in_context) => (None, format!("${in_context}")),
        None => match split_reference(path) {
            Some((name, rest)) => (Some(name.to_owned()), rest),
            None => (None, path.to_owned()),
        },
    };
    match parse_steps(&relative) {
        Ok(_) => Ok(variable),
        Err(not_a_reference) => serde_json_path::JsonPath::parse(&relative)
            .map(|_| variable)
            .map_err(|e| match not_a_reference {
                AslError::Runtime(_, why) | AslError::Definition(why) => {
                    AslError::Definition(format!("{why}: {e}"))
                }
            }),
    }
}

/// Checks a reference path (the only kind `ResultPath` takes: it is written to).
pub fn check_reference_path(path: &str) -> Result<(), String> {
    parse_steps(path).map(|_| ()).map_err(|e| e.to_string())
}

/// Whether a path names something (for `IsPresent`).
pub fn exists(path: &str, sources: &Sources) -> bool {
    read(path, sources).is_ok()
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
pub fn template(template: &Value, sources: &Sources) -> Result<Value, AslError> {
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
                        // A path of the template that names nothing is the template's failure
                        // (catchable), not a runtime error of the interpreter.
                        let value = evaluate(expression, sources).map_err(|e| match e {
                            AslError::Runtime(name, why) if name == "States.Runtime" => {
                                AslError::Runtime("States.ParameterPathFailure".into(), why)
                            }
                            other => other,
                        })?;
                        out.insert(name.to_owned(), value);
                    }
                    None => {
                        out.insert(key.clone(), template_value(value, sources)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        other => template_value(other, sources),
    }
}

fn template_value(value: &Value, sources: &Sources) -> Result<Value, AslError> {
    match value {
        Value::Object(_) => template(value, sources),
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|v| template_value(v, sources))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

/// Evaluates a path or an intrinsic function call.
pub fn evaluate(expression: &str, sources: &Sources) -> Result<Value, AslError> {
    let expression = expression.trim();
    if expression.starts_with('$') {
        return read(expression, sources);
    }
    Parser::new(expression, Some(*sources))
        .whole()
        .map(|(value, _)| value)
}

/// Checks a path or an intrinsic function call without evaluating it: every function is one
/// the interpreter has, with the number of arguments it takes, and every path is well formed.
/// Gives the variables it reads.
pub fn check_expression(expression: &str) -> Result<Vec<String>, String> {
    let expression = expression.trim();
    let checked = match expression.starts_with('$') {
        true => check_path(expression).map(|variable| variable.into_iter().collect()),
        false => Parser::new(expression, None)
            .whole()
            .map(|(_, variables)| variables),
    };
    checked.map_err(|e| match e {
        AslError::Runtime(_, why) | AslError::Definition(why) => why,
    })
}

/// A literal string argument as written: its text with the escapes resolved, and whether a
/// brace in it was escaped (`States.Format` reads `\{` `\}` as literal braces).
struct Literal {
    text: String,
    /// The characters of `text` that were escaped.
    escaped: Vec<bool>,
}

struct Parser<'a> {
    text: Vec<char>,
    at: usize,
    /// What paths read; `None` only checks the call.
    data: Option<Sources<'a>>,
    /// The variables the call reads.
    variables: Vec<String>,
}

/// An argument: a value, or a literal string that keeps which characters were escaped.
enum Argument {
    Value(Value),
    Literal(Literal),
}

impl Argument {
    fn into_value(self) -> Value {
        match self {
            Argument::Value(value) => value,
            Argument::Literal(literal) => Value::String(literal.text),
        }
    }
}

impl<'a> Parser<'a> {
    fn new(expression: &str, data: Option<Sources<'a>>) -> Self {
        Parser {
            text: expression.chars().collect(),
            at: 0,
            data,
            variables: Vec::new(),
        }
    }

    /// The whole text as one call: its value, and the variables it read.
    fn whole(mut self) -> Result<(Value, Vec<String>), AslError> {
        let value = self.call()?;
        self.skip_spaces();
        if self.at != self.text.len() {
            return Err(self.error("unexpected text after the call"));
        }
        Ok((value, self.variables))
    }

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
        let outcome = match self.data {
            Some(_) => intrinsic(&name, args),
            None => check_arity(&name, args.len()).map(|()| Value::Null),
        };
        outcome.map_err(|why| self.error(&why))
    }

    fn argument(&mut self) -> Result<Argument, AslError> {
        match self.text.get(self.at) {
            Some('\'') => {
                self.at += 1;
                let (mut text, mut escaped) = (String::new(), Vec::new());
                while let Some(&c) = self.text.get(self.at) {
                    self.at += 1;
                    match c {
                        '\\' => {
                            let Some(&next) = self.text.get(self.at) else {
                                return Err(self.error("a string ends with \\"));
                            };
                            text.push(next);
                            escaped.push(true);
                            self.at += 1;
                        }
                        '\'' => return Ok(Argument::Literal(Literal { text, escaped })),
                        c => {
                            text.push(c);
                            escaped.push(false);
                        }
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
                match &self.data {
                    Some(sources) => read(path.trim(), sources),
                    None => check_path(path.trim()).map(|variable| {
                        self.variables.extend(variable);
                        Value::Null
                    }),
                }
                .map(Argument::Value)
            }
            Some(c) if c.is_ascii_digit() || *c == '-' => {
                let start = self.at;
                while self.at < self.text.len()
                    && (self.text[self.at].is_ascii_digit()
                        || matches!(self.text[self.at], '-' | '.' | 'e' | 'E' | '+'))
                {
                    self.at += 1;
                }
                let number: String = self.text[start..self.at].iter().collect();
                serde_json::from_str(&number)
                    .map(Argument::Value)
                    .map_err(|_| self.error("invalid number"))
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
                        return Ok(Argument::Value(value));
                    }
                }
                self.call().map(Argument::Value)
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

/// The intrinsic functions of the Amazon States Language, with the arguments each takes
/// (least, most).
pub const INTRINSICS: &[(&str, usize, usize)] = &[
    ("States.Format", 1, usize::MAX),
    ("States.StringToJson", 1, 1),
    ("States.JsonToString", 1, 1),
    ("States.Array", 0, usize::MAX),
    ("States.ArrayPartition", 2, 2),
    ("States.ArrayContains", 2, 2),
    ("States.ArrayRange", 3, 3),
    ("States.ArrayGetItem", 2, 2),
    ("States.ArrayLength", 1, 1),
    ("States.ArrayUnique", 1, 1),
    ("States.Base64Encode", 1, 1),
    ("States.Base64Decode", 1, 1),
    ("States.Hash", 2, 2),
    ("States.JsonMerge", 3, 3),
    ("States.MathRandom", 2, 3),
    ("States.MathAdd", 2, 2),
    ("States.StringSplit", 2, 2),
    ("States.UUID", 0, 0),
];

/// Checks a call's name and number of arguments.
fn check_arity(name: &str, count: usize) -> Result<(), String> {
    let Some((_, least, most)) = INTRINSICS.iter().find(|(n, _, _)| *n == name) else {
        let names: Vec<&str> = INTRINSICS.iter().map(|(n, _, _)| *n).collect();
        return Err(format!(
            "{name} is not an intrinsic function of the Amazon States Language ({})",
            names.join(", ")
        ));
    };
    match (*least, *most) {
        (l, m) if (l..=m).contains(&count) => Ok(()),
        (l, m) if l == m => Err(format!("{name} takes {l} arguments, not {count}")),
        (l, usize::MAX) => Err(format!("{name} takes at least {l} arguments, not {count}")),
        (l, m) => Err(format!("{name} takes {l} to {m} arguments, not {count}")),
    }
}

/// An argument as an integer the functions take (a whole number, within 32 bits).
fn integer(name: &str, value: &Value) -> Result<i64, String> {
    value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        })
        .filter(|i| i32::try_from(*i).is_ok())
        .ok_or_else(|| {
            format!("{name} needs integers between -2147483648 and 2147483647, not {value}")
        })
}

fn string<'v>(name: &str, value: &'v Value) -> Result<&'v str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{name} needs a string, not {value}"))
}

fn array<'v>(name: &str, value: &'v Value) -> Result<&'v Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("{name} needs an array, not {value}"))
}

/// The longest string `States.Base64Encode` takes and `States.Base64Decode` gives, and the
/// most items `States.ArrayRange` makes.
const BASE64_MAX: usize = 10_000;
const RANGE_MAX: usize = 1_000;

/// `States.Format`: each `{}` of the template takes the next argument (strings as they are,
/// other values as JSON); an escaped `\{` or `\}` is a literal brace.
fn format(template: &Literal, values: &[Value]) -> Result<Value, String> {
    let chars: Vec<char> = template.text.chars().collect();
    let mut values = values.iter();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let literal = template.escaped.get(i).copied().unwrap_or(false);
        match chars[i] {
            '{' if !literal => {
                let closes = chars.get(i + 1) == Some(&'}')
                    && !template.escaped.get(i + 1).copied().unwrap_or(false);
                if !closes {
                    return Err("States.Format: an unescaped { must be followed by }".into());
                }
                let value = values
                    .next()
                    .ok_or("States.Format has more {} than arguments")?;
                out.push_str(&text_of(value));
                i += 2;
            }
            '}' if !literal => return Err("States.Format: an unescaped } without {".into()),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    if values.next().is_some() {
        return Err("States.Format has more arguments than {}".into());
    }
    Ok(Value::String(out))
}

/// A version 4 (random) UUID, as `States.UUID` makes.
fn uuid_v4() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("States.UUID: {e}"))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// A random integer in `[start, end)`, from `seed` when given (the same seed, the same
/// number), as `States.MathRandom` makes.
fn random_between(start: i64, end: i64, seed: Option<i64>) -> Result<Value, String> {
    if end <= start {
        return Err(format!(
            "States.MathRandom needs start < end, not {start} and {end}"
        ));
    }
    let random = match seed {
        // SplitMix64 of the seed: deterministic, well spread.
        Some(seed) => {
            let mut z = (seed as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        None => {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).map_err(|e| format!("States.MathRandom: {e}"))?;
            u64::from_le_bytes(bytes)
        }
    };
    let span = (end - start) as u64;
    Ok(Value::from(start + (random % span) as i64))
}

fn hash(data: &str, algorithm: &str) -> Result<Value, String> {
    use sha2::Digest as _;
    let bytes = data.as_bytes();
    let digest: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(bytes).to_vec(),
        "SHA-1" => sha1::Sha1::digest(bytes).to_vec(),
        "SHA-256" => sha2::Sha256::digest(bytes).to_vec(),
        "SHA-384" => sha2::Sha384::digest(bytes).to_vec(),
        "SHA-512" => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(format!(
                "States.Hash: {other} is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
            ))
        }
    };
    Ok(Value::String(
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// Calls the intrinsic function `name` on argument values (JSONata's forms of the intrinsics).
pub fn intrinsic_on_values(name: &str, args: Vec<Value>) -> Result<Value, String> {
    intrinsic(name, args.into_iter().map(Argument::Value).collect())
}

fn intrinsic(name: &str, args: Vec<Argument>) -> Result<Value, String> {
    check_arity(name, args.len())?;
    if name == "States.Format" {
        let mut args = args.into_iter();
        let template = match args.next() {
            Some(Argument::Literal(literal)) => literal,
            Some(Argument::Value(Value::String(text))) => Literal {
                escaped: vec![false; text.chars().count()],
                text,
            },
            _ => return Err("States.Format needs a template string".into()),
        };
        let values: Vec<Value> = args.map(Argument::into_value).collect();
        return format(&template, &values);
    }
    let args: Vec<Value> = args.into_iter().map(Argument::into_value).collect();
    match name {
        "States.StringToJson" => {
            let text = string(name, &args[0])?;
            serde_json::from_str(text).map_err(|e| format!("States.StringToJson: {e}"))
        }
        "States.JsonToString" => Ok(Value::String(args[0].to_string())),
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => {
            let list = array(name, &args[0])?;
            let size = integer(name, &args[1])?;
            if size < 1 {
                return Err(format!(
                    "States.ArrayPartition needs a chunk size above 0, not {size}"
                ));
            }
            Ok(Value::Array(
                list.chunks(size as usize)
                    .map(|chunk| Value::Array(chunk.to_vec()))
                    .collect(),
            ))
        }
        "States.ArrayContains" => Ok(Value::Bool(array(name, &args[0])?.contains(&args[1]))),
        "States.ArrayRange" => {
            let (start, end, step) = (
                integer(name, &args[0])?,
                integer(name, &args[1])?,
                integer(name, &args[2])?,
            );
            if step == 0 {
                return Err("States.ArrayRange needs a step other than 0".into());
            }
            let mut items = Vec::new();
            let mut at = start;
            while (step > 0 && at <= end) || (step < 0 && at >= end) {
                items.push(Value::from(at));
                if items.len() > RANGE_MAX {
                    return Err(format!("States.ArrayRange makes at most {RANGE_MAX} items"));
                }
                at += step;
            }
            Ok(Value::Array(items))
        }
        "States.ArrayGetItem" => {
            let list = array(name, &args[0])?;
            let index = integer(name, &args[1])?;
            usize::try_from(index)
                .ok()
                .and_then(|i| list.get(i))
                .cloned()
                .ok_or_else(|| format!("States.ArrayGetItem: index {index} is out of range"))
        }
        "States.ArrayLength" => Ok(Value::from(array(name, &args[0])?.len())),
        "States.ArrayUnique" => {
            let mut unique: Vec<Value> = Vec::new();
            for item in array(name, &args[0])? {
                if !unique.contains(item) {
                    unique.push(item.clone());
                }
            }
            Ok(Value::Array(unique))
        }
        "States.Base64Encode" => {
            use base64::Engine as _;
            let text = string(name, &args[0])?;
            if text.chars().count() > BASE64_MAX {
                return Err(format!(
                    "States.Base64Encode takes at most {BASE64_MAX} characters"
                ));
            }
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(text),
            ))
        }
        "States.Base64Decode" => {
            use base64::Engine as _;
            let encoded = string(name, &args[0])?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("States.Base64Decode: {e}"))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| "States.Base64Decode: the data is not UTF-8 text".to_owned())?;
            if text.chars().count() > BASE64_MAX {
                return Err(format!(
                    "States.Base64Decode gives at most {BASE64_MAX} characters"
                ));
            }
            Ok(Value::String(text))
        }
        "States.Hash" => hash(&text_of(&args[0]), string(name, &args[1])?),
        "States.JsonMerge" => {
            let (Some(left), Some(right)) = (args[0].as_object(), args[1].as_object()) else {
                return Err("States.JsonMerge needs two objects".into());
            };
            if args[2] != Value::Bool(false) {
                return Err(
                    "States.JsonMerge merges shallowly only: its third argument must be false"
                        .into(),
                );
            }
            let mut merged = left.clone();
            merged.extend(right.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(Value::Object(merged))
        }
        "States.MathRandom" => {
            let seed = match args.get(2) {
                Some(seed) => Some(integer(name, seed)?),
                None => None,
            };
            random_between(integer(name, &args[0])?, integer(name, &args[1])?, seed)
        }
        "States.MathAdd" => {
            let sum = integer(name, &args[0])? + integer(name, &args[1])?;
            integer(name, &Value::from(sum)).map(Value::from)
        }
        "States.StringSplit" => {
            let text = string(name, &args[0])?;
            let splitters: Vec<char> = string(name, &args[1])?.chars().collect();
            Ok(Value::Array(
                text.split(|c| splitters.contains(&c))
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::String(part.to_owned()))
                    .collect(),
            ))
        }
        "States.UUID" => uuid_v4().map(Value::String),
        _ => unreachable!("check_arity knows every intrinsic"),
    }
}

/// An RFC 3339 timestamp, as the `Timestamp…` comparisons, `IsTimestamp` and a Wait state
/// read them: an uppercase `T` between date and time and an uppercase `Z` or a numeric offset.
pub fn timestamp(text: &str) -> Option<time::OffsetDateTime> {
    if !text.contains('T') || text.contains('t') || text.ends_with('z') {
        return None;
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_fields_indexes_and_the_context_object() {
        let input = json!({"a": {"b": [10, {"c": "x"}]}, "odd key": 1});
        let context = json!({"Execution": {"Id": "exec-1"}});
        let variables = Variables::default();
        let sources = Sources::new(&input, &context, &variables);
        assert_eq!(read("$", &sources).unwrap(), input);
        assert_eq!(read("$.a.b[1].c", &sources).unwrap(), json!("x"));
        assert_eq!(read("$['odd key']", &sources).unwrap(), json!(1));
        assert_eq!(read("$$.Execution.Id", &sources).unwrap(), json!("exec-1"));
        assert!(read("$.missing", &sources).is_err());
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
        let variables = Variables::default();
        let sources = Sources::new(&input, &context, &variables);
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
            template(&payload, &sources).unwrap(),
            json!({
                "static": "s", "id": "e1", "token": "tok",
                "nested": {"label": "exec e1 has 3 items"},
                "sum": 42, "parsed": {"k": true}, "pair": ["a", null, true]
            })
        );
        let unknown = evaluate("States.Hashh($.id, 'SHA-1')", &sources).unwrap_err();
        assert!(unknown.to_string().contains("not an intrinsic function"));
    }
}
