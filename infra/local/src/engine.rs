//! The local stack's execution engine: a durable queue in place of SQS, the production
//! dispatcher behind it, and Step Functions replaced by the ASL interpreter running
//! `statemachines/agentcore-express.asl.json` and `statemachines/agentcore.asl.json`, one
//! tokio task per run.
//!
//! Like the services it stands in for, it keeps what it was handed: queue messages and each
//! run's history live in the data directory's database (tables beside the items), so a
//! restarted server ([`Engine::resume`]) delivers the messages not yet dispatched and resumes
//! every unfinished run where it stopped, a run waiting for approval included.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use serde_json::Value;
use tokio::task::JoinHandle;
use vellocity::agentcore::dispatch::{self, Delivery};
use vellocity::agentcore::watchdog::{self, RunStatus};
use vellocity::app::App;
use vellocity::local::table::{open_database, DATABASE_FILE};
use vellocity::ports::queue::{Queue, QueueError};
use vellocity::ports::workflows::{WorkflowError, Workflows};

use crate::asl::definition::Machine;
use crate::asl::run::{History, Interpreter, Outcome, Record};
use crate::workflow;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    body        TEXT NOT NULL,
    dead_reason TEXT
);
CREATE TABLE IF NOT EXISTS delayed_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    body       TEXT NOT NULL,
    visible_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workflow_runs (
    name   TEXT PRIMARY KEY,
    input  TEXT NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workflow_history (
    run    TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID;
";

/// A run that has not ended.
const RUNNING: &str = "running";

/// The engine's durable state: in the data directory's database, or in memory for tests.
pub struct EngineStore {
    connection: Mutex<Connection>,
}

impl EngineStore {
    /// The state kept in `dir`'s database.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let path = dir.join(DATABASE_FILE);
        let connection =
            open_database(Some(&path), SCHEMA).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(EngineStore {
            connection: Mutex::new(connection),
        })
    }

    /// State that lives as long as the process.
    pub fn in_memory() -> Self {
        let connection = open_database(None, SCHEMA).expect("SQLite opens an in-memory database");
        EngineStore {
            connection: Mutex::new(connection),
        }
    }

    fn with<T>(&self, work: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let connection = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        work(&connection).map_err(|e| format!("engine database: {e}"))
    }

    /// Keeps a message until it is dispatched; returns its id.
    fn enqueue(&self, body: &str) -> Result<i64, String> {
        self.with(|c| {
            c.execute("INSERT INTO queue_messages (body) VALUES (?1)", [body])?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Keeps a webhook message until it is handled, hidden until `visible_at` (Unix ms).
    fn hold(&self, body: &str, visible_at: i64) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "INSERT INTO delayed_messages (body, visible_at) VALUES (?1, ?2)",
                rusqlite::params![body, visible_at],
            )
        })
        .map(|_| ())
    }

    /// The held messages visible at `now` (Unix ms), oldest first.
    fn due(&self, now: i64, limit: usize) -> Result<Vec<(i64, String)>, String> {
        self.with(|c| {
            c.prepare("SELECT id, body FROM delayed_messages WHERE visible_at <= ?1 ORDER BY visible_at, id LIMIT ?2")?
                .query_map(rusqlite::params![now, limit as i64], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    /// Hides a held message until `visible_at` (its handling failed; it is tried again).
    fn postpone(&self, id: i64, visible_at: i64) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "UPDATE delayed_messages SET visible_at = ?2 WHERE id = ?1",
                rusqlite::params![id, visible_at],
            )
        })
        .map(|_| ())
    }

    fn handled(&self, id: i64) -> Result<(), String> {
        self.with(|c| c.execute("DELETE FROM delayed_messages WHERE id = ?1", [id]))
            .map(|_| ())
    }

    fn delivered(&self, id: i64) -> Result<(), String> {
        self.with(|c| c.execute("DELETE FROM queue_messages WHERE id = ?1", [id]))
            .map(|_| ())
    }

    fn dead_letter(&self, id: i64, reason: &str) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "UPDATE queue_messages SET dead_reason = ?2 WHERE id = ?1",
                rusqlite::params![id, reason],
            )
        })
        .map(|_| ())
    }

    fn pending_messages(&self) -> Result<Vec<(i64, String)>, String> {
        self.with(|c| {
            c.prepare("SELECT id, body FROM queue_messages WHERE dead_reason IS NULL ORDER BY id")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    fn dead_letters(&self) -> Result<Vec<String>, String> {
        self.with(|c| {
            c.prepare("SELECT body FROM queue_messages WHERE dead_reason IS NOT NULL ORDER BY id")?
                .query_map([], |row| row.get(0))?
                .collect()
        })
    }

    /// Records a new run; false if a run of that name exists already.
    fn create_run(&self, name: &str, input: &Value) -> Result<bool, String> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO workflow_runs (name, input, status) VALUES (?1, ?2, ?3)",
                rusqlite::params![name, input.to_string(), RUNNING],
            )
        })
        .map(|inserted| inserted == 1)
    }

    /// Ends a run: its status stays (a name is never reused), its history goes.
    fn end_run(&self, name: &str, status: &str) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "UPDATE workflow_runs SET status = ?2 WHERE name = ?1 AND status = ?3",
                rusqlite::params![name, status, RUNNING],
            )?;
            c.execute("DELETE FROM workflow_history WHERE run = ?1", [name])
        })
        .map(|_| ())
    }

    /// Every unfinished run: its name, input and history.
    fn unfinished_runs(&self) -> Result<Vec<(String, Value, Vec<Record>)>, String> {
        let runs: Vec<(String, String)> = self.with(|c| {
            c.prepare("SELECT name, input FROM workflow_runs WHERE status = ?1 ORDER BY name")?
                .query_map([RUNNING], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })?;
        runs.into_iter()
            .map(|(name, input)| {
                let input = serde_json::from_str(&input).map_err(|e| e.to_string())?;
                let history = self.history(&name)?;
                Ok((name, input, history))
            })
            .collect()
    }

    fn history(&self, run: &str) -> Result<Vec<Record>, String> {
        let texts: Vec<String> = self.with(|c| {
            c.prepare("SELECT record FROM workflow_history WHERE run = ?1 ORDER BY seq")?
                .query_map([run], |row| row.get(0))?
                .collect()
        })?;
        texts
            .iter()
            .map(|t| serde_json::from_str(t).map_err(|e| format!("run {run}'s history: {e}")))
            .collect()
    }
}

