//! `tempi operator add|list|revoke|groups|role|token`: the directory of who may act.
//! Every change is a journal record made by an admin; `add` and `token` print the new
//! token alone on the last line of stdout, shown this once.

use clap::Subcommand;

use super::Globals;
use super::Print;
use super::daemon::Daemon;
use super::format::table;
use crate::text::printable;
use crate::types::Command;
use crate::types::identity::{Listing, Role};

#[derive(Debug, Clone, Subcommand)]
pub enum OperatorCmd {
    /// Register an operator; their token is printed on the last line, shown once
    Add {
        /// Their name: their login name, for the local socket (letters, digits, . _ -)
        name: String,
        /// viewer (reads), approver (decides their tasks), operator (and acts on items,
        /// deploys), admin (and manages operators, decides any task)
        #[arg(long, default_value = "approver", value_parser = Role::parse)]
        role: Role,
        /// The groups whose tasks they may decide
        #[arg(long, value_name = "G1,G2", value_delimiter = ',')]
        groups: Vec<String>,
        #[command(flatten)]
        print: Print,
    },
    /// Everyone who may act, with their role, groups and open tasks; the daemon's own
    /// token and user first
    List {
        #[command(flatten)]
        print: Print,
    },
    /// Revoke an operator: their token stops working at once; their name stays in the
    /// audit trail
    Revoke {
        /// The operator to revoke
        name: String,
        #[command(flatten)]
        print: Print,
    },
    /// Replace an operator's groups (an empty list leaves them in none)
    Groups {
        /// The operator whose groups these are
        name: String,
        /// The groups, comma-separated ("" for none)
        #[arg(value_name = "G1,G2", value_delimiter = ',')]
        groups: Vec<String>,
        #[command(flatten)]
        print: Print,
    },
    /// Change an operator's role
    Role {
        /// The operator whose role changes
        name: String,
        /// viewer, approver, operator or admin
        #[arg(value_parser = Role::parse)]
        role: Role,
        #[command(flatten)]
        print: Print,
    },
    /// Issue a new token for an operator (the old one stops working); printed on the
    /// last line, shown once
    Token {
        /// The operator who gets a new token
        name: String,
        #[command(flatten)]
        print: Print,
    },
}

pub async fn run(g: &Globals, cmd: OperatorCmd) -> anyhow::Result<()> {
    let daemon = Daemon::connect(g)?;
    let (command, print) = match cmd {
        OperatorCmd::List { print } => return list(&daemon, print.json).await,
        OperatorCmd::Add {
            name,
            role,
            groups,
            print,
        } => (
            Command::AddOperator {
                name,
                role,
                groups: nonempty(groups),
            },
            print,
        ),
        OperatorCmd::Revoke { name, print } => (Command::RevokeOperator { name }, print),
        OperatorCmd::Groups {
            name,
            groups,
            print,
        } => (
            Command::SetGroups {
                name,
                groups: nonempty(groups),
            },
            print,
        ),
        OperatorCmd::Role { name, role, print } => (Command::SetRole { name, role }, print),
        OperatorCmd::Token { name, print } => (Command::IssueToken { name }, print),
    };
    let reply = daemon
        .client
        .command(&command, None)
        .await
        .map_err(|e| daemon.explain(e))?;
    if print.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
        return Ok(());
    }
    println!("{}", printable(&reply.message));
    if let Some(token) = &reply.token {
        eprintln!("tempi: the token is shown once; give it to them (TEMPI_TOKEN) and keep no copy");
        println!("{token}");
    }
    Ok(())
}

/// `--groups ""` (or `groups NAME ""`) means none.
fn nonempty(groups: Vec<String>) -> Vec<String> {
    groups
        .into_iter()
        .filter(|g| !g.trim().is_empty())
        .collect()
}

async fn list(daemon: &Daemon, json: bool) -> anyhow::Result<()> {
    let listing = daemon
        .client
        .operators()
        .await
        .map_err(|e| daemon.explain(e))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
    } else {
        print!("{}", text(&listing));
    }
    Ok(())
}

fn text(l: &Listing) -> String {
    let rows: Vec<Vec<String>> = l
        .operators
        .iter()
        .map(|o| {
            let status = match (o.bootstrap, o.revoked) {
                (true, _) => "bootstrap: the daemon's own token and user".to_string(),
                (false, Some(at)) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
                (false, None) => match o.added {
                    Some(at) => format!("added {}", at.format("%Y-%m-%d %H:%M")),
                    None => String::new(),
                },
            };
            vec![
                o.name.clone(),
                o.role.to_string(),
                o.groups.join(","),
                o.open_tasks.to_string(),
                status,
            ]
        })
        .collect();
    let mut out = table(&["NAME", "ROLE", "GROUPS", "OPEN", "STATUS"], &rows);
    if !l.groups.is_empty() {
        let groups: Vec<Vec<String>> = l
            .groups
            .iter()
            .map(|(g, n)| vec![g.clone(), n.to_string()])
            .collect();
        out.push('\n');
        out.push_str(&table(&["GROUP", "OPEN"], &groups));
    }
    out
}
