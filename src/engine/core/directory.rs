//! Managing operators: register, revoke, regroup, change a role, issue a new token.
//! Each is a journal record, so the directory replays and every change is audited.

use super::{Core, Ctx};
use crate::types::command::{Command, CommandError};
use crate::types::event::Event;
use crate::types::identity::{MAX_OPERATORS, Operator, Who, check_groups, check_name};

type Outcome = Result<(Option<u64>, Option<u64>, String), CommandError>;

impl Core {
    pub(super) fn cmd_directory(&mut self, ctx: &mut Ctx, who: &Who, cmd: &Command) -> Outcome {
        let said = match cmd {
            Command::AddOperator { name, role, groups } => {
                check_name(name, "operator name").map_err(CommandError::Invalid)?;
                let groups = check_groups(groups).map_err(CommandError::Invalid)?;
                if self.state.directory.active(name).is_some() {
                    return Err(CommandError::Conflict(format!(
                        "operator {name} is already registered; `tempi operator token {name}` \
                         gives them a new token"
                    )));
                }
                if self.state.directory.get(name).is_none()
                    && self.state.directory.len() >= MAX_OPERATORS
                {
                    return Err(CommandError::Invalid(format!(
                        "the directory holds {MAX_OPERATORS} operators, the most it may"
                    )));
                }
                let token = fresh(ctx)?;
                let text = match groups.is_empty() {
                    true => format!("operator {name} added ({role})"),
                    false => format!("operator {name} added ({role}; {})", groups.join(", ")),
                };
                self.emit(
                    ctx,
                    Event::OperatorAdded {
                        name: name.clone(),
                        role: *role,
                        groups,
                        token,
                    },
                );
                text
            }
            Command::RevokeOperator { name } => {
                self.active_operator(name)?;
                self.emit(ctx, Event::OperatorRevoked { name: name.clone() });
                match who.is(name) {
                    true => {
                        format!("operator {name} revoked (that is you: your token no longer works)")
                    }
                    false => format!("operator {name} revoked"),
                }
            }
            Command::SetGroups { name, groups } => {
                self.active_operator(name)?;
                let groups = check_groups(groups).map_err(CommandError::Invalid)?;
                let text = match groups.is_empty() {
                    true => format!("operator {name} is in no group"),
                    false => format!("operator {name} is in {}", groups.join(", ")),
                };
                self.emit(
                    ctx,
                    Event::OperatorGroupsSet {
                        name: name.clone(),
                        groups,
                    },
                );
                text
            }
            Command::SetRole { name, role } => {
                self.active_operator(name)?;
                self.emit(
                    ctx,
                    Event::OperatorRoleSet {
                        name: name.clone(),
                        role: *role,
                    },
                );
                format!("operator {name} is now {role}")
            }
            Command::IssueToken { name } => {
                self.active_operator(name)?;
                let token = fresh(ctx)?;
                self.emit(
                    ctx,
                    Event::OperatorTokenIssued {
                        name: name.clone(),
                        token,
                    },
                );
                format!("operator {name} has a new token; the old one no longer works")
            }
            _ => return Err(CommandError::Internal("not a directory command".into())),
        };
        Ok((None, None, said))
    }

    fn active_operator(&self, name: &str) -> Result<&Operator, CommandError> {
        match self.state.directory.get(name) {
            Some(op) if op.active() => Ok(op),
            Some(_) => Err(CommandError::Conflict(format!(
                "operator {name} was revoked; `tempi operator add {name}` registers them again"
            ))),
            None => Err(CommandError::NotFound(format!(
                "no operator {name} is registered (tempi operator list)"
            ))),
        }
    }
}

/// The hash of the token the runtime drew for this command.
fn fresh(ctx: &mut Ctx) -> Result<String, CommandError> {
    ctx.token
        .take()
        .filter(|h| crate::types::identity::is_token_hash(h))
        .ok_or_else(|| CommandError::Internal("no token was drawn for this command".into()))
}
