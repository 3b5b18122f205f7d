//! Deploying workflow versions: a set of parsed files becomes known together, as the
//! operator who deployed them (the engine itself for the `--workflows` dir at start), or
//! none of it does. Items already running keep the version they started on.

use super::{Core, Ctx};
use crate::definition::{Named, top_key_position};
use crate::types::command::CommandError;
use crate::types::deploy::{DeployStatus, Deployed, Deployment};
use crate::types::identity::{Role, Who};

impl Core {
    /// Load the workflow version of every file as `who`, or none: a version already
    /// loaded (or given twice) with different content refuses the whole deploy, naming
    /// every such file at its `version:`; one loaded with the same content is
    /// `Unchanged` and writes nothing.
    pub fn deploy(
        &mut self,
        ctx: &mut Ctx,
        who: &Who,
        reason: Option<String>,
        files: &[Named],
    ) -> Result<Deployment, CommandError> {
        let a = self.authority(who)?;
        if a.role < Role::Operator {
            return Err(CommandError::Forbidden(format!(
                "you are {} ({}); to deploy workflows you must be operator or above",
                who.name, a.role
            )));
        }
        let conflicts: Vec<String> = files
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.conflict(n, &files[..i]))
            .collect();
        if !conflicts.is_empty() {
            return Err(CommandError::Conflict(conflicts.join("\n")));
        }
        ctx.as_actor(who, reason);
        let before = ctx.records.len();
        let mut workflows = Vec::with_capacity(files.len());
        for n in files {
            // Every refusal was looked for above: not new means the same content.
            let status = match self.load_workflow(ctx, &n.workflow, &n.source) {
                Ok(true) => DeployStatus::Deployed,
                _ => DeployStatus::Unchanged,
            };
            workflows.push(Deployed {
                file: n.file.clone(),
                name: n.workflow.name.clone(),
                version: n.workflow.version,
                status,
            });
        }
        ctx.as_engine();
        let seq = ctx
            .records
            .get(before..)
            .and_then(|r| r.last())
            .map_or(self.state.seq, |r| r.seq);
        Ok(Deployment { workflows, seq })
    }

    /// Why `n` cannot be loaded beside what is loaded and the files before it: the same
    /// name and version with other content.
    fn conflict(&self, n: &Named, before: &[Named]) -> Option<String> {
        let (name, version) = (&n.workflow.name, n.workflow.version);
        let loaded = self
            .state
            .workflows
            .get(name)
            .and_then(|v| v.get(&version))
            .map(|(_, source)| source.as_ref());
        let earlier = before
            .iter()
            .find(|b| &b.workflow.name == name && b.workflow.version == version);
        let (line, col) = top_key_position(&n.source, "version");
        let at = format!("{}:{line}:{col}", n.file);
        match (loaded, earlier) {
            (Some(source), _) if source != n.source => Some(format!(
                "{at}: workflow {name} version {version} is already loaded with different \
                 content; raise `version:` to deploy a change (running items keep the version \
                 they started on)"
            )),
            (_, Some(b)) if b.source != n.source => Some(format!(
                "{at}: workflow {name} version {version} is also in {} with different content",
                b.file
            )),
            _ => None,
        }
    }
}
