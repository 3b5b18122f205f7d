//! `tempi demo`: a simulated estate of loopback services, a load generator and colleagues
//! who work the inbox, around an embedded engine.

mod colleagues;
pub mod estate;
pub mod load;
pub mod past;
pub mod scale;
mod services;

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::definition;
use crate::engine::EngineHandle;
use crate::engine::runtime::{self, EngineConfig, Running, StartError};
use crate::types::ItemId;
use crate::types::command::Command;
use crate::types::identity::{Role, Who};
use crate::types::view::{ItemFilter, StepStatus, TaskFilter};
pub use estate::{Estate, EstateOptions, EstateStats};
use load::{Generator, Kind, Load};
pub use load::{LoadControl, MAX_RATE};

/// The workflows the demo loads and drives (`bench-pass` and any others are left out).
pub const DEMO_WORKFLOWS: [&str; 3] = [
    "customer-onboarding",
    "invoice-approval",
    "incident-response",
];
/// The demo workflows as shipped, built into the binary so `tempi demo` runs anywhere.
pub const EMBEDDED_WORKFLOWS: [(&str, &str); 3] = [
    (
        "customer-onboarding",
        include_str!("../../workflows/customer-onboarding.yaml"),
    ),
    (
        "invoice-approval",
        include_str!("../../workflows/invoice-approval.yaml"),
    ),
    (
        "incident-response",
        include_str!("../../workflows/incident-response.yaml"),
    ),
];
/// Items per minute when nobody says otherwise.
pub const DEFAULT_RATE: f64 = 30.0;
/// Where, under the data dir, the demo keeps its copy of the workflows it loads.
const STAGED_WORKFLOWS: &str = "demo-workflows";
/// How long `start` waits for the seeded invoices to reach a human.
const SEED_WAIT: Duration = Duration::from_secs(5);
/// Most in-flight incidents looked at on a restart, to keep startup quick.
const MAX_RECOVERED: usize = 5_000;

/// How to start the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    /// Where the shipped workflow files are; only [`DEMO_WORKFLOWS`] are loaded.
    pub workflows_dir: PathBuf,
    pub rate_per_min: f64,
    /// Seeds the estate's and the load's randomness.
    pub seed: u64,
    pub estate: EstateOptions,
}