impl History for EngineStore {
    fn append(&self, run: &str, seq: usize, record: &Record) -> Result<(), String> {
        let text = serde_json::to_string(record).map_err(|e| e.to_string())?;
        self.with(|c| {
            // Only while the run is running: a stopped run's task may still be finishing.
            c.execute(
                "INSERT OR REPLACE INTO workflow_history (run, seq, record) \
                 SELECT ?1, ?2, ?3 WHERE EXISTS \
                 (SELECT 1 FROM workflow_runs WHERE name = ?1 AND status = ?4)",
                rusqlite::params![run, seq as i64, text, RUNNING],
            )
        })
        .map(|_| ())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// How an express run's key starts after its execution's name: express runs of one execution
/// are told apart (the service starts one per call), durable runs are named after it.
const EXPRESS_RUN: &str = ":express:";

/// Whether the run `key` is one of `execution`'s.
fn runs_of(key: &str, execution: &str) -> bool {
    key == execution
        || key
            .strip_prefix(execution)
            .is_some_and(|rest| rest.starts_with(EXPRESS_RUN))
}

/// One ended run of an execution.
pub struct EndedRun {
    /// Whether it ran on the standard machine (else the express one).
    pub durable: bool,
    /// How long it ran (the express machine is priced by it).
    pub took: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// The ended runs of one execution, in the order they ended: its express run (two when the
/// express service started it twice), then its durable run if it continued there.
pub struct Runs(pub Vec<EndedRun>);

impl Runs {
    /// The last run's outcome: the execution's, since only its last run settles it.
    pub fn outcome(self) -> Outcome {
        self.0
            .into_iter()
            .last()
            .expect("Runs holds at least one run")
            .outcome
    }

    /// The state transitions of the runs on `durable` machines or the others.
    pub fn transitions(&self, durable: bool) -> usize {
        self.0
            .iter()
            .filter(|run| run.durable == durable)
            .map(|run| run.outcome.transitions())
            .sum()
    }
}

/// The tasks' view of the engine's workflows (their express machine continues runs on the
/// standard one), bound once the workflows exist and held weakly, as [`EngineQueue`].
#[derive(Default)]
struct EngineWorkflows(OnceLock<Weak<LocalWorkflows>>);

impl EngineWorkflows {
    fn workflows(&self) -> Result<Arc<LocalWorkflows>, WorkflowError> {
        self.0
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| WorkflowError::Failed("the local engine has stopped".into()))
    }
}

#[async_trait]
impl Workflows for EngineWorkflows {
    async fn start(&self, name: &str, input: &Value) -> Result<(), WorkflowError> {
        self.workflows()?.start(name, input).await
    }

    async fn continue_durably(&self, name: &str, input: &Value) -> Result<(), WorkflowError> {
        self.workflows()?.continue_durably(name, input).await
    }

    async fn stop(&self, name: &str, cause: &str) -> Result<(), WorkflowError> {
        self.workflows()?.stop(name, cause).await
    }

    async fn succeed_task(&self, token: &str, output: &Value) -> Result<(), WorkflowError> {
        self.workflows()?.succeed_task(token, output).await
    }

    async fn fail_task(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.workflows()?.fail_task(token, error, cause).await
    }
}

type RunHandle = JoinHandle<EndedRun>;

/// Runs of the AgentCore machines, named like Step Functions executions.
pub struct LocalWorkflows {
    app: App,
    interpreter: Arc<Interpreter>,
    express: Machine,
    durable: Machine,
    store: Arc<EngineStore>,
    running: Arc<Mutex<HashMap<String, RunHandle>>>,
}

impl LocalWorkflows {
    /// Runs whose tasks use `app` and whose history `store` keeps; `time_scale` multiplies
    /// Wait and Retry delays (1.0 = real).
    fn new(app: &App, time_scale: f64, store: Arc<EngineStore>) -> Result<Arc<Self>, String> {
        let own = Arc::new(EngineWorkflows::default());
        let tasks_app = App {
            workflows: own.clone(),
            ..app.clone()
        };
        let mut interpreter = workflow::interpreter(&tasks_app);
        interpreter.time_scale = time_scale;
        interpreter.history = store.clone();
        let workflows = Arc::new(LocalWorkflows {
            app: app.clone(),
            interpreter: Arc::new(interpreter),
            express: workflow::express_machine().map_err(|e| e.to_string())?,
            durable: workflow::machine().map_err(|e| e.to_string())?,
            store,
            running: Arc::default(),
        });
        let _ = own.0.set(Arc::downgrade(&workflows));
        Ok(workflows)
    }

    /// Waits for every run of the execution `name` to end, those it starts meanwhile
    /// included; `None` if it has none running (never started, stopped, or waited for
    /// already).
    pub async fn wait(&self, name: &str) -> Option<Runs> {
        let mut ended = Vec::new();
        loop {
            let handles: Vec<RunHandle> = {
                let mut running = lock(&self.running);
                let keys: Vec<String> = running
                    .keys()
                    .filter(|key| runs_of(key, name))
                    .cloned()
                    .collect();
                keys.iter().filter_map(|key| running.remove(key)).collect()
            };
            if handles.is_empty() {
                break;
            }
            for handle in handles {
                if let Ok(run) = handle.await {
                    ended.push(run);
                }
            }
        }
        (!ended.is_empty()).then_some(Runs(ended))
    }

    fn spawn(
        &self,
        key: String,
        input: Value,
        past: Vec<Record>,
        caught_up: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let durable = !key.contains(EXPRESS_RUN);
        let machine = if durable {
            self.durable.clone()
        } else {
            self.express.clone()
        };
        let (app, interpreter, store) = (
            self.app.clone(),
            self.interpreter.clone(),
            self.store.clone(),
        );
        let run_key = key.clone();
        let handle = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let outcome = interpreter
                .resume(&machine, &run_key, input.clone(), past, caught_up)
                .await;
            let took = started.elapsed();
            let status = if outcome.result.is_ok() {
                "succeeded"
            } else {
                // What EventBridge's "Execution Status Change" does in AWS, for standard runs
                // only: an express run that fails is found by the dispatcher's check.
                if durable {
                    if let Ok(input) = serde_json::from_value(input) {
                        if let Err(error) =
                            watchdog::run_ended(&app, &input, RunStatus::Failed).await
                        {
                            tracing::error!(%error, run = %run_key, "settling the execution of a failed run failed");
                        }
                    }
                }
                "failed"
            };
            if let Err(error) = store.end_run(&run_key, status) {
                tracing::error!(%error, run = %run_key, "recording the end of a run failed");
            }
            EndedRun {
                durable,
                took,
                outcome,
            }
        });
        let mut running = lock(&self.running);
        running.retain(|_, h| !h.is_finished());
        running.insert(key, handle);
    }

