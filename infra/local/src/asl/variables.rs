//! Workflow variables: what `Assign` stores and `$name` reads.
//!
//! The specification's rules, as the interpreter keeps them: the states of one `States` field
//! share a scope; each Parallel branch and Map iteration runs in a scope of its own that reads
//! the scopes around it (a distributed Map's reads none) and cannot assign their names (checked
//! at load); an `Assign` is evaluated with the values the variables had when its state was
//! entered, and the new values take effect for the next state.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::AslError;

/// The most bytes one variable may hold, and the most one `Assign` may store in all.
const MOST_PER_ASSIGN: usize = 256 * 1024;
/// The most bytes all variables of an execution may hold together.
const MOST_PER_EXECUTION: usize = 10 * 1024 * 1024;
/// The longest a variable name may be, in characters.
const LONGEST_NAME: usize = 80;
/// The variable the specification reserves: no state may assign it.
const RESERVED: &str = "states";

/// The variables one state sees: those of the scopes around its machine (read-only) and those
/// of its own scope.
#[derive(Clone, Debug, Default)]
pub struct Variables {
    outer: Arc<Map<String, Value>>,
    own: Map<String, Value>,
}

impl Variables {
    /// The value of `name`, if any state in scope has assigned it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.own.get(name).or_else(|| self.outer.get(name))
    }

    /// Every variable in scope with its value.
    pub fn visible(&self) -> impl Iterator<Item = (&str, &Value)> {
        let hidden = |name: &String| self.own.contains_key(name);
        self.outer
            .iter()
            .filter(move |(name, _)| !hidden(name))
            .chain(self.own.iter())
            .map(|(name, value)| (name.as_str(), value))
    }

    /// The scope of a Parallel branch or Map iteration run from this one: it reads everything
    /// this scope sees and assigns only its own names.
    pub fn inner(&self) -> Variables {
        let mut seen = (*self.outer).clone();
        seen.extend(self.own.clone());
        Variables {
            outer: Arc::new(seen),
            own: Map::new(),
        }
    }

    /// Stores what one `Assign` evaluated to, within the limits of the service: 256 KiB per
    /// variable and per `Assign`, 10 MiB in all.
    pub fn store(&mut self, assigned: Map<String, Value>) -> Result<(), AslError> {
        let too_large = |what: String| AslError::Runtime("States.DataLimitExceeded".into(), what);
        let mut this_assign = 0;
        for (name, value) in &assigned {
            let size = size_of(value);
            if size > MOST_PER_ASSIGN {
                return Err(too_large(format!(
                    "the variable {name} would hold {size} bytes (at most {MOST_PER_ASSIGN})"
                )));
            }
            this_assign += size;
        }
        if this_assign > MOST_PER_ASSIGN {
            return Err(too_large(format!(
                "one Assign would store {this_assign} bytes (at most {MOST_PER_ASSIGN})"
            )));
        }
        // Checked before anything is stored: a refused Assign changes no variable.
        let kept: usize = self
            .visible()
            .filter(|(name, _)| !assigned.contains_key(*name))
            .map(|(_, value)| size_of(value))
            .sum();
        let total = kept + this_assign;
        if total > MOST_PER_EXECUTION {
            return Err(too_large(format!(
                "the execution's variables would hold {total} bytes (at most {MOST_PER_EXECUTION})"
            )));
        }
        self.own.extend(assigned);
        Ok(())
    }
}

fn size_of(value: &Value) -> usize {
    value.to_string().len()
}

/// Checks a variable name: a Unicode identifier (UAX #31: an ID_Start character, then
/// ID_Continue characters) of at most 80 characters, and not the reserved `states`.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(unicode_ident::is_xid_start)
        && chars.all(unicode_ident::is_xid_continue);
    if !well_formed {
        return Err(format!(
            "{name:?} is not a variable name (a Unicode identifier: a letter, then letters, digits or _)"
        ));
    }
    if name.chars().count() > LONGEST_NAME {
        return Err(format!(
            "the variable name {name} is longer than {LONGEST_NAME} characters"
        ));
    }
    if name == RESERVED {
        return Err("the variable states is reserved".into());
    }
    Ok(())
}

/// Splits a path that reads a variable (`$name`, `$name.field[0]`) into the name and the path
/// to apply to its value (`$`, `$.field[0]`); `None` for input (`$`, `$.x`) and context (`$$`)
/// paths.
pub fn split_reference(path: &str) -> Option<(&str, String)> {
    let rest = path.strip_prefix('$')?;
    if !rest.chars().next().is_some_and(unicode_ident::is_xid_start) {
        return None;
    }
    let end = rest
        .char_indices()
        .find(|(_, c)| !unicode_ident::is_xid_continue(*c))
        .map_or(rest.len(), |(i, _)| i);
    Some((&rest[..end], format!("${}", &rest[end..])))
}
