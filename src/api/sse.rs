//! A minimal server-sent-events parser for the client: bytes in, `(id, data)` messages
//! out, tolerant of chunks that split lines anywhere.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `event:` field: absent for plain messages.
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

/// Accumulates bytes and yields complete messages.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Feed a chunk; returns the messages it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Message> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(msg) = self.line(&String::from_utf8_lossy(&line)) {
                out.push(msg);
            }
        }
        out
    }

    fn line(&mut self, line: &str) -> Option<Message> {
        if line.is_empty() {
            let event = self.event.take();
            let data = self.data.take()?;
            return Some(Message {
                event,
                id: self.id.take(),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_string()),
            "id" => self.id = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_split_chunks_comments_and_multiline_data() {
        let mut p = Parser::default();
        assert!(p.push(b": keep-alive\n\nid: 4\r\nda").is_empty());
        let got = p.push(b"ta: {\"a\":1}\n\nevent: changes\nid:5\ndata: x\ndata: y\n\n");
        assert_eq!(
            got,
            vec![
                Message {
                    event: None,
                    id: Some("4".into()),
                    data: "{\"a\":1}".into()
                },
                Message {
                    event: Some("changes".into()),
                    id: Some("5".into()),
                    data: "x\ny".into()
                },
            ]
        );
    }

    #[test]
    fn an_unfinished_message_is_held_back() {
        let mut p = Parser::default();
        assert!(p.push(b"id: 1\ndata: {}\n").is_empty());
        assert_eq!(p.push(b"\n").len(), 1);
    }
}