    /// Starts the run `key` unless a run of that key exists already.
    fn start_run(&self, key: &str, input: &Value) -> Result<(), WorkflowError> {
        if self
            .store
            .create_run(key, input)
            .map_err(WorkflowError::Failed)?
        {
            self.spawn(key.to_owned(), input.clone(), Vec::new(), None);
        }
        Ok(())
    }

    /// Resumes every run that had not ended when the engine last stopped; returns once each
    /// has replayed its history, so that approvals sent from then on find their tokens.
    async fn resume(&self) -> Result<usize, String> {
        let runs = self.store.unfinished_runs()?;
        let count = runs.len();
        let mut replays = Vec::with_capacity(count);
        for (name, input, past) in runs {
            tracing::info!(run = %name, replayed = past.len(), "resuming a workflow run");
            let (caught_up, replayed) = tokio::sync::oneshot::channel();
            self.spawn(name, input, past, Some(caught_up));
            replays.push(replayed);
        }
        for replayed in replays {
            // An error means the run ended during its replay: caught up as well.
            let _ = replayed.await;
        }
        Ok(count)
    }
}

#[async_trait]
impl Workflows for LocalWorkflows {
    /// A new express run each time, as the express service does.
    async fn start(&self, name: &str, input: &Value) -> Result<(), WorkflowError> {
        let key = format!("{name}{EXPRESS_RUN}{}", ulid::Ulid::new());
        self.start_run(&key, input)
    }