impl DemoOptions {
    /// The default rate and estate, and a fresh random seed.
    pub fn new(data_dir: PathBuf, workflows_dir: PathBuf) -> Self {
        DemoOptions {
            data_dir,
            workflows_dir,
            rate_per_min: DEFAULT_RATE,
            seed: rand::rngs::StdRng::from_os_rng().random(),
            estate: EstateOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the workflow files in {} have problems:\n{problems}", dir.display())]
    Workflows { dir: PathBuf, problems: String },
    #[error(
        "the demo needs workflow '{name}', which {} does not define; point --workflows at \
         the directory of tempi's shipped workflows",
        dir.display()
    )]
    MissingWorkflow { name: &'static str, dir: PathBuf },
    #[error("cannot make a demo-scale copy of {}: {source}", path.display())]
    Scale {
        path: PathBuf,
        source: scale::ScaleError,
    },
    #[error("cannot write the demo's copy of the workflows to {}: {source}", path.display())]
    Stage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the simulated estate on 127.0.0.1: {0}")]
    Estate(#[source] std::io::Error),
    #[error("the demo engine could not start: {0}")]
    Engine(#[from] StartError),
}

/// A running demo: the engine, the estate it calls, and the load generator's controls.
pub struct Demo {
    pub running: Running,
    pub load: LoadControl,
    /// `http://127.0.0.1:PORT`; each service lives under its own prefix.
    pub estate_url: String,
    estate: Estate,
    generator: Load,
    colleagues: colleagues::Colleagues,
}

impl Demo {
    /// The estate, to read its stats or turn its knobs live.
    pub fn estate(&self) -> &Estate {
        &self.estate
    }

    /// Stop the load, then the engine, then the estate.
    pub async fn shutdown(self) {
        self.generator.stop().await;
        self.colleagues.stop().await;
        self.running.shutdown().await;
        self.estate.shutdown().await;
    }
}

/// Start the estate, an engine on `opts.data_dir` that calls it, a handful of items (on a
/// fresh data dir) so the console has something to show, and the load generator.
pub async fn start(opts: DemoOptions) -> Result<Demo, DemoError> {
    let (staged, slas) = stage_workflows(&opts.workflows_dir, &opts.data_dir)?;
    let estate = Estate::start(opts.estate.clone(), opts.seed)
        .await
        .map_err(DemoError::Estate)?;
    let mut config = EngineConfig::new(opts.data_dir.clone(), Some(staged));
    config.env.extend(estate.env());
    let running = match runtime::start(config).await {
        Ok(r) => r,
        Err(e) => {
            estate.shutdown().await;
            return Err(e.into());
        }
    };
    let control = LoadControl::new(opts.rate_per_min);
    // A different stream from the estate's, from the same seed.
    let sla = |kind: Kind| slas.get(kind.workflow()).copied().flatten();
    let mut generator = Generator::new(opts.seed ^ 0x9e37_79b9_7f4a_7c15)
        .with_incident_sla(sla(Kind::Incident).unwrap_or(Duration::from_secs(3600)));
    let handle = running.handle.clone();
    let incidents = match in_flight_incidents(&handle).await {
        Some(recovered) => recovered,
        None => {
            let past = past::plan(opts.seed);
            seed(&handle, &estate, &control, &mut generator, &past, &sla).await
        }
    };
    staff(&handle).await;
    let colleagues = colleagues::spawn(handle.clone(), opts.seed);
    let generator = load::spawn(
        handle,
        estate.documents(),
        control.clone(),
        generator,
        incidents,
    );
    Ok(Demo {
        running,
        load: control,
        estate_url: estate.url().to_string(),
        estate,
        generator,
        colleagues,
    })
}

/// The demo's team, registered once in a fresh directory so the inbox's "my groups"
/// and the reassign picker have people in them: the console's own user (an admin in
/// every group the shipped workflows send tasks to) and the simulated colleagues.
async fn staff(handle: &EngineHandle) {
    if !handle.directory().is_empty() {
        return;
    }
    let me = crate::api::peer::login_name();
    let all = ["finance-approvers", "ap-reviewers", "sre", "onboarding"];
    let team: [(&str, Role, &[&str]); 5] = [
        (&me, Role::Admin, &all),
        (
            "sam",
            Role::Approver,
            &["finance-approvers", "finance-leads"],
        ),
        (
            "priya",
            Role::Approver,
            &["ap-reviewers", "finance-approvers"],
        ),
        ("jordan", Role::Operator, &["sre", "incident-commanders"]),
        ("mei", Role::Approver, &["onboarding", "onboarding-leads"]),
    ];
    for (name, role, groups) in team {
        let cmd = Command::AddOperator {
            name: name.to_string(),
            role,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        // A login name the directory cannot hold leaves the console user unregistered.
        if let Err(e) = handle.command(&Who::root(load::ACTOR), None, cmd).await {
            tracing::debug!("demo: {name} not registered: {e}");
        }
    }
}

/// The SLA of each staged workflow, by name.
type Slas = BTreeMap<String, Option<Duration>>;

/// Check every workflow file, then write demo-scale copies of the demo's workflows
/// ([`scale`]) into the data dir, so that the engine loads those and nothing else.
/// Problems are reported at the original files.
fn stage_workflows(dir: &Path, data_dir: &Path) -> Result<(PathBuf, Slas), DemoError> {
    let (loaded, diags) = definition::load_dir(dir);
    if !diags.is_empty() {
        let problems: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        return Err(DemoError::Workflows {
            dir: dir.to_path_buf(),
            problems: problems.join("\n"),
        });
    }
    for name in DEMO_WORKFLOWS {
        if !loaded.iter().any(|(wf, _)| wf.name == name) {
            return Err(DemoError::MissingWorkflow {
                name,
                dir: dir.to_path_buf(),
            });
        }
    }
    let staged = data_dir.join(STAGED_WORKFLOWS);
    let stage_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Stage { path, source }
    };
    // The data dir holds the API token: keep it private, as the store would.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&staged)
        .map_err(stage_err(&staged))?;
    clear_yaml(&staged).map_err(stage_err(&staged))?;
    let mut slas = Slas::new();
    for (wf, source) in loaded
        .iter()
        .filter(|(wf, _)| DEMO_WORKFLOWS.contains(&wf.name.as_str()))
    {
        let path = staged.join(format!("{}-v{}.yaml", wf.name, wf.version));
        let scaled =
            scale::scale_source(source, scale::SCALE).map_err(|source| DemoError::Scale {
                path: dir.join(format!("{}.yaml", wf.name)),
                source,
            })?;
        let parsed = definition::parse_str(&path.to_string_lossy(), &scaled).map_err(|d| {
            let problems: Vec<String> = d.iter().map(|d| d.to_string()).collect();
            DemoError::Workflows {
                dir: staged.clone(),
                problems: problems.join("\n"),
            }
        })?;
        slas.insert(wf.name.clone(), parsed.sla.map(|s| s.due));
        std::fs::write(&path, scaled).map_err(stage_err(&path))?;
    }
    Ok((staged, slas))
}

/// Remove earlier copies, so a workflow deleted from the source dir is not loaded.
fn clear_yaml(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|x| x == "yaml") {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// On a data dir with items in flight (a restarted demo), the incidents still waiting to
/// be resolved; `None` on a fresh one.
async fn in_flight_incidents(engine: &EngineHandle) -> Option<Vec<ItemId>> {
    let active = ItemFilter {
        active: true,
        ..ItemFilter::default()
    };
    let items = engine.items(active).await.ok()?;
    if items.is_empty() {
        return None;
    }
    let mut waiting = Vec::new();
    let incidents = items
        .iter()
        .filter(|i| i.workflow == Kind::Incident.workflow())
        .take(MAX_RECOVERED);
    for summary in incidents {
        let Ok(Some(detail)) = engine.item(summary.id).await else {
            continue;
        };
        let unresolved = detail.steps.iter().any(|s| {
            s.id == "resolved" && !matches!(s.status, StepStatus::Succeeded | StepStatus::Skipped)
        });
        if unresolved {
            waiting.push(summary.id);
        }
    }
    Some(waiting)
}

/// Start the seeded past ([`past::plan`]). Invoices and incidents go first against an
/// instant estate so that the invoices already wait on humans when the console draws
/// its first frame; onboardings go after, at the estate's real pace, so some are
/// visibly running.
async fn seed(
    engine: &EngineHandle,
    estate: &Estate,
    control: &LoadControl,
    generator: &mut Generator,
    past: &[past::Seeded],
    sla: &dyn Fn(Kind) -> Option<Duration>,
) -> Vec<ItemId> {
    let options = estate.options();
    estate.set_options(EstateOptions {
        hang: options.hang,
        ..EstateOptions::instant()
    });
    let now = chrono::Utc::now();
    let mut incidents = Vec::new();
    let mut invoices = 0;
    for s in past.iter().filter(|s| s.kind != Kind::Onboarding) {
        let since = past::since(now, s.used, sla(s.kind));
        if s.stuck {
            seed_stuck(engine, control, since).await;
            continue;
        }
        let item = generator.item(s.kind).since(since);
        if let Some(id) = seed_one(engine, estate, control, item).await {
            match s.kind {
                Kind::Incident => incidents.push(id),
                _ => invoices += 1,
            }
        }
    }
    wait_for_tasks(engine, invoices).await;
    estate.set_options(options);
    for s in past.iter().filter(|s| s.kind == Kind::Onboarding) {
        let since = past::since(now, s.used, sla(s.kind));
        let item = generator.item(s.kind).since(since);
        seed_one(engine, estate, control, item).await;
    }
    incidents
}

/// The legacy-billing alert: its paging is refused, so an operator has to deal with it.
async fn seed_stuck(
    engine: &EngineHandle,
    control: &LoadControl,
    since: Option<chrono::DateTime<chrono::Utc>>,
) {
    let mut stuck = load::start(
        Kind::Incident,
        serde_json::json!({ "service": "legacy-billing", "alert": "error rate above 5%", "severity": "sev2" }),
        2,
    );
    if let crate::types::command::Command::Start { since: s, .. } = &mut stuck {
        *s = since;
    }
    match engine
        .command(
            &Who::root(load::ACTOR),
            Some("simulated alert".into()),
            stuck,
        )
        .await
    {
        Ok(_) => control.count_started(),
        Err(e) => tracing::warn!("demo: cannot seed the legacy-billing incident: {e}"),
    }
}

async fn seed_one(
    engine: &EngineHandle,
    estate: &Estate,
    control: &LoadControl,
    item: load::NewItem,
) -> Option<ItemId> {
    let kind = item.kind;
    match load::start_item(engine, &estate.documents(), item).await {
        Ok(item) => {
            control.count_started();
            Some(item)
        }
        Err(e) => {
            tracing::warn!("demo: cannot seed a {} item: {e}", kind.workflow());
            None
        }
    }
}

/// Wait (briefly) until `n` tasks are open.
async fn wait_for_tasks(engine: &EngineHandle, n: usize) {
    let deadline = tokio::time::Instant::now() + SEED_WAIT;
    while tokio::time::Instant::now() < deadline {
        match engine.tasks(TaskFilter::default()).await {
            Ok(tasks) if tasks.len() >= n => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(_) => return,
        }
    }
}
