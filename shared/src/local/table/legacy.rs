//! Data directories written before the table moved into SQLite held a JSON snapshot
//! (`table.json`) and a journal of changes (`journal.jsonl`). Opening such a directory imports
//! them once, in the transaction that creates the database, and keeps the old files renamed
//! beside it (`*.imported`) rather than deleting anything.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ports::table::{Item, Key};

const SNAPSHOT_FILE: &str = "table.json";
const JOURNAL_FILE: &str = "journal.jsonl";

/// One committed change of one item, as the journal wrote it.
#[derive(Deserialize)]
enum Change {
    Put(Item),
    Delete { pk: String, sk: String },
}

/// The old files imported, to retire once the import has committed.
pub(super) struct Imported(Vec<PathBuf>);

/// Reads the old snapshot and journal of `dir`, if any, and hands every item they leave to
/// `store`. A journal line that does not parse ends the replay, as it did before: it was the
/// write a crash cut short.
pub(super) fn import(
    dir: &Path,
    mut store: impl FnMut(Item) -> Result<(), String>,
) -> Result<Imported, String> {
    let (snapshot, journal) = (dir.join(SNAPSHOT_FILE), dir.join(JOURNAL_FILE));
    let mut found = Vec::new();
    let mut items = std::collections::BTreeMap::new();
    let unreadable = |file: &Path, e: &dyn std::fmt::Display| {
        format!(
            "{} holds data of an older Vellocity that cannot be read ({e}); \
             move it away to start with an empty table",
            file.display()
        )
    };
    if snapshot.exists() {
        let bytes = std::fs::read(&snapshot).map_err(|e| unreadable(&snapshot, &e))?;
        let stored: Vec<Item> =
            serde_json::from_slice(&bytes).map_err(|e| unreadable(&snapshot, &e))?;
        for item in stored {
            if let Some(key) = Key::of(&item) {
                items.insert(key, item);
            }
        }
        found.push(snapshot);
    }
    if journal.exists() {
        let file = File::open(&journal).map_err(|e| unreadable(&journal, &e))?;
        for line in BufReader::new(file).lines() {
            let Ok(changes) =
                serde_json::from_str::<Vec<Change>>(&line.map_err(|e| unreadable(&journal, &e))?)
            else {
                break;
            };
            for change in changes {
                match change {
                    Change::Put(item) => {
                        if let Some(key) = Key::of(&item) {
                            items.insert(key, item);
                        }
                    }
                    Change::Delete { pk, sk } => {
                        items.remove(&Key::new(pk, sk));
                    }
                }
            }
        }
        found.push(journal);
    }
    for item in items.into_values() {
        store(item)?;
    }
    Ok(Imported(found))
}

/// Renames the imported files so they are not imported again.
pub(super) fn retire(dir: &Path, imported: Imported) -> std::io::Result<()> {
    for file in &imported.0 {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        std::fs::rename(file, dir.join(format!("{name}.imported")))?;
    }
    if !imported.0.is_empty() {
        tracing::info!(dir = %dir.display(), "imported the data of an older version into SQLite");
    }
    Ok(())
}