    /// A run of this name that exists already counts as started, as Step Functions' answer
    /// to a second start of a standard execution.
    async fn continue_durably(&self, name: &str, input: &Value) -> Result<(), WorkflowError> {
        self.start_run(name, input)
    }

    async fn stop(&self, name: &str, _cause: &str) -> Result<(), WorkflowError> {
        if let Some(handle) = lock(&self.running).remove(name) {
            handle.abort();
        }
        self.interpreter.tokens.forget_run(name);
        self.store
            .end_run(name, "aborted")
            .map_err(WorkflowError::Failed)
    }

    async fn succeed_task(&self, token: &str, output: &Value) -> Result<(), WorkflowError> {
        self.interpreter
            .tokens
            .success(token, output.clone())
            .map_err(|e| WorkflowError::InvalidToken(e.to_string()))
    }

    async fn fail_task(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.interpreter
            .tokens
            .failure(token, error, cause)
            .map_err(|e| WorkflowError::InvalidToken(e.to_string()))
    }
}

/// The executions queue: a message is kept in the store before `send` returns, delivered to
/// the dispatcher on its own task, retried with backoff, and dead-lettered when it cannot be
/// dispatched; it leaves the store once dispatched.
#[derive(Clone)]
pub struct LocalQueue {
    /// The app whose dispatcher starts runs on the engine's workflows.
    app: App,
    store: Arc<EngineStore>,
}

impl LocalQueue {
    /// A queue delivering to the dispatcher of `workflows`, kept in `store`; executions whose
    /// message cannot be dispatched end in `app`'s table.
    pub fn new(app: &App, workflows: Arc<dyn Workflows>, store: Arc<EngineStore>) -> Self {
        LocalQueue {
            app: App {
                workflows,
                ..app.clone()
            },
            store,
        }
    }

    /// Messages kept until they are delivered (those waiting out a delay included).
    pub fn pending(&self) -> Result<usize, String> {
        self.store.pending_messages().map(|messages| messages.len())
    }

    /// Messages that could not be dispatched.
    pub fn dead_letters(&self) -> Vec<String> {
        self.store.dead_letters().unwrap_or_else(|error| {
            tracing::error!(%error, "reading the dead letters failed");
            Vec::new()
        })
    }

    fn deliver(&self, id: i64, body: String) {
        let (app, store) = (self.app.clone(), self.store.clone());
        tokio::spawn(async move {
            let mut receives = 1;
            let outcome = loop {
                match dispatch::deliver(&app, &body, receives).await {
                    Delivery::Started(_)
                    | Delivery::Waiting(_)
                    | Delivery::Continued(_)
                    | Delivery::Checked(_) => break store.delivered(id),
                    Delivery::GaveUp(execution_id) => {
                        tracing::error!(%execution_id, "dispatch kept failing; the execution failed with a refund");
                        break store.delivered(id);
                    }
                    Delivery::Retry(why) => {
                        tracing::warn!(%why, receives, "dispatch failed; the message will be received again");
                        tokio::time::sleep(Duration::from_millis(100 << receives)).await;
                        receives += 1;
                    }
                    Delivery::DeadLetter(why) => {
                        tracing::error!(%why, "a message moved to the dead letters");
                        break store.dead_letter(id, &why);
                    }
                }
            };
            if let Err(error) = outcome {
                tracing::error!(%error, "recording a delivered message failed; it will be delivered again");
            }
        });
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.send_after(body, Duration::ZERO).await
    }

