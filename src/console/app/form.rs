//! The decision form: a task's typed fields (or an agent proposal's, prefilled with its
//! values) and a comment, edited in place and checked as the engine will check them.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Map, Value};

use super::input::{Edit, Input};
use super::{App, Effect, Mode, ToastKind, actions};
use crate::types::TaskId;
use crate::types::event::TaskKind;
use crate::types::form::{FieldType, FormField, check};
use crate::types::view::TaskView;

/// A form being filled in for one decision of one task.
#[derive(Debug, Clone)]
pub struct FormDialog {
    pub task: TaskId,
    pub decision: String,
    /// The agent's confidence, for a review of its proposal.
    pub confidence: Option<f64>,
    pub fields: Vec<FormField>,
    /// One per field, then the comment.
    pub inputs: Vec<Input>,
    pub focus: usize,
    /// Why the last Enter was refused (here or by the engine's rules).
    pub error: Option<String>,
}

impl FormDialog {
    pub fn new(task: &TaskView, decision: &str) -> FormDialog {
        let inputs = task
            .form
            .iter()
            .map(|f| Input::with(&default_text(f)))
            .chain([Input::default()])
            .collect();
        FormDialog {
            task: task.id,
            decision: decision.to_string(),
            confidence: match &task.kind {
                TaskKind::AgentReview { confidence, .. } => Some(*confidence),
                TaskKind::Approval => None,
            },
            fields: task.form.clone(),
            inputs,
            focus: 0,
            error: None,
        }
    }

    /// The comment line (after the fields).
    pub fn comment(&self) -> &Input {
        &self.inputs[self.fields.len()]
    }

    /// The values to send: for a review only what the reviewer changed (the proposal
    /// holds the rest), for a form every field filled in; empty ones take defaults.
    fn values(&self) -> Map<String, Value> {
        let review = self.confidence.is_some();
        self.fields
            .iter()
            .zip(&self.inputs)
            .filter(|(f, i)| {
                let text = i.text.trim();
                let unchanged = review && text == default_text(f).trim();
                !text.is_empty() && !unchanged
            })
            .map(|(f, i)| (f.name.clone(), Value::String(i.text.trim().to_string())))
            .collect()
    }

    fn step_focus(&mut self, by: isize) {
        let n = self.inputs.len() as isize;
        self.focus = ((self.focus as isize + by).rem_euclid(n)) as usize;
    }

    /// Left/Right/Space cycle the values of a boolean or enum field.
    fn cycle(&mut self, by: isize) -> bool {
        let Some(f) = self.fields.get(self.focus) else {
            return false;
        };
        let choices: Vec<String> = match f.kind {
            FieldType::Boolean => vec!["true".into(), "false".into()],
            FieldType::Enum => f.options.clone(),
            _ => return false,
        };
        let input = &mut self.inputs[self.focus];
        let at = choices.iter().position(|c| *c == input.text.trim());
        let n = choices.len() as isize;
        let next = match at {
            Some(i) => (i as isize + by).rem_euclid(n) as usize,
            None if by < 0 => choices.len() - 1,
            None => 0,
        };
        *input = Input::with(&choices[next]);
        true
    }
}

/// What a field's input starts with: its default (or the agent's value) as text.
fn default_text(f: &FormField) -> String {
    match &f.default {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

impl App {
    /// Open the form of `task` for `decision`.
    pub(super) fn open_form(&mut self, task: &TaskView, decision: &str) -> Vec<Effect> {
        self.mode = Mode::Form(Box::new(FormDialog::new(task, decision)));
        vec![]
    }

    pub(super) fn form_key(&mut self, mut d: Box<FormDialog>, key: KeyEvent) -> Vec<Effect> {
        let on_choice = d
            .fields
            .get(d.focus)
            .is_some_and(|f| matches!(f.kind, FieldType::Boolean | FieldType::Enum));
        match key.code {
            KeyCode::Tab | KeyCode::Down => d.step_focus(1),
            KeyCode::BackTab | KeyCode::Up => d.step_focus(-1),
            KeyCode::Left | KeyCode::Right | KeyCode::Char(' ') if on_choice => {
                d.cycle(if key.code == KeyCode::Left { -1 } else { 1 });
            }
            KeyCode::Esc => {
                self.toast(ToastKind::Ok, "nothing changed");
                return vec![];
            }
            KeyCode::Enter => return self.submit_form(d),
            KeyCode::Char(_) if on_choice && !key.modifiers.contains(KeyModifiers::CONTROL) => {}
            _ => {
                let focus = d.focus;
                if d.inputs[focus].key(&key) == Edit::Changed {
                    d.error = None;
                }
            }
        }
        self.mode = Mode::Form(d);
        vec![]
    }

    fn submit_form(&mut self, mut d: Box<FormDialog>) -> Vec<Effect> {
        let values = d.values();
        // The engine's own check, so a mistake is shown here before anything is sent.
        if let Err(e) = check(&d.fields, &values) {
            d.error = Some(e);
            self.mode = Mode::Form(d);
            return vec![];
        }
        let comment = Some(d.comment().text.trim().to_string()).filter(|c| !c.is_empty());
        let fields = (!d.fields.is_empty()).then_some(values);
        self.clear_marks();
        vec![Effect::Act(actions::decide_with(
            d.task,
            &d.decision,
            comment,
            fields,
        ))]
    }
}