    /// Kept in the store at once, delivered after `delay` (real time); a restart delivers it
    /// at once, which is never too early for a dispatch message.
    async fn send_after(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let id = self.store.enqueue(body).map_err(QueueError)?;
        let (queue, body) = (self.clone(), body.to_owned());
        if delay.is_zero() {
            queue.deliver(id, body);
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                queue.deliver(id, body);
            });
        }
        Ok(())
    }
}

/// The webhook queue: messages kept in the store, each visible from when its delay (on the
/// app's clock) has passed, until the relay has handled it — what SQS with `DelaySeconds` is
/// in AWS.
pub struct LocalDelayQueue {
    clock: Arc<dyn vellocity::ports::Clock>,
    store: Arc<EngineStore>,
}

fn unix_ms(at: time::OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

impl LocalDelayQueue {
    /// Up to `limit` messages due now: (id, body).
    pub fn due(&self, limit: usize) -> Result<Vec<(i64, String)>, String> {
        self.store.due(unix_ms(self.clock.now()), limit)
    }

    /// Forgets a handled message.
    pub fn handled(&self, id: i64) -> Result<(), String> {
        self.store.handled(id)
    }

    /// Tries a message again after `delay`.
    pub fn retry_after(&self, id: i64, delay: Duration) -> Result<(), String> {
        let at = unix_ms(self.clock.now()) + delay.as_millis() as i64;
        self.store.postpone(id, at)
    }
}

#[async_trait]
impl Queue for LocalDelayQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.send_after(body, Duration::ZERO).await
    }

    async fn send_after(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let visible_at = unix_ms(self.clock.now()) + delay.as_millis() as i64;
        self.store.hold(body, visible_at).map_err(QueueError)
    }
}

/// The executions queue as the engine's own tasks and dispatcher see it: the engine's
/// [`LocalQueue`], bound once it exists (held weakly: the queue holds the tasks' app).
#[derive(Default)]
struct EngineQueue(OnceLock<Weak<LocalQueue>>);

impl EngineQueue {
    fn bind(&self, queue: &Arc<LocalQueue>) {
        let _ = self.0.set(Arc::downgrade(queue));
    }

    fn queue(&self) -> Result<Arc<LocalQueue>, QueueError> {
        self.0
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| QueueError("the local engine has stopped".into()))
    }
}

#[async_trait]
impl Queue for EngineQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.queue()?.send(body).await
    }

    async fn send_after(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.queue()?.send_after(body, delay).await
    }
}

/// The queue and the workflows over one store.
pub struct Engine {
    /// The state machine runs.
    pub workflows: Arc<LocalWorkflows>,
    /// The executions queue.
    pub queue: Arc<LocalQueue>,
    /// The webhook queue.
    pub webhooks: Arc<LocalDelayQueue>,
}

impl Engine {
    /// An engine whose tasks use `app`.
    pub fn new(app: &App, time_scale: f64, store: EngineStore) -> Result<Self, String> {
        let store = Arc::new(store);
        // The engine's tasks queue dispatches on the engine's own queue (a settlement wakes
        // the next waiting execution), which exists only once the workflows do.
        let own_queue = Arc::new(EngineQueue::default());
        let app = &App {
            queue: own_queue.clone(),
            ..app.clone()
        };
        let workflows = LocalWorkflows::new(app, time_scale, store.clone())?;
        let webhooks = Arc::new(LocalDelayQueue {
            clock: app.clock.clone(),
            store: store.clone(),
        });
        let queue = Arc::new(LocalQueue::new(app, workflows.clone(), store));
        own_queue.bind(&queue);
        Ok(Engine {
            workflows,
            queue,
            webhooks,
        })
    }

    /// Picks up where the engine stopped: resumes the unfinished runs, then delivers the
    /// messages not yet dispatched. Returns how many of each.
    pub async fn resume(&self) -> Result<(usize, usize), String> {
        // Dead letters whose executions could not be settled when they died: settle them now
        // (a no-op for those that were).
        for body in self.queue.store.dead_letters()? {
            if let Some(Err(error)) =
                watchdog::give_up_dispatch(&self.queue.app, &body, "it was dead-lettered").await
            {
                tracing::error!(%error, "settling a dead-lettered execution failed");
            }
        }
        let runs = self.workflows.resume().await?;
        let messages = self.queue.store.pending_messages()?;
        let count = messages.len();
        for (id, body) in messages {
            self.queue.deliver(id, body);
        }
        Ok((runs, count))
    }
}
